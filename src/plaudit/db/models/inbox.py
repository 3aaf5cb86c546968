"""Reviewer inbox: one slot per (task, completion, review) still to be given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, UTCDateTime, created_column


class InboxSlot(Base):
    """``state`` is open, claimed (until ``lease_expires_at``) or done.

    A task asking for N reviews per item has N slots per completion; claiming is a
    compare-and-set on one slot, so two reviewers can never hold the same slot.
    """

    __tablename__ = "inbox_slots"
    # Partial indexes, one per queue the claim reads: the open slots in claim order (the exact
    # ORDER BY, so ``LIMIT 1`` is one index probe whatever the planner's statistics say) and the
    # claimed slots by lease end (lapsed leases, a reviewer's current claim). Slots that are
    # done, the bulk of an old task, sit in neither.
    __table_args__ = (
        Index(
            "ix_inbox_slots_open", "task_id", "seq", "completion_id",
            postgresql_where=text("state = 'open'"), sqlite_where=text("state = 'open'"),
        ),
        Index(
            "ix_inbox_slots_claimed", "task_id", "lease_expires_at",
            postgresql_where=text("state = 'claimed'"), sqlite_where=text("state = 'claimed'"),
        ),
        # A reviewer's own slots (claimed or done): "has this reviewer already got this item?"
        # when a task wants several reviews per item. Without it PostgreSQL read every slot of
        # the task to find them.
        Index(
            "ix_inbox_slots_reviewer", "task_id", "reviewer_id", "completion_id",
            postgresql_where=text("reviewer_id IS NOT NULL"),
            sqlite_where=text("reviewer_id IS NOT NULL"),
        ),
    )  # fmt: skip

    task_id: Mapped[str] = mapped_column(
        ForeignKey("feedback_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    completion_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[datetime] = created_column()  # queue order: oldest first
    state: Mapped[str] = mapped_column(String(8), default="open")
    reviewer_id: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    feedback_id: Mapped[str | None] = mapped_column(String(36))


class InboxSkip(Base):
    """A reviewer passed on an item; they are not offered it again for this task."""

    __tablename__ = "inbox_skips"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("feedback_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    completion_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = created_column()
