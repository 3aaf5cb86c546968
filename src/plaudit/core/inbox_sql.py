"""The statements behind inbox ``next``, built once with bind parameters.

``claim_next`` runs three or four tiny statements per call; building and cache-keying fresh ORM
statements each time cost several times more than the database took to run them. These are
plain Core statements on the ``inbox_slots`` table (no ORM session synchronisation either:
nothing holds InboxSlot objects across a claim).

Bind names (``b_``: UPDATE reserves column names): ``b_task``, ``b_reviewer``, ``b_now`` and,
for writes, ``b_completion``, ``b_slot``, ``b_new_reviewer``, ``b_new_expires``,
``b_feedback``; ``b_completions`` is an expanding list.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    exists,
    literal_column,
    not_,
    or_,
    select,
    tuple_,
    update,
)

from plaudit.db.base import UTCDateTime
from plaudit.db.models import InboxSkip, InboxSlot

_SLOTS = cast(Table, InboxSlot.__table__)
_SKIPS = cast(Table, InboxSkip.__table__)
_NOW = bindparam("b_now", type_=UTCDateTime())
# The states as SQL literals, not binds: the partial indexes are defined by ``state = 'open'`` /
# ``state = 'claimed'``, and a planner can only use one when the query says so in its text (a
# PostgreSQL generic plan for a prepared ``state = $2`` could not).
_OPEN = _SLOTS.c.state == literal_column("'open'")
_CLAIMED = _SLOTS.c.state == literal_column("'claimed'")
_ONE_SLOT = and_(
    _SLOTS.c.task_id == bindparam("b_task"),
    _SLOTS.c.completion_id == bindparam("b_completion"),
    _SLOTS.c.slot == bindparam("b_slot"),
)

HELD = (
    select(_SLOTS.c.completion_id, _SLOTS.c.slot)
    .where(
        _SLOTS.c.task_id == bindparam("b_task"),
        _CLAIMED,
        _SLOTS.c.reviewer_id == bindparam("b_reviewer"),
        _SLOTS.c.lease_expires_at > _NOW,
    )
    .limit(1)
)

RENEW = (
    update(_SLOTS)
    .where(_ONE_SLOT)
    .values(
        lease_expires_at=bindparam("b_new_expires", type_=UTCDateTime()),
        reviewer_id=bindparam("b_new_reviewer"),
    )
)

# Compare-and-set: only an open slot, or one whose lease ran out, can be taken.
CLAIM = (
    update(_SLOTS)
    .where(
        _ONE_SLOT,
        or_(_OPEN, and_(_CLAIMED, _SLOTS.c.lease_expires_at <= _NOW)),
    )
    .values(
        state="claimed",
        reviewer_id=bindparam("b_new_reviewer"),
        lease_expires_at=bindparam("b_new_expires", type_=UTCDateTime()),
    )
)

# mark_reviewed (feedback on matched completions, an inbox submit): one read of every matched
# completion's slots, then a compare-and-set per slot it closes.
SLOTS_OF = select(
    _SLOTS.c.completion_id, _SLOTS.c.slot, _SLOTS.c.state, _SLOTS.c.reviewer_id
).where(
    _SLOTS.c.task_id == bindparam("b_task"),
    _SLOTS.c.completion_id.in_(bindparam("b_completions", expanding=True)),
)
_CLOSE: dict[str, Any] = {
    "state": "done",
    "reviewer_id": bindparam("b_new_reviewer"),
    "feedback_id": bindparam("b_feedback"),
    "lease_expires_at": None,
}
# The reviewer's own claim (even one whose lease ran out while nobody took it).
CLOSE_MINE = (
    update(_SLOTS)
    .where(_ONE_SLOT, _CLAIMED, _SLOTS.c.reviewer_id == bindparam("b_reviewer"))
    .values(**_CLOSE)
)
# Someone else's slot: only while open or under a lapsed lease.
CLOSE_CLAIMABLE = (
    update(_SLOTS)
    .where(_ONE_SLOT, or_(_OPEN, and_(_CLAIMED, _SLOTS.c.lease_expires_at <= _NOW)))
    .values(**_CLOSE)
)


@lru_cache(maxsize=4)
def candidates(independent: bool, lock: bool) -> tuple[Any, Any]:
    """(a lapsed claim, the oldest open slot) the reviewer may take, as two LIMIT 1 queries.

    ``independent``: the task wants several reviews per item, so skip items the reviewer
    already holds or reviewed. ``lock``: PostgreSQL's ``FOR UPDATE SKIP LOCKED``, so concurrent
    reviewers step over each other's candidates instead of queueing.
    """
    reviewer: Any = bindparam("b_reviewer")
    skipped = exists().where(
        _SKIPS.c.task_id == _SLOTS.c.task_id,
        _SKIPS.c.completion_id == _SLOTS.c.completion_id,
        _SKIPS.c.reviewer_id == reviewer,
    )
    base = select(_SLOTS.c.completion_id, _SLOTS.c.slot).where(
        _SLOTS.c.task_id == bindparam("b_task"), not_(skipped)
    )
    if independent:
        mine = _SLOTS.alias("mine")
        base = base.where(
            not_(
                exists().where(
                    mine.c.task_id == _SLOTS.c.task_id,
                    mine.c.completion_id == _SLOTS.c.completion_id,
                    mine.c.reviewer_id == reviewer,
                    mine.c.state.in_(("claimed", "done")),
                )
            )
        )
    lapsed = base.where(_CLAIMED, _SLOTS.c.lease_expires_at <= _NOW)
    oldest = base.where(_OPEN).order_by(_SLOTS.c.seq, _SLOTS.c.completion_id)
    queries = []
    for query in (lapsed.limit(1), oldest.limit(1)):
        queries.append(query.with_for_update(skip_locked=True) if lock else query)
    return queries[0], queries[1]


@lru_cache(maxsize=4)
def take(independent: bool, lock: bool) -> Any:
    """``claim_next`` in one statement: the first of (the reviewer's live claim, a lapsed claim,
    the oldest open slot), set to claimed by the reviewer until ``b_new_expires``, ``RETURNING``
    its (completion_id, slot).

    One round trip instead of four (three reads and the compare-and-set). ``LIMIT 1`` over the
    ``UNION ALL`` stops at the first branch that yields a row, so later branches are neither
    read nor locked. The update keeps the compare-and-set guard; an empty result means
    "nothing to take, or lost a race", and the caller falls back to the step-by-step path.
    """
    held: Any = HELD.with_for_update(skip_locked=True) if lock else HELD
    lapsed, oldest = candidates(independent, lock)
    branches = [q.cte(name) for q, name in ((held, "held"), (lapsed, "lapsed"), (oldest, "oldest"))]
    first, *rest = (select(b.c.completion_id, b.c.slot) for b in branches)
    pick = first.union_all(*rest).limit(1).cte("pick")
    # ``(completion_id, slot) = (SELECT … FROM pick)``, not ``UPDATE … FROM pick``: the row
    # comparison is computed once and probes the primary key, where a join let PostgreSQL
    # (misjudging a new task's size) walk all of the task's slots and test each against pick.
    chosen: Any = select(pick.c.completion_id, pick.c.slot).scalar_subquery()
    return (
        update(_SLOTS)
        .where(
            _SLOTS.c.task_id == bindparam("b_task"),
            tuple_(_SLOTS.c.completion_id, _SLOTS.c.slot) == chosen,
            or_(
                _OPEN,
                and_(
                    _CLAIMED,
                    or_(
                        _SLOTS.c.lease_expires_at <= _NOW,
                        _SLOTS.c.reviewer_id == bindparam("b_reviewer"),
                    ),
                ),
            ),
        )
        .values(
            state="claimed",
            reviewer_id=bindparam("b_new_reviewer"),
            lease_expires_at=bindparam("b_new_expires", type_=UTCDateTime()),
        )
        .returning(_SLOTS.c.completion_id, _SLOTS.c.slot)
    )
