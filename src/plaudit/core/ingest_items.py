"""Fast validation of batch-ingest items (the hot path: plain checks, no per-item pydantic).

The rules mirror :class:`plaudit.schemas.completions.CompletionWrite`, so a completion accepted by
``PUT /api/v1/completions/{id}`` is accepted by the batch endpoint and vice versa: the fields come
out exactly as :func:`plaudit.core.completions.clean_fields` makes them. Each item is checked in
one pass; its JSON columns are serialised once here, both to bound their nesting depth cheaply and
to be stored as is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from plaudit.core.completions import STATUSES, check_id, check_latency
from plaudit.core.tags import normalise_tags
from plaudit.db.base import new_id
from plaudit.errors import BadRequest, Invalid

MAX_BATCH_ITEMS = 5000
FIELDS = frozenset(
    {"id", "status", "kind", "model", "provider", "request", "response", "usage", "latency_ms",
     "ttft_ms", "error", "session_id", "tags", "metadata", "created_at"}
)  # fmt: skip
_STRING_LIMITS = (("kind", 16), ("model", 200), ("provider", 64), ("session_id", 64),
                  ("error", 100_000))  # fmt: skip
_STATUSES = frozenset(STATUSES)
MAX_DEPTH = 64  # what every other JSON body is held to (plaudit.api.jsonio)
# A field value may nest this many levels itself (it sits 2 levels below the item's object).
_VALUE_DEPTH = MAX_DEPTH - 2

Item = tuple[str, dict[str, Any]]


@dataclass
class ParsedBatch:
    """Validated items plus, per item, its JSON columns already encoded for storage."""

    items: list[Item]
    encoded: list[dict[str, str]]
    # Parses and validates the same body again (set when the items came from a body), so a
    # holder can let go of the items and get them back only if it needs them.
    reparse: Callable[[], ParsedBatch] | None = None


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


def _encode(field: str, value: Any) -> str:
    """``value`` as stored JSON text; refuses values nesting deeper than the body limit.

    A value nesting ``d`` levels has at least ``d`` containers, so its JSON is at least ``2d``
    characters long and holds at least ``d`` ``{``/``[`` (brackets inside strings only raise
    that count): the exact walk runs only for the rare value that passes both cheap bounds.
    Keys are strings (the value came from ``orjson.loads``), so no ``OPT_NON_STR_KEYS``.
    """
    text = orjson.dumps(value).decode()
    if (
        len(text) > 2 * _VALUE_DEPTH
        and text.count("{") + text.count("[") > _VALUE_DEPTH
        and _nests_deeper_than(value, _VALUE_DEPTH)
    ):
        raise Invalid(f"{field} nests deeper than {MAX_DEPTH} levels", path=field)
    return text


def _object(field: str, value: Any) -> dict[str, Any]:
    """request/response: an object, or (as log10 sends them) a JSON string of one."""
    if value is None or value == "":
        return {}
    if type(value) is str:
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise Invalid(f"{field} is a string but not valid JSON", path=field) from None
    if type(value) is not dict:
        raise Invalid(f"{field} must be a JSON object", path=field)
    return value


def _check_scalars(raw: dict[str, Any]) -> None:
    get = raw.get
    for field, limit in _STRING_LIMITS:
        value = get(field)
        if value is None:
            continue
        if type(value) is not str:
            raise Invalid(f"{field} must be a string", path=field)
        if len(value) > limit:
            raise Invalid(f"{field} is longer than {limit} characters", path=field)
    for field in ("latency_ms", "ttft_ms"):
        value = get(field)
        if value is None:
            continue
        kind = type(value)
        if kind is not float and kind is not int:
            raise Invalid(f"{field} must be a number", path=field)  # bool is not int here
        check_latency(field, value)
    if "status" in raw and raw["status"] not in _STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", path="status")


def _created_at(value: Any) -> datetime:
    message = "created_at must be an ISO 8601 date-time string"
    if not isinstance(value, str):
        raise Invalid(message, path="created_at")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(message, path="created_at") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def parse_item(raw: Any) -> tuple[str, dict[str, Any], dict[str, str]]:
    """One item → ``(id, fields, encoded)``: ``fields`` ready for ``upsert_completions``,
    ``encoded`` its JSON columns as stored text; raises ``Invalid``."""
    if type(raw) is not dict:
        raise Invalid("each completion must be a JSON object", path="")
    if not FIELDS.issuperset(raw):
        unknown = sorted(k for k in raw if k not in FIELDS)[0]
        raise Invalid(f"unknown field '{unknown}'", path=unknown)
    completion_id = raw.get("id")
    if completion_id is None:
        completion_id = new_id()
    elif type(completion_id) is not str:
        raise Invalid("id must be a string", path="id")
    else:
        check_id(completion_id)
    _check_scalars(raw)
    # Copy the item minus what is not a column as is (request, response and tags are replaced
    # below when present): cheaper than building the dict key by key.
    fields = raw.copy()
    pop = fields.pop
    pop("id", None)
    pop("metadata", None)
    pop("created_at", None)
    if "kind" in fields and fields["kind"] is None:  # NOT NULL: null means "not given" (PUT too)
        del fields["kind"]
    encoded: dict[str, str] = {}
    for field in ("request", "response"):
        if field in raw:
            value = raw[field]
            if value is not None and type(value) is not dict and type(value) is not str:
                if type(value) is list:  # as deep as the body limit: say so, as for objects
                    _encode(field, value)
                raise Invalid(f"{field} must be a JSON object", path=field)
            fields[field] = value = _object(field, value)
            encoded[field] = _encode(field, value)
    usage = raw.get("usage")
    if usage is not None:
        if type(usage) is not dict:
            raise Invalid("usage must be a JSON object", path="usage")
        encoded["usage"] = _encode("usage", usage)
    metadata = raw.get("metadata")
    if metadata is not None:
        if type(metadata) is not dict:
            raise Invalid("metadata must be a JSON object", path="metadata")
        if metadata:
            encoded["extra"] = _encode("metadata", metadata)
            fields["extra"] = metadata
    if "tags" in raw:
        tags = raw["tags"]
        if tags is None:
            tags = []
        elif type(tags) is not list:
            raise Invalid("tags must be a list of strings", path="tags")
        fields["tags"] = normalise_tags(tags)
    if raw.get("created_at") is not None:
        fields["created_at"] = _created_at(raw["created_at"])
    return completion_id, fields, encoded


def parse_items(items: Any) -> ParsedBatch:
    """Validate every item; the first bad one raises ``Invalid`` naming its index and field."""
    if not isinstance(items, list):
        raise Invalid("completions must be a list", path="completions")
    if len(items) > MAX_BATCH_ITEMS:
        raise Invalid(
            f"at most {MAX_BATCH_ITEMS} completions per batch, got {len(items)}",
            path="completions",
        )
    parsed: list[Item] = []
    encoded: list[dict[str, str]] = []
    for index, raw in enumerate(items):
        try:
            completion_id, fields, columns = parse_item(raw)
        except Invalid as exc:
            where = f"completions.{index}" + (f".{exc.path}" if exc.path else "")
            raise Invalid(f"{where}: {exc.message}", path=where) from None
        parsed.append((completion_id, fields))
        encoded.append(columns)
    return ParsedBatch(parsed, encoded)


def parse_batch_body(body: bytes) -> ParsedBatch:
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
    parsed = parse_items(document["completions"])
    parsed.reparse = lambda: parse_batch_body(body)
    return parsed
