"""Fast validation of batch-ingest items (the hot path: plain checks, no per-item pydantic).

The rules mirror :class:`plaudit.schemas.completions.CompletionWrite`, so a completion accepted by
``PUT /api/v1/completions/{id}`` is accepted by the batch endpoint and vice versa.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from plaudit.core.completions import check_id, clean_fields
from plaudit.db.base import new_id
from plaudit.errors import BadRequest, Invalid

MAX_BATCH_ITEMS = 5000
FIELDS = frozenset(
    {"id", "status", "kind", "model", "provider", "request", "response", "usage", "latency_ms",
     "ttft_ms", "error", "session_id", "tags", "metadata", "created_at"}
)  # fmt: skip
_STRING_LIMITS = {"kind": 16, "model": 200, "provider": 64, "session_id": 64, "error": 100_000}
_NUMBERS = ("latency_ms", "ttft_ms")
_OBJECTS = ("usage", "metadata")
_NESTED = ("request", "response", "usage", "metadata")
MAX_DEPTH = 64  # what every other JSON body is held to (plaudit.api.jsonio)

Item = tuple[str, dict[str, Any]]


def _check_strings(raw: dict[str, Any]) -> None:
    for field, limit in _STRING_LIMITS.items():
        value = raw.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Invalid(f"{field} must be a string", path=field)
        if len(value) > limit:
            raise Invalid(f"{field} is longer than {limit} characters", path=field)


def _check_numbers_and_objects(raw: dict[str, Any]) -> None:
    for field in _NUMBERS:
        value = raw.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{field} must be a number", path=field)
        if value < 0:
            raise Invalid(f"{field} must be >= 0", path=field)
    for field in _OBJECTS:
        value = raw.get(field)
        if value is not None and not isinstance(value, dict):
            raise Invalid(f"{field} must be a JSON object", path=field)


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """True when containers nest more than ``limit`` levels below ``value`` (recursion is
    bounded by ``limit``; only containers are descended into)."""
    if limit <= 0:
        return True
    children = value.values() if type(value) is dict else value
    for child in children:
        kind = type(child)
        if (kind is dict or kind is list) and _nests_deeper_than(child, limit - 1):
            return True
    return False


def _created_at(value: Any) -> datetime:
    message = "created_at must be an ISO 8601 date-time string"
    if not isinstance(value, str):
        raise Invalid(message, path="created_at")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(message, path="created_at") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def parse_item(raw: Any) -> Item:
    """One item → ``(id, fields)`` ready for ``upsert_completions``; raises ``Invalid``."""
    if not isinstance(raw, dict):
        raise Invalid("each completion must be a JSON object", path="")
    if not FIELDS.issuperset(raw):
        unknown = sorted(k for k in raw if k not in FIELDS)[0]
        raise Invalid(f"unknown field '{unknown}'", path=unknown)
    completion_id = raw.get("id")
    if completion_id is None:
        completion_id = new_id()
    elif not isinstance(completion_id, str):
        raise Invalid("id must be a string", path="id")
    else:
        check_id(completion_id)
    _check_strings(raw)
    _check_numbers_and_objects(raw)
    for field in _NESTED:
        value = raw.get(field)
        if isinstance(value, dict | list) and _nests_deeper_than(value, MAX_DEPTH - 2):
            raise Invalid(f"{field} nests deeper than {MAX_DEPTH} levels", path=field)
    data = {k: v for k, v in raw.items() if k not in ("id", "metadata", "created_at")}
    for field in ("request", "response"):
        if field in data and data[field] is not None and not isinstance(data[field], dict | str):
            raise Invalid(f"{field} must be a JSON object", path=field)
    if raw.get("metadata"):
        data["extra"] = raw["metadata"]
    if raw.get("created_at") is not None:
        data["created_at"] = _created_at(raw["created_at"])
    return completion_id, clean_fields(data)


def parse_items(items: Any) -> list[Item]:
    """Validate every item; the first bad one raises ``Invalid`` naming its index and field."""
    if not isinstance(items, list):
        raise Invalid("completions must be a list", path="completions")
    if len(items) > MAX_BATCH_ITEMS:
        raise Invalid(
            f"at most {MAX_BATCH_ITEMS} completions per batch, got {len(items)}",
            path="completions",
        )
    parsed: list[Item] = []
    for index, raw in enumerate(items):
        try:
            parsed.append(parse_item(raw))
        except Invalid as exc:
            where = f"completions.{index}" + (f".{exc.path}" if exc.path else "")
            raise Invalid(f"{where}: {exc.message}", path=where) from None
    return parsed


def parse_batch_body(body: bytes) -> list[Item]:
    """A ``{"completions": [...]}`` body → validated items (nothing is written on error)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON") from None
    if b"\\u0000" in body:
        raise Invalid("JSON strings must not contain NUL characters (\\u0000)")
    if not isinstance(document, dict) or "completions" not in document:
        raise Invalid('body must be an object like {"completions": [...]}', path="completions")
    extra = sorted(k for k in document if k != "completions")
    if extra:
        raise Invalid(f"unknown field '{extra[0]}'", path=extra[0])
    return parse_items(document["completions"])
