"""Feedback payloads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plaudit.core.feedback import FeedbackIn
from plaudit.schemas.common import Lenient


class FeedbackCreate(Lenient):
    task_id: str = Field(max_length=64)
    json_values: Any = Field(description="Validated against the task's JSON Schema.")
    completion_tags_selector: list[str] | str | None = None
    completion_ids: list[str] | None = Field(None, max_length=10_000)
    comment: str | None = None
    allow_unmatched_feedback: bool = False
    max_matched_completions: int = 100
    end_user_id: str | None = Field(None, max_length=200)
    organization_id: str | None = None

    def to_input(self) -> FeedbackIn:
        return FeedbackIn(
            task_id=self.task_id,
            json_values=self.json_values,
            completion_tags_selector=self.completion_tags_selector,
            completion_ids=self.completion_ids,
            comment=self.comment,
            allow_unmatched_feedback=self.allow_unmatched_feedback,
            max_matched_completions=self.max_matched_completions,
            end_user_id=self.end_user_id,
        )


class FeedbackUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_values: dict[str, Any] | None = None
    comment: str | None = None
    organization_id: str | None = Field(None, description="Checked against the caller's.")


class InboxSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_values: dict[str, Any]
    comment: str | None = None
    organization_id: str | None = Field(None, description="Checked against the caller's.")
