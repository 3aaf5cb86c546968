"""Completion payloads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plaudit.core.completions import MAX_LATENCY_MS, tag_objects
from plaudit.db.models import Completion
from plaudit.schemas.common import UTCTimestamp

Status = Literal["started", "finished", "failed"]


class CompletionWrite(BaseModel):
    """An upsert: only the fields present are written."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=64, description="Client-chosen id (upsert key).")
    status: Status | None = None
    kind: str | None = Field(None, max_length=16)
    model: str | None = Field(None, max_length=200)
    provider: str | None = Field(None, max_length=64)
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    latency_ms: float | None = Field(None, ge=0, le=MAX_LATENCY_MS)
    ttft_ms: float | None = Field(None, ge=0, le=MAX_LATENCY_MS)
    error: str | None = Field(None, max_length=100_000)
    session_id: str | None = Field(None, max_length=64)
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = Field(None, description="Free-form, merged on upsert.")
    created_at: UTCTimestamp | None = None
    organization_id: str | None = Field(None, description="Checked against the caller's.")

    def fields(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True, exclude={"id", "metadata", "organization_id"})
        if data.get("kind", "") is None:  # a NOT NULL column: null means "not given"
            del data["kind"]
        if self.metadata:
            data["extra"] = self.metadata
        return data


def completion_dict(completion: Completion, tags_resolved: list[dict[str, str]]) -> dict[str, Any]:
    """One completion in the shape both plaudit's and log10's clients read."""
    extra = completion.extra or {}
    out: dict[str, Any] = {
        "id": completion.id,
        "organization_id": completion.org_id,
        "status": completion.status,
        "kind": completion.kind,
        "model": completion.model,
        "provider": completion.provider,
        "request": completion.request or {},
        "response": completion.response or {},
        "usage": completion.usage,
        "latency_ms": completion.latency_ms,
        "duration": int(completion.latency_ms) if completion.latency_ms is not None else None,
        "ttft_ms": completion.ttft_ms,
        "error": completion.error,
        "session_id": completion.session_id,
        "tags": completion.tags or [],
        "tagResolved": tags_resolved,
        "metadata": extra,
        "created_at": completion.created_at.isoformat(),
        "created_at_ms": int(completion.created_at.timestamp() * 1000),
        "updated_at": completion.updated_at.isoformat(),
    }
    for key in ("orig_module", "orig_qualname", "stacktrace", "failure_kind", "failure_reason"):
        if key in extra:
            out[key] = extra[key]
    return out


def completions_dicts(session: Any, org_id: str, rows: list[Completion]) -> list[dict[str, Any]]:
    names = sorted({t for c in rows for t in (c.tags or [])})
    resolved = {t["name"]: t for t in tag_objects(session, org_id, names)}
    return [
        completion_dict(c, [resolved[t] for t in (c.tags or []) if t in resolved]) for c in rows
    ]
