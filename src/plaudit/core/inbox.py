"""Reviewer inbox: completions matching a task's selector that still need feedback.

Each (task, completion) pair gets ``reviews_per_item`` slots when the completion is logged or
the task is created. ``claim_next`` is a compare-and-set on one slot, so no two reviewers ever
hold the same slot; a lease that runs out returns the slot to the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plaudit.core.sql import insert_ignore
from plaudit.core.tags import selector_tag_ids, tagged_with_all
from plaudit.db.base import utcnow
from plaudit.db.models import Completion, FeedbackTask, InboxSlot
from plaudit.errors import NotFound

if TYPE_CHECKING:
    from collections.abc import Mapping



def _active_tasks(session: Session, org_id: str) -> list[FeedbackTask]:
    return list(
        session.scalars(
            select(FeedbackTask).where(
                FeedbackTask.org_id == org_id, FeedbackTask.archived_at.is_(None)
            )
        )
    )


def match_completions(session: Session, org_id: str, tags_by_id: Mapping[str, list[str]]) -> None:
    """Open inbox slots for (re)tagged completions that now match a task's selector."""
    tasks = [t for t in _active_tasks(session, org_id) if t.completion_tags_selector]
    if not tasks:
        return
    now = utcnow()
    rows: list[dict[str, object]] = []
    unmatched: list[tuple[str, str]] = []
    for completion_id, tags in tags_by_id.items():
        tag_set = set(tags)
        for task in tasks:
            if tag_set.issuperset(task.completion_tags_selector):
                rows.extend(
                    {"task_id": task.id, "completion_id": completion_id, "slot": slot,
                     "org_id": org_id, "seq": now, "state": "open"}
                    for slot in range(task.reviews_per_item)
                )  # fmt: skip
            else:
                unmatched.append((task.id, completion_id))
    insert_ignore(session, InboxSlot, rows)
    for task_id, completion_id in unmatched:  # re-tagged away from a task: drop its open slots
        session.execute(
            delete(InboxSlot).where(
                InboxSlot.task_id == task_id,
                InboxSlot.completion_id == completion_id,
                InboxSlot.state == "open",
            )
        )


def backfill_task(session: Session, task: FeedbackTask) -> None:
    """Open slots for every existing completion matching ``task``'s selector (one statement)."""
    session.execute(
        delete(InboxSlot).where(InboxSlot.task_id == task.id, InboxSlot.state == "open")
    )
    if not task.completion_tags_selector or task.archived_at is not None:
        return
    tag_ids = selector_tag_ids(session, task.org_id, task.completion_tags_selector)
    if tag_ids is None:
        return
    matching = tagged_with_all(tag_ids).subquery()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for slot in range(task.reviews_per_item):
        source = (
            select(
                literal(task.id), Completion.id, literal(slot), literal(task.org_id),
                Completion.created_at, literal("open"),
            )
            .join(matching, matching.c.completion_id == Completion.id)
            .where(Completion.org_id == task.org_id)
        )  # fmt: skip
        session.execute(
            insert(InboxSlot)
            .from_select(["task_id", "completion_id", "slot", "org_id", "seq", "state"], source)
            .on_conflict_do_nothing()
        )


@dataclass(frozen=True)
class Claim:
    task_id: str
    completion_id: str
    slot: int
    lease_expires_at: object


def claim_next(
    session: Session, task: FeedbackTask, reviewer_id: str, lease_seconds: int
) -> Claim | None:
    """Give ``reviewer_id`` one item under a lease: their current claim, else the oldest open."""
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    held = session.execute(
        select(InboxSlot.completion_id, InboxSlot.slot)
        .where(
            InboxSlot.task_id == task.id,
            InboxSlot.state == "claimed",
            InboxSlot.reviewer_id == reviewer_id,
            InboxSlot.lease_expires_at > now,
        )
        .limit(1)
    ).first()
    if held is not None:  # idempotent: a reload gets the same item, with a renewed lease
        _set_lease(session, task.id, held[0], held[1], reviewer_id, expires)
        return Claim(task.id, held[0], held[1], expires)
    for _attempt in range(8):
        candidate = _candidate(session, task, reviewer_id, now)
        if candidate is None:
            return None
        completion_id, slot = candidate
        claimed = session.execute(
            update(InboxSlot)
            .where(
                InboxSlot.task_id == task.id,
                InboxSlot.completion_id == completion_id,
                InboxSlot.slot == slot,
                or_(
                    InboxSlot.state == "open",
                    and_(InboxSlot.state == "claimed", InboxSlot.lease_expires_at <= now),
                ),
            )
            .values(state="claimed", reviewer_id=reviewer_id, lease_expires_at=expires)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return Claim(task.id, completion_id, slot, expires)
    return None


def _candidate(
    session: Session, task: FeedbackTask, reviewer_id: str, now: object
) -> tuple[str, int] | None:
    not_mine = or_(InboxSlot.reviewer_id.is_(None), InboxSlot.reviewer_id != reviewer_id)
    base = select(InboxSlot.completion_id, InboxSlot.slot).where(InboxSlot.task_id == task.id)
    if task.reviews_per_item > 1:  # independent reviews: never twice by the same person
        mine = select(InboxSlot.completion_id).where(
            InboxSlot.task_id == task.id,
            InboxSlot.reviewer_id == reviewer_id,
            InboxSlot.state.in_(("claimed", "done")),
        )
        base = base.where(InboxSlot.completion_id.not_in(mine))
    lock = session.get_bind().dialect.name == "postgresql"
    queries = [
        base.where(InboxSlot.state == "claimed", InboxSlot.lease_expires_at <= now),
        base.where(InboxSlot.state == "open", not_mine).order_by(
            InboxSlot.seq, InboxSlot.completion_id
        ),
    ]
    for query in queries:
        query = query.limit(1)
        if lock:
            query = query.with_for_update(skip_locked=True)
        row = session.execute(query).first()
        if row is not None:
            return row[0], row[1]
    return None


def _set_lease(
    session: Session, task_id: str, completion_id: str, slot: int, reviewer_id: str, expires: object
) -> None:
    session.execute(
        update(InboxSlot)
        .where(
            InboxSlot.task_id == task_id,
            InboxSlot.completion_id == completion_id,
            InboxSlot.slot == slot,
        )
        .values(lease_expires_at=expires, reviewer_id=reviewer_id)
    )


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
        .values(state="open", lease_expires_at=None)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"you hold no claim on completion '{completion_id}' in this task")


def mark_reviewed(
    session: Session, task_id: str, completion_ids: list[str], reviewer_id: str, feedback_id: str
) -> None:
    """Close one slot per completion: the reviewer's own claim if any, else an open one."""
    for completion_id in completion_ids:
        where = (InboxSlot.task_id == task_id, InboxSlot.completion_id == completion_id)
        slot = session.scalar(
            select(InboxSlot.slot)
            .where(*where, InboxSlot.state == "claimed", InboxSlot.reviewer_id == reviewer_id)
            .limit(1)
        )
        if slot is None:
            slot = session.scalar(
                select(InboxSlot.slot)
                .where(*where, InboxSlot.state == "open")
                .order_by(InboxSlot.slot)
                .limit(1)
            )
        if slot is None:
            continue
        session.execute(
            update(InboxSlot)
            .where(*where, InboxSlot.slot == slot)
            .values(state="done", reviewer_id=reviewer_id, feedback_id=feedback_id,
                    lease_expires_at=None)
        )  # fmt: skip


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
    rows = session.scalars(
        select(InboxSlot.completion_id)
        .where(InboxSlot.task_id == task_id, InboxSlot.state == "open")
        .distinct()
        .order_by(InboxSlot.completion_id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows)
