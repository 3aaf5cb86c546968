"""AI Chat Feedback jobs: jobs, units (CSV rows), slots, assignments, conversations, judgments.

Normalised for analytics: one ``ChatResponse`` row per model answer in a turn (selection,
confidence, ontology answers), so leaderboards and agreement are plain GROUP BYs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, UTCDateTime, created_column, id_column


class ChatJob(Base):
    """``state``: draft → running ⇄ paused → finished. ``kind``: chat or qa."""

    __tablename__ = "chat_jobs"

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8), default="chat")
    cml: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column()
    ontology: Mapped[dict[str, Any]] = mapped_column()
    instructions: Mapped[str] = mapped_column(Text, default="")
    model_ids: Mapped[list[Any]] = mapped_column()
    judgments_per_unit: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(10), default="draft")
    qa_of: Mapped[str | None] = mapped_column(ForeignKey("chat_jobs.id"), index=True)
    columns: Mapped[list[Any] | None] = mapped_column()  # the units' CSV header
    unit_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChatUnit(Base):
    """One CSV row: one conversation to collect (``judgments_per_unit`` times)."""

    __tablename__ = "chat_units"
    __table_args__ = (UniqueConstraint("job_id", "row_index"),)

    id: Mapped[str] = id_column()
    job_id: Mapped[str] = mapped_column(ForeignKey("chat_jobs.id", ondelete="CASCADE"))
    row_index: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(8), default="open")  # open | done
    created_at: Mapped[datetime] = created_column()


class ChatSlot(Base):
    """One judgment still to collect on a unit; claimed by compare-and-set under a lease.

    ``state``: open, claimed (by ``contributor_id`` until ``lease_expires_at``) or done.
    """

    __tablename__ = "chat_slots"
    __table_args__ = (
        Index("ix_chat_slots_next", "job_id", "state", "seq", "slot"),
        Index("ix_chat_slots_holder", "job_id", "contributor_id"),
    )

    job_id: Mapped[str] = mapped_column(
        ForeignKey("chat_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # the unit's row index: queue order
    state: Mapped[str] = mapped_column(String(8), default="open")
    contributor_id: Mapped[str | None] = mapped_column(String(64))
    assignment_id: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChatAssignment(Base):
    """A unit given to one contributor: ``state`` active, submitted, expired or abandoned."""

    __tablename__ = "chat_assignments"
    __table_args__ = (Index("ix_chat_assignments_contributor", "job_id", "contributor_id"),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("chat_jobs.id", ondelete="CASCADE"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("chat_units.id", ondelete="CASCADE"))
    judgment_index: Mapped[int] = mapped_column(Integer)
    contributor_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="active")
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_column()
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChatConversation(Base):
    """The server-side state of one assignment's chat."""

    __tablename__ = "chat_conversations"

    id: Mapped[str] = id_column()
    assignment_id: Mapped[str] = mapped_column(
        ForeignKey("chat_assignments.id", ondelete="CASCADE"), unique=True
    )
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_id: Mapped[str] = mapped_column(String(36))
    live_preamble: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class ChatTurn(Base):
    """One prompt and the responses shown for it.

    ``origin`` is ``review`` for turns loaded from review-data (prior history) and ``chat`` for
    turns sent in this conversation. ``continued_text`` is what the model sees next as the
    assistant message: the selected response, or the custom response that replaced it.
    """

    __tablename__ = "chat_turns"
    __table_args__ = (UniqueConstraint("conversation_id", "index"),)

    id: Mapped[str] = id_column()
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    index: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(8), default="chat")
    prompt: Mapped[str] = mapped_column(Text)
    selected_model_id: Mapped[int | None] = mapped_column(Integer)
    near_identical: Mapped[bool] = mapped_column(Boolean, default=False)
    random_pick: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[str | None] = mapped_column(String(32))
    custom_response: Mapped[str | None] = mapped_column(Text)
    original_custom_response: Mapped[str | None] = mapped_column(Text)  # before a QA edit
    continued_text: Mapped[str | None] = mapped_column(Text)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    prior: Mapped[dict[str, Any] | None] = mapped_column()  # review turn as it was given
    created_at: Mapped[datetime] = created_column()


class ChatResponse(Base):
    """One model's answer in a turn, shown under an anonymous ``label`` at ``position``.

    ``state``: pending (streaming), done or error. ``answers`` are the ontology values.
    """

    __tablename__ = "chat_responses"
    __table_args__ = (
        UniqueConstraint("turn_id", "model_id"),
        Index("ix_chat_responses_model", "model_id", "selected"),
    )

    id: Mapped[str] = id_column()
    turn_id: Mapped[str] = mapped_column(ForeignKey("chat_turns.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    model_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    text: Mapped[str | None] = mapped_column(Text)
    completion_id: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict[str, Any] | None] = mapped_column()
    prior_answers: Mapped[dict[str, Any] | None] = mapped_column()  # from review-data
    updated_at: Mapped[datetime] = created_column()


class ChatJudgment(Base):
    """A submitted conversation: the results JSON (seed 004 shape) and its expanded columns."""

    __tablename__ = "chat_judgments"
    __table_args__ = (Index("ix_chat_judgments_job", "job_id", "created_at"),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(36))
    job_id: Mapped[str] = mapped_column(ForeignKey("chat_jobs.id", ondelete="CASCADE"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("chat_units.id", ondelete="CASCADE"))
    assignment_id: Mapped[str] = mapped_column(String(36), unique=True)
    contributor_id: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column()
    expanded: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = created_column()
