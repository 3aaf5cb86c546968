"""Response-level questions of a chat job: a JSON Schema for the one form engine.

Each property of the schema is one question, answered once per shown model response:

- multiple choice: ``{"type": "string", "enum": [...]}``
- checkboxes: ``{"type": "array", "items": {"enum": [...]}, "uniqueItems": true}``
- text: ``{"type": "string"}``
- rating scale: ``{"type": "integer", "minimum": 1, "maximum": 5}``

Every question carries a stable ``x-question-id`` (generated when absent, kept on edit for a
question of the same name) and its display type in ``x-display``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from plaudit.core.forms import check_schema, validation_errors
from plaudit.errors import Invalid

DISPLAY_NAMES = {
    "multiple_choice": "Multiple Choice",
    "checkboxes": "Checkboxes",
    "text": "Text",
    "rating": "Rating Scale",
}
EMPTY_ONTOLOGY: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Question:
    id: str
    name: str
    display: str  # multiple_choice | checkboxes | text | rating
    title: str
    required: bool

    @property
    def type_name(self) -> str:
        return DISPLAY_NAMES[self.display]


def _display_of(name: str, prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind == "string" and "enum" in prop:
        return "multiple_choice"
    if kind == "string":
        return "text"
    if kind == "integer" and "minimum" in prop and "maximum" in prop:
        return "rating"
    if kind == "array" and prop.get("uniqueItems") and "enum" in (prop.get("items") or {}):
        return "checkboxes"
    raise Invalid(
        f"ontology: question '{name}' must be multiple choice (string enum), checkboxes (array "
        "of enum, uniqueItems), text (string) or a rating scale (integer minimum/maximum)",
        path=f"ontology.properties.{name}",
    )


def normalise_ontology(
    schema: dict[str, Any] | None, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Check ``schema`` and give every question its id and display type."""
    if schema is None:
        return copy.deepcopy(EMPTY_ONTOLOGY)
    check_schema(schema, field="ontology")
    result = copy.deepcopy(schema)
    result.setdefault("type", "object")
    properties = result.setdefault("properties", {})
    if not isinstance(properties, dict):
        raise Invalid("ontology: properties must be an object", path="ontology.properties")
    old = (previous or {}).get("properties", {})
    for name in result.get("required", []):
        if name not in properties:
            raise Invalid(
                f"ontology: required question '{name}' is not defined", path="ontology.required"
            )
    seen: set[str] = set()
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            raise Invalid(
                f"ontology: question '{name}' must be an object", path=f"ontology.properties.{name}"
            )
        display = _display_of(name, prop)
        if prop.get("x-display", display) != display:
            raise Invalid(
                f"ontology: question '{name}' has x-display {prop['x-display']!r} but "
                f"its schema is {display}",
                path=f"ontology.properties.{name}",
            )
        prop["x-display"] = display
        question_id = prop.get("x-question-id") or old.get(name, {}).get("x-question-id")
        question_id = str(question_id or uuid.uuid4())
        if question_id in seen:
            raise Invalid(
                f"ontology: x-question-id {question_id!r} is used twice",
                path=f"ontology.properties.{name}",
            )
        seen.add(question_id)
        prop["x-question-id"] = question_id
    return result


def questions(schema: dict[str, Any]) -> list[Question]:
    required = set(schema.get("required", []))
    return [
        Question(
            id=prop["x-question-id"],
            name=name,
            display=prop["x-display"],
            title=str(prop.get("title") or name),
            required=name in required,
        )
        for name, prop in (schema.get("properties") or {}).items()
    ]


def has_questions(schema: dict[str, Any]) -> bool:
    return bool(schema.get("properties"))


def check_partial_answers(schema: dict[str, Any], answers: Any) -> dict[str, Any]:
    """Answers may be given a few at a time: check types, not completeness."""
    if not isinstance(answers, dict):
        raise Invalid("answers must be an object keyed by question name", path="answers")
    unknown = sorted(set(answers) - set(schema.get("properties") or {}))
    if unknown:
        raise Invalid(f"answers: unknown question '{unknown[0]}'", path=f"answers.{unknown[0]}")
    relaxed = {k: v for k, v in schema.items() if k != "required"}
    _raise_first(validation_errors(relaxed, answers))
    return answers


def missing_answers(schema: dict[str, Any], answers: dict[str, Any] | None) -> list[str]:
    """Problems that stop a turn from being complete (empty when the answers are complete)."""
    if not has_questions(schema):
        return []
    return [f"{e['path']}: {e['message']}" for e in validation_errors(schema, answers or {})]


def _raise_first(errors: list[dict[str, str]]) -> None:
    if errors:
        first = errors[0]
        raise Invalid(
            f"answers{first['path'][1:]}: {first['message']}",
            path=f"answers{first['path'][1:]}",
            details=errors,
        )


def feedback_entries(
    schema: dict[str, Any], answers: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Answers in the results format: ``[{questionId, type, name, answer: {values}}]``."""
    answers = answers or {}
    return [
        {
            "questionId": q.id,
            "type": q.type_name,
            "name": q.name,
            "answer": {"values": answers[q.name]},
        }
        for q in questions(schema)
        if q.name in answers
    ]


def answers_from_feedback(entries: Any) -> dict[str, Any]:
    """The inverse of :func:`feedback_entries` (for review-data history)."""
    if isinstance(entries, dict):
        entries = [entries]
    result: dict[str, Any] = {}
    for entry in entries or []:
        if isinstance(entry, dict) and "name" in entry:
            answer = entry.get("answer")
            result[str(entry["name"])] = (
                answer.get("values") if isinstance(answer, dict) else answer
            )
    return result
