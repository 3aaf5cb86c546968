"""Feedback task payloads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plaudit.db.models import FeedbackTask
from plaudit.schemas.common import Lenient


class TaskCreate(Lenient):
    name: str = Field(max_length=200)
    json_schema: dict[str, Any] = Field(description="A JSON Schema (Draft 2020-12) object.")
    completion_tags_selector: list[str] | str | None = None
    instruction: str | None = Field(None, max_length=100_000)
    reviews_per_item: int = Field(
        1, strict=True, description="Independent reviews wanted per completion (1-20)."
    )
    organization_id: str | None = None


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    json_schema: dict[str, Any] | None = None
    completion_tags_selector: list[str] | str | None = None
    instruction: str | None = Field(None, max_length=100_000)
    reviews_per_item: int | None = Field(None, strict=True)
    organization_id: str | None = Field(None, description="Checked against the caller's.")


def task_dict(task: FeedbackTask) -> dict[str, Any]:
    schema = dict(task.json_schema)
    # The log10 CLI reads json_schema["required"] unguarded; serve an empty list when absent.
    schema.setdefault("required", [])
    return {
        "id": task.id,
        "organization_id": task.org_id,
        "name": task.name,
        "instruction": task.instruction,
        "json_schema": schema,
        "completion_tags_selector": task.completion_tags_selector or [],
        "version": task.version,
        "reviews_per_item": task.reviews_per_item,
        "archived": task.archived_at is not None,
        "archived_at": task.archived_at.isoformat() if task.archived_at else None,
        "created_at": task.created_at.isoformat(),
        "created_at_ms": int(task.created_at.timestamp() * 1000),
        "updated_at": task.updated_at.isoformat(),
    }
