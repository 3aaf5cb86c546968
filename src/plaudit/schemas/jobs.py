"""AI Chat Feedback job payloads (jobs, conversation actions, QA)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plaudit.chat.jobs import JobFields
from plaudit.chat.qa import QAOptions


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobCreate(Strict):
    name: str = Field(max_length=200)
    cml: str = Field(max_length=200_000, description="Markup with one <cml:ai_chat_feedback/>.")
    ontology: dict[str, Any] | None = Field(
        None, description="Response-level questions as a JSON Schema object."
    )
    instructions: str = Field("", max_length=200_000)
    model_ids: list[int] | None = Field(
        None, description="The job's models (default: source-data's literal ids)."
    )
    judgments_per_unit: int = 1
    kind: str = Field("chat", description="chat, or qa (units carry prior results).")

    def to_fields(self) -> JobFields:
        return JobFields(**self.model_dump())


class JobUpdate(Strict):
    name: str | None = Field(None, max_length=200)
    cml: str | None = Field(None, max_length=200_000)
    ontology: dict[str, Any] | None = None
    instructions: str | None = Field(None, max_length=200_000)
    model_ids: list[int] | None = None
    judgments_per_unit: int | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class QACreate(Strict):
    name: str | None = Field(None, max_length=200)
    allow_continue: bool = False
    show_feedback_answers: bool = True
    allow_custom_response_edit: bool = False
    ontology: dict[str, Any] | None = None
    instructions: str | None = Field(None, max_length=200_000)
    judgments_per_unit: int = 1

    def to_options(self) -> QAOptions:
        return QAOptions(**self.model_dump())


class LivePreambleIn(Strict):
    text: str = Field(max_length=100_000)


class PromptIn(Strict):
    prompt: str | None = Field(
        None, max_length=100_000, description="May be omitted on a seeded first turn."
    )


class AnswersIn(Strict):
    """One response's answers (``label`` + ``answers``), or several at once (``responses``)."""

    label: str | None = Field(None, max_length=32, description='The response, e.g. "Response A".')
    answers: dict[str, Any] | None = None
    responses: dict[str, dict[str, Any]] | None = Field(
        None, description='Answers by label: {"Response A": {...}, "Response B": {...}}.'
    )

    def by_label(self) -> dict[str, Any]:
        answers: dict[str, Any] = dict(self.responses or {})
        if self.label is not None:
            answers[self.label] = self.answers if self.answers is not None else {}
        return answers


class SelectIn(Strict):
    label: str | None = Field(None, max_length=32)
    near_identical: bool = Field(False, description='"Responses are near identical": random pick.')
    confidence: str | None = Field(
        None, description="enhanced: much-better, better, slightly-better or negligible."
    )
    responses: dict[str, dict[str, Any]] | None = Field(
        None,
        description="Answers by label, saved first, as PUT …/answers takes them: a screen's "
        '"continue with this response" sends the ratings and the choice in one call.',
    )


class CustomResponseIn(Strict):
    text: str = Field(max_length=100_000)


class RetryIn(Strict):
    label: str = Field(max_length=32)
