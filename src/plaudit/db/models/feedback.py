"""Feedback tasks (versioned JSON Schemas) and the feedback given against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, UTCDateTime, created_column, id_column


class FeedbackTask(Base):
    __tablename__ = "feedback_tasks"
    __table_args__ = (Index("ix_feedback_tasks_org_created", "org_id", "created_at"),)

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    instruction: Mapped[str | None] = mapped_column(Text)
    json_schema: Mapped[dict[str, Any]] = mapped_column()
    completion_tags_selector: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    reviews_per_item: Mapped[int] = mapped_column(Integer, default=1)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class FeedbackTaskVersion(Base):
    """Every schema a task has had; feedback keeps the version it was validated against."""

    __tablename__ = "feedback_task_versions"

    task_id: Mapped[str] = mapped_column(ForeignKey("feedback_tasks.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    json_schema: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = created_column()


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        # Both end in id: lists and downloads order by (created_at, id) (migration 0007).
        Index("ix_feedback_org_task_created", "org_id", "task_id", "created_at", "id"),
        Index("ix_feedback_org_created", "org_id", "created_at", "id"),
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    task_id: Mapped[str] = mapped_column(ForeignKey("feedback_tasks.id"))
    task_version: Mapped[int] = mapped_column(Integer)
    json_values: Mapped[dict[str, Any]] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    completion_tags_selector: Mapped[list[Any]] = mapped_column(default=list)
    # A sorted copy of the item's feedback_completions (fixed at creation), so a download
    # reads each item from one row.
    matched_completion_ids: Mapped[list[Any] | None] = mapped_column(default=list)
    author_user_id: Mapped[str | None] = mapped_column(String(36))
    author_key_id: Mapped[str | None] = mapped_column(String(36))
    end_user_id: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class FeedbackCompletion(Base):
    __tablename__ = "feedback_completions"
    __table_args__ = (Index("ix_feedback_completions_completion", "completion_id"),)

    feedback_id: Mapped[str] = mapped_column(
        ForeignKey("feedback.id", ondelete="CASCADE"), primary_key=True
    )
    completion_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class FeedbackRevision(Base):
    """The state of a feedback item before each edit or delete."""

    __tablename__ = "feedback_revisions"

    id: Mapped[str] = id_column()
    feedback_id: Mapped[str] = mapped_column(ForeignKey("feedback.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # edit | delete
    json_values: Mapped[dict[str, Any]] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    task_version: Mapped[int] = mapped_column(Integer)
    changed_by: Mapped[str | None] = mapped_column(String(36))
    changed_at: Mapped[datetime] = created_column()
