"""review-data: prior chat history in a CSV column, in the results format (seed 004).

Accepted: a whole result (``{"ableToAnnotate", "annotation": {"chat": …}}``), the annotation
(``{"chat": …}``), or the chat object itself (turns keyed by index, or a list of turns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from plaudit.chat.ontology import answers_from_feedback


@dataclass
class PriorCompletion:
    model_id: int
    text: str
    selected: bool = False
    confidence: str | None = None


@dataclass
class PriorTurn:
    prompt: str
    completions: list[PriorCompletion]
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)  # model id → answers
    custom_response: str | None = None
    near_identical: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def continued_text(self) -> str:
        if self.custom_response:
            return self.custom_response
        for completion in self.completions:
            if completion.selected:
                return completion.text
        return self.completions[0].text if self.completions else ""


def parse_review_data(value: str | None) -> list[PriorTurn]:
    """Prior turns, oldest first (``[]`` for an empty cell); ValueError says what is wrong."""
    if value is None or not str(value).strip():
        return []
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"review-data is not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("annotation"), dict):
        data = data["annotation"]
    if isinstance(data, dict) and "chat" in data:
        data = data["chat"]
    if isinstance(data, dict):
        try:
            items = [data[k] for k in sorted(data, key=int)]
        except ValueError:
            raise ValueError("review-data: chat turns must be keyed by turn index") from None
    elif isinstance(data, list):
        items = data
    else:
        raise ValueError("review-data must be a results object or a list of turns")
    return [_turn(item, index) for index, item in enumerate(items)]


def _turn(item: Any, index: int) -> PriorTurn:
    if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
        raise ValueError(f"review-data: turn {index} needs a text 'prompt'")
    completions = []
    for entry in item.get("completion") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("completion"), str):
            raise ValueError(f"review-data: turn {index} has a completion without text")
        try:
            model_id = int(entry.get("modelId"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(
                f"review-data: turn {index} has a completion without modelId"
            ) from None
        completions.append(
            PriorCompletion(
                model_id, entry["completion"], bool(entry.get("selection")), entry.get("confidence")
            )
        )
    feedback = item.get("feedback") or {}
    answers: dict[int, dict[str, Any]] = {}
    if isinstance(feedback, dict):
        for key, entries in feedback.items():
            try:
                answers[int(key)] = answers_from_feedback(entries)
            except ValueError:
                raise ValueError(
                    f"review-data: turn {index} feedback key {key!r} is not a model id"
                ) from None
    custom = item.get("customResponse")
    return PriorTurn(
        prompt=item["prompt"],
        completions=completions,
        answers=answers,
        custom_response=custom if isinstance(custom, str) and custom else None,
        near_identical=bool(item.get("nearIdentical")),
        raw=item,
    )
