"""Reviewer inbox: completions matching a task's selector that still need feedback.

Each (task, completion) pair gets ``reviews_per_item`` slots when the completion is logged or
the task is created. ``claim_next`` is a compare-and-set on one slot, so no two reviewers ever
hold the same slot; a lease that runs out returns the slot to the queue. A reviewer never gets
two slots of the same completion (independent reviews), nor one they skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plaudit.core import inbox_sql
from plaudit.core.sql import chunked, insert_ignore
from plaudit.core.tags import selector_tag_ids, tagged_with_all
from plaudit.db.base import utcnow
from plaudit.db.models import Completion, FeedbackTask, InboxSkip, InboxSlot
from plaudit.errors import Conflict, NotFound

# Built once, plain columns: every batch of new completions runs it.
_SELECTING_TASKS = select(
    FeedbackTask.id, FeedbackTask.completion_tags_selector, FeedbackTask.reviews_per_item
).where(FeedbackTask.org_id == bindparam("org_id"), FeedbackTask.archived_at.is_(None))


def _active_tasks(session: Session, org_id: str) -> list[Any]:
    """The org's active tasks that select by tags: rows of id, selector, reviews_per_item."""
    rows = session.execute(_SELECTING_TASKS, {"org_id": org_id})
    return [row for row in rows if row.completion_tags_selector]


def match_completions(
    session: Session, org_id: str, tags_by_id: Mapping[str, list[str]], *, new: bool = False
) -> None:
    """Open inbox slots for (re)tagged completions that now match a task's selector; and,
    unless they are ``new`` (no slots yet), drop the open slots of tasks they no longer match."""
    tasks = _active_tasks(session, org_id)
    if not tasks:
        return
    now = utcnow()
    rows: list[dict[str, object]] = []
    unmatched: dict[str, list[str]] = defaultdict(list)
    for completion_id, tags in tags_by_id.items():
        tag_set = set(tags)
        for task in tasks:
            if tag_set.issuperset(task.completion_tags_selector):
                rows.extend(
                    {"task_id": task.id, "completion_id": completion_id, "slot": slot,
                     "org_id": org_id, "seq": now, "state": "open"}
                    for slot in range(task.reviews_per_item)
                )  # fmt: skip
            elif not new:
                unmatched[task.id].append(completion_id)
    insert_ignore(session, InboxSlot, rows)
    for task_id, completion_ids in unmatched.items():  # re-tagged away: drop its open slots
        for chunk in chunked(completion_ids, 5000):
            session.execute(
                delete(InboxSlot).where(
                    InboxSlot.task_id == task_id,
                    InboxSlot.completion_id.in_(chunk),
                    InboxSlot.state == "open",
                )
            )


ANALYZE_AFTER_ROWS = 10_000


def backfill_task(session: Session, task: FeedbackTask) -> None:
    """Re-derive ``task``'s open slots from its selector (one INSERT … SELECT per slot).

    An archived task keeps only its done slots: nothing is left to claim.
    """
    pending = InboxSlot.state != "done"
    if task.archived_at is not None:
        session.execute(delete(InboxSlot).where(InboxSlot.task_id == task.id, pending))
        return
    session.execute(
        delete(InboxSlot).where(
            InboxSlot.task_id == task.id,
            or_(InboxSlot.state == "open", and_(pending, InboxSlot.slot >= task.reviews_per_item)),
        )
    )
    if not task.completion_tags_selector:
        return
    tag_ids = selector_tag_ids(session, task.org_id, task.completion_tags_selector)
    if tag_ids is None:
        return
    matching = tagged_with_all(tag_ids).subquery()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = 0
    for slot in range(task.reviews_per_item):
        source = (
            select(
                literal(task.id), Completion.id, literal(slot), literal(task.org_id),
                Completion.created_at, literal("open"),
            )
            .join(matching, matching.c.completion_id == Completion.id)
            .where(Completion.org_id == task.org_id)
        )  # fmt: skip
        result = session.execute(
            insert(InboxSlot)
            .from_select(["task_id", "completion_id", "slot", "org_id", "seq", "state"], source)
            .on_conflict_do_nothing()
            # SQLAlchemy reports an INSERT's row count only when asked to keep it (else -1).
            .execution_options(preserve_rowcount=True)
        )
        inserted += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    if dialect == "postgresql" and inserted >= ANALYZE_AFTER_ROWS:
        # A big backfill changes the table faster than autovacuum notices; without fresh
        # statistics the planner scans inbox_slots for every claim.
        session.execute(text("ANALYZE inbox_slots"))


@dataclass(frozen=True)
class Claim:
    task_id: str
    completion_id: str
    slot: int
    lease_expires_at: datetime


def _claimable(now: datetime) -> Any:
    """Open, or claimed under a lease that has run out."""
    return or_(
        InboxSlot.state == "open",
        and_(InboxSlot.state == "claimed", InboxSlot.lease_expires_at <= now),
    )


def claim_next(
    session: Session, task: FeedbackTask, reviewer_id: str, lease_seconds: int
) -> Claim | None:
    """Give ``reviewer_id`` one item under a lease: their current claim, else the oldest open."""
    if task.archived_at is not None:
        raise Conflict(f"feedback task '{task.id}' is archived", path="task_id")
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    who = {"b_task": task.id, "b_reviewer": reviewer_id, "b_now": now}
    lock = session.get_bind().dialect.name == "postgresql"
    independent = task.reviews_per_item > 1
    writes = {**who, "b_new_expires": expires, "b_new_reviewer": reviewer_id}
    taken = session.execute(inbox_sql.take(independent, lock), writes).first()
    if taken is not None:  # the usual case: held, lapsed or oldest, claimed in one round trip
        return Claim(task.id, taken[0], taken[1], expires)
    held = session.execute(inbox_sql.HELD, who).first()
    if held is not None:  # idempotent: a reload gets the same item, with a renewed lease
        session.execute(inbox_sql.RENEW, {
            "b_task": task.id, "b_completion": held[0], "b_slot": held[1],
            "b_new_expires": expires, "b_new_reviewer": reviewer_id,
        })  # fmt: skip
        return Claim(task.id, held[0], held[1], expires)
    # Nothing to take, or the pick lost a race: step by step, retrying a lost compare-and-set.
    queries = inbox_sql.candidates(independent, lock)
    for _attempt in range(8):
        candidate = None
        for query in queries:
            candidate = session.execute(query, who).first()
            if candidate is not None:
                break
        if candidate is None:
            return None
        completion_id, slot = candidate
        claimed = session.execute(inbox_sql.CLAIM, {
            **who, "b_completion": completion_id, "b_slot": slot,
            "b_new_expires": expires, "b_new_reviewer": reviewer_id,
        })  # fmt: skip
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return Claim(task.id, completion_id, slot, expires)
    return None


def release_claim(session: Session, task_id: str, completion_id: str, reviewer_id: str) -> None:
    """Skip: give the item back; the skipping reviewer is not offered it again."""
    result = session.execute(
        update(InboxSlot)
        .where(
            InboxSlot.task_id == task_id,
            InboxSlot.completion_id == completion_id,
            InboxSlot.reviewer_id == reviewer_id,
            InboxSlot.state == "claimed",
        )
        .values(state="open", reviewer_id=None, lease_expires_at=None)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(
            f"you hold no claim on completion '{completion_id}' in this task", path="completion_id"
        )
    insert_ignore(
        session,
        InboxSkip,
        [{"task_id": task_id, "completion_id": completion_id, "reviewer_id": reviewer_id,
          "created_at": utcnow()}],
    )  # fmt: skip


def require_claim(session: Session, task_id: str, completion_id: str, reviewer_id: str) -> None:
    """Raise unless ``reviewer_id`` holds a claim on the item (a lapsed one still counts while
    nobody else has taken it)."""
    states = session.execute(
        select(InboxSlot.state, InboxSlot.reviewer_id).where(
            InboxSlot.task_id == task_id, InboxSlot.completion_id == completion_id
        )
    ).all()
    if not states:
        raise NotFound(
            f"completion '{completion_id}' is not in this task's inbox", path="completion_id"
        )
    if ("claimed", reviewer_id) in states:
        return
    if ("done", reviewer_id) in states:
        raise Conflict(f"you already reviewed completion '{completion_id}'", path="completion_id")
    raise Conflict(
        f"you hold no claim on completion '{completion_id}' (its lease may have run out and "
        "passed to someone else); claim it with next first",
        path="completion_id",
    )


def mark_reviewed(
    session: Session, task_id: str, completion_ids: list[str], reviewer_id: str, feedback_id: str
) -> list[str]:
    """Close one slot per completion (the reviewer's claim, else an open or lapsed one) and
    return the completions whose slot was closed. A reviewer closes at most one slot per item."""
    closed: list[str] = []
    by_completion: dict[str, list[Any]] = defaultdict(list)
    for chunk in chunked(completion_ids, 5000):  # one read for all, then one CAS per slot
        rows = session.execute(inbox_sql.SLOTS_OF, {"b_task": task_id, "b_completions": chunk})
        for row in rows:
            by_completion[row.completion_id].append(row)
    if not by_completion:  # none of them is in this task's inbox
        return closed
    who = {"b_task": task_id, "b_reviewer": reviewer_id, "b_now": utcnow(),
           "b_new_reviewer": reviewer_id, "b_feedback": feedback_id}  # fmt: skip
    for completion_id in completion_ids:
        slots = by_completion.get(completion_id, [])
        if any(s.state == "done" and s.reviewer_id == reviewer_id for s in slots):
            continue
        mine = [s for s in slots if s.state == "claimed" and s.reviewer_id == reviewer_id]
        others = sorted(
            (s for s in slots if s.state != "done" and s not in mine),
            key=lambda s: (s.state != "open", s.slot),
        )
        for candidate in mine + others:
            statement = inbox_sql.CLOSE_MINE if candidate in mine else inbox_sql.CLOSE_CLAIMABLE
            result = session.execute(
                statement, {**who, "b_completion": completion_id, "b_slot": candidate.slot}
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                closed.append(completion_id)
                break
    return closed


def reopen_for_feedback(session: Session, task: FeedbackTask, feedback_id: str) -> None:
    """Deleted feedback no longer counts: its slots need a review again (active tasks only)."""
    if task.archived_at is not None:
        return
    session.execute(
        update(InboxSlot)
        .where(InboxSlot.task_id == task.id, InboxSlot.feedback_id == feedback_id)
        .values(state="open", reviewer_id=None, feedback_id=None, lease_expires_at=None)
    )


def inbox_counts(session: Session, task_id: str) -> dict[str, int]:
    now = utcnow()
    rows = session.execute(
        select(InboxSlot.state, func.count())
        .where(InboxSlot.task_id == task_id)
        .group_by(InboxSlot.state)
    ).all()
    counts = {"open": 0, "claimed": 0, "done": 0}
    counts.update({state: int(n) for state, n in rows})
    expired = (
        session.scalar(
            select(func.count()).where(
                InboxSlot.task_id == task_id,
                InboxSlot.state == "claimed",
                InboxSlot.lease_expires_at <= now,
            )
        )
        or 0
    )
    counts["open"] += expired
    counts["claimed"] -= expired
    return counts


def open_items(session: Session, task_id: str, *, offset: int, limit: int) -> list[str]:
    """Completion ids with a slot anyone may claim now (open, or under a lapsed lease)."""
    rows = session.scalars(
        select(InboxSlot.completion_id)
        .where(InboxSlot.task_id == task_id, _claimable(utcnow()))
        .distinct()
        .order_by(InboxSlot.completion_id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows)
