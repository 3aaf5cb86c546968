"""Pieces shared by the OpenAI and Anthropic wire formats: SSE events and the format contract."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from plaudit.gateway.fake.replies import DEFAULT_MODEL, Conversation, Reply

JSONObject = dict[str, Any]


class InvalidRequest(ValueError):
    """The request body is not something the real API would accept (answered with a 400)."""


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event; ``data`` is a JSON object or a raw string sent verbatim."""

    data: JSONObject | str
    event: str | None = None

    def encode(self) -> bytes:
        """Wire bytes: optional ``event:`` line, one ``data:`` line, blank line."""
        data = self.data if isinstance(self.data, str) else orjson.dumps(self.data).decode()
        head = f"event: {self.event}\n" if self.event else ""
        return f"{head}data: {data}\n\n".encode()


@dataclass(frozen=True)
class ApiFormat:
    """Everything the app needs to speak one API; the app itself stays format-agnostic."""

    name: str
    parse: Callable[[JSONObject], Conversation]
    complete: Callable[[JSONObject, Conversation, Reply], JSONObject]
    events: Callable[[JSONObject, Conversation, Reply], list[SSEEvent]]
    error_body: Callable[[int, str], JSONObject]
    wrong_shape: Callable[[Reply], JSONObject]
    garbage_event: str | None
    """``event:`` name for the garbage line, for SDKs that ignore events without a name."""
    supports_done_marker: bool = False


def new_id(prefix: str) -> str:
    """A fresh, realistic-looking object id (ids are not part of the deterministic reply)."""
    return f"{prefix}{secrets.token_hex(12)}"


def pieces(text: str, size: int = 8) -> list[str]:
    """Split text (e.g. compact JSON arguments) into fixed-size stream pieces."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def require_list(body: JSONObject, key: str) -> list[Any]:
    """Fetch a required list field or raise :class:`InvalidRequest` like the real API."""
    value = body.get(key)
    if not isinstance(value, list):
        raise InvalidRequest(f"'{key}' is a required property and must be an array")
    return value


def model_of(body: JSONObject) -> str:
    """The requested model name; the fake is lenient and falls back to the neutral one."""
    model = body.get("model")
    return model if isinstance(model, str) and model else DEFAULT_MODEL
