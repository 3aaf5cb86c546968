"""Shapes shared by every resource."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Paging offsets beyond this are refused (422): the databases' 64-bit OFFSET would overflow.
MAX_OFFSET = 1_000_000_000


class Page(BaseModel):
    """log10's list envelope, kept for every list: ``{"data": [...], "total": n}``."""

    data: list[Any]
    total: int = Field(description="Items from `offset` on (log10 clients stop paging on it).")


class Lenient(BaseModel):
    """Request bodies from log10 clients carry extra keys; accept and ignore them."""

    model_config = ConfigDict(extra="allow")
