"""Shapes shared by every resource."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Paging offsets beyond this are refused (422): the databases' 64-bit OFFSET would overflow.
MAX_OFFSET = 1_000_000_000


class Page(BaseModel):
    """log10's list envelope, kept for every list: ``{"data": [...], "total": n}``."""

    data: list[Any]
    total: int = Field(description="Items from `offset` on (log10 clients stop paging on it).")


class Lenient(BaseModel):
    """Request bodies from log10 clients carry extra keys; accept and ignore them."""

    model_config = ConfigDict(extra="allow")


def as_utc(value: datetime) -> datetime:
    """Aware UTC, within years 1000-9999 (what every backend stores and reads back)."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC") from None
    if value.year < 1000:
        raise ValueError("timestamp must be in the years 1000 to 9999")
    return value


UTCTimestamp = Annotated[datetime, AfterValidator(as_utc)]
