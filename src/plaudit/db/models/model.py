"""Registered models an organization evaluates (CML ``source-data`` refers to their ids)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plaudit.db.base import Base, UTCDateTime, created_column


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    adapter: Mapped[str] = mapped_column(String(32))  # openai | anthropic | http | local | …
    endpoint: Mapped[str | None] = mapped_column(String(2000))
    upstream_model: Mapped[str | None] = mapped_column(String(200))  # name sent upstream
    secret: Mapped[str | None] = mapped_column(Text)  # write-only: never returned or logged
    default_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input_template: Mapped[dict[str, Any] | None] = mapped_column()
    output_path: Mapped[str | None] = mapped_column(String(500))
    stream_path: Mapped[str | None] = mapped_column(String(500))
    timeout_s: Mapped[float] = mapped_column(Float, default=60.0)
    max_retries: Mapped[int] = mapped_column(Integer, default=2)
    concurrency: Mapped[int] = mapped_column(Integer, default=8)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_column()
