"""Logged LLM calls and their tags. Tag links are indexed for AND-selector lookups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, UTCDateTime, created_column


class Completion(Base):
    __tablename__ = "completions"
    __table_args__ = (Index("ix_completions_org_created", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # client may choose it
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default="finished")
    kind: Mapped[str] = mapped_column(String(16), default="chat")
    model: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    usage: Mapped[dict[str, Any] | None] = mapped_column()
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)  # denormalised names, in order
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)  # orig_module, stacktrace, …
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CompletionTag(Base):
    __tablename__ = "completion_tags"
    __table_args__ = (Index("ix_completion_tags_tag", "tag_id", "completion_id"),)

    completion_id: Mapped[str] = mapped_column(
        ForeignKey("completions.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id"), primary_key=True)
