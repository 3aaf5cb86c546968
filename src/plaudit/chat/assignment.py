"""Giving units to contributors under a lease.

A unit has ``judgments_per_unit`` slots. ``assign_next_unit`` claims one slot by
compare-and-set (the UPDATE only succeeds while the slot is open or its lease has run out), so
no slot is ever held by two contributors; PostgreSQL candidates are picked with
``FOR UPDATE SKIP LOCKED`` so concurrent claimers do not queue on the same row. A contributor is
never given a unit they hold or have submitted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from plaudit.chat.jobs import require_state
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import ChatAssignment, ChatJob, ChatSlot
from plaudit.errors import Conflict, Forbidden, NotFound

CLAIM_ATTEMPTS = 16


def assign_next_unit(
    session: Session, job: ChatJob, contributor_id: str, lease_seconds: int
) -> tuple[ChatAssignment, bool] | None:
    """The contributor's current assignment (lease renewed) or a new one; None when none left.

    Returns ``(assignment, created)``.
    """
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    current = _current(session, job, contributor_id, now, expires)
    if current is not None:
        return current, False
    require_state(job, "running", action="get a new unit")
    for _attempt in range(CLAIM_ATTEMPTS):
        candidate = _candidate(session, job, contributor_id, now)
        if candidate is None:
            return None
        unit_id, slot, previous = candidate
        assignment_id = new_id()
        claimed = session.execute(
            update(ChatSlot)
            .where(
                ChatSlot.job_id == job.id,
                ChatSlot.unit_id == unit_id,
                ChatSlot.slot == slot,
                or_(
                    ChatSlot.state == "open",
                    and_(ChatSlot.state == "claimed", ChatSlot.lease_expires_at <= now),
                ),
            )
            .values(
                state="claimed",
                contributor_id=contributor_id,
                assignment_id=assignment_id,
                lease_expires_at=expires,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # somebody else won this slot; try the next one
        if previous:
            session.execute(
                update(ChatAssignment)
                .where(ChatAssignment.id == previous, ChatAssignment.state == "active")
                .values(state="expired")
            )
        assignment = ChatAssignment(
            id=assignment_id,
            org_id=job.org_id,
            job_id=job.id,
            unit_id=unit_id,
            judgment_index=slot,
            contributor_id=contributor_id,
            state="active",
            lease_expires_at=expires,
            created_at=now,
        )
        session.add(assignment)
        session.flush()
        return assignment, True
    raise Conflict("too many contributors are claiming units right now; try again")


def _current(
    session: Session, job: ChatJob, contributor_id: str, now: datetime, expires: datetime
) -> ChatAssignment | None:
    active = session.scalars(
        select(ChatAssignment).where(
            ChatAssignment.job_id == job.id,
            ChatAssignment.contributor_id == contributor_id,
            ChatAssignment.state == "active",
        )
    ).all()
    for assignment in active:
        if _renew(session, assignment, expires):
            return assignment
        assignment.state = "expired"
    return None


def _renew(session: Session, assignment: ChatAssignment, expires: datetime) -> bool:
    """Extend the lease while the slot is still this assignment's (even if it ran out)."""
    renewed = session.execute(
        update(ChatSlot)
        .where(
            ChatSlot.job_id == assignment.job_id,
            ChatSlot.unit_id == assignment.unit_id,
            ChatSlot.slot == assignment.judgment_index,
            ChatSlot.assignment_id == assignment.id,
            ChatSlot.state == "claimed",
        )
        .values(lease_expires_at=expires)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    assignment.lease_expires_at = expires
    return True


def _candidate(
    session: Session, job: ChatJob, contributor_id: str, now: datetime
) -> tuple[str, int, str | None] | None:
    mine = select(ChatAssignment.unit_id).where(
        ChatAssignment.job_id == job.id,
        ChatAssignment.contributor_id == contributor_id,
        ChatAssignment.state.in_(("active", "submitted")),
    )
    base = select(ChatSlot.unit_id, ChatSlot.slot, ChatSlot.assignment_id).where(
        ChatSlot.job_id == job.id, ChatSlot.unit_id.not_in(mine)
    )
    lock = session.get_bind().dialect.name == "postgresql"
    queries = [
        base.where(ChatSlot.state == "claimed", ChatSlot.lease_expires_at <= now),
        base.where(ChatSlot.state == "open").order_by(ChatSlot.seq, ChatSlot.slot),
    ]
    for query in queries:
        query = query.limit(1)
        if lock:
            query = query.with_for_update(skip_locked=True)
        row = session.execute(query).first()
        if row is not None:
            return row[0], row[1], row[2]
    return None


# An action renews the lease only once it is older than this share of its length (at least
# one second): renewing on every request cost three UPDATEs per action (slot, assignment,
# conversation), while a lease of 30 minutes still has at least 27 left after any action.
RENEW_AFTER_SHARE = 0.1


def load_assignment(
    session: Session,
    org_id: str,
    assignment_id: str,
    contributor_id: str,
    lease_seconds: int,
    *,
    renew: bool = True,
    held_until: datetime | None = None,
) -> tuple[ChatAssignment, bool]:
    """The contributor's own active assignment; any activity keeps its lease fresh.

    ``held_until`` is the slot's lease as read in this transaction, if the slot is still this
    assignment's claim: while it is fresh (renewed less than ``RENEW_AFTER_SHARE`` of a lease
    ago) no UPDATE is needed, as nobody can claim a slot before its lease has run out. Returns
    ``(assignment, renewed)``.
    """
    assignment = session.get(ChatAssignment, assignment_id)  # from the identity map if loaded
    if assignment is None or assignment.org_id != org_id:
        raise NotFound(f"assignment '{assignment_id}' not found")
    if assignment.contributor_id != contributor_id:
        raise Forbidden(f"assignment '{assignment_id}' belongs to another contributor")
    if not renew:
        return assignment, False
    if assignment.state == "expired":
        raise Conflict(
            f"your lease on assignment '{assignment_id}' expired and the unit was "
            "given to someone else; ask for the next unit"
        )
    if assignment.state != "active":
        raise Conflict(
            f"assignment '{assignment_id}' is {assignment.state}: it can no longer be changed"
        )
    expires = utcnow() + timedelta(seconds=lease_seconds)
    fresh_for = timedelta(seconds=max(1.0, lease_seconds * RENEW_AFTER_SHARE))
    if held_until is not None and held_until > expires - fresh_for:
        return assignment, False
    if not _renew(session, assignment, expires):
        assignment.state = "expired"
        raise Conflict(
            f"your lease on assignment '{assignment_id}' expired and the unit was "
            "given to someone else; ask for the next unit"
        )
    return assignment, True


def complete_assignment(session: Session, assignment: ChatAssignment) -> None:
    now = utcnow()
    assignment.state = "submitted"
    assignment.submitted_at = now
    session.execute(
        update(ChatSlot)
        .where(
            ChatSlot.job_id == assignment.job_id,
            ChatSlot.unit_id == assignment.unit_id,
            ChatSlot.slot == assignment.judgment_index,
            ChatSlot.assignment_id == assignment.id,
        )
        .values(state="done", lease_expires_at=None)
    )
    open_left = session.scalar(
        select(ChatSlot.slot)
        .where(
            ChatSlot.job_id == assignment.job_id,
            ChatSlot.unit_id == assignment.unit_id,
            ChatSlot.state != "done",
        )
        .limit(1)
    )
    if open_left is None:
        from plaudit.db.models import ChatUnit

        session.execute(
            update(ChatUnit).where(ChatUnit.id == assignment.unit_id).values(state="done")
        )


def abandon_assignment(session: Session, assignment: ChatAssignment) -> None:
    """Give the unit back; the contributor may be offered it again later."""
    assignment.state = "abandoned"
    session.execute(
        update(ChatSlot)
        .where(
            ChatSlot.job_id == assignment.job_id,
            ChatSlot.unit_id == assignment.unit_id,
            ChatSlot.slot == assignment.judgment_index,
            ChatSlot.assignment_id == assignment.id,
        )
        .values(state="open", contributor_id=None, assignment_id=None, lease_expires_at=None)
    )
