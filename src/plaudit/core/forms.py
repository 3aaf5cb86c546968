"""The one form engine: JSON Schema (Draft 2020-12) for feedback tasks and chat ontologies.

Schemas are checked against the metaschema when saved; values are checked against the saved
schema, and every error carries the JSON path of the offending value.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable

from plaudit.errors import Invalid

# No remote $ref resolution: a schema must be self-contained (and the server never fetches URLs).
_EMPTY_REGISTRY: Registry[Any] = Registry()


def json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def check_schema(schema: Any, *, field: str = "json_schema") -> dict[str, Any]:
    """Raise ``Invalid`` naming what is wrong unless ``schema`` is a usable JSON Schema."""
    if not isinstance(schema, dict):
        raise Invalid(f"{field} must be a JSON object (a JSON Schema)", path=field)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = json_path(exc.path)
        raise Invalid(
            f"{field} is not a valid JSON Schema: {exc.message} (at {where})", path=field
        ) from None
    if schema.get("type", "object") != "object":
        raise Invalid(f'{field} must describe an object ("type": "object")', path=field)
    try:  # refuse unresolvable $refs now rather than at the first submission
        _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)).validate({})
    except Unresolvable as exc:
        raise Invalid(f"{field} has a $ref that cannot be resolved: {exc}", path=field) from None
    except ValidationError:
        pass
    return schema


@lru_cache(maxsize=512)
def _validator(schema_json: bytes) -> Draft202012Validator:
    return Draft202012Validator(orjson.loads(schema_json), registry=_EMPTY_REGISTRY)


def validation_errors(schema: dict[str, Any], values: Any) -> list[dict[str, str]]:
    """Every way ``values`` breaks ``schema``, as ``{"path", "message"}`` dicts."""
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    try:
        errors = sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.path)))
    except Unresolvable as exc:
        return [{"path": "$", "message": f"schema reference cannot be resolved: {exc}"}]
    return [{"path": json_path(e.path), "message": e.message[:500]} for e in errors]


def validate_values(schema: dict[str, Any], values: Any, *, field: str = "json_values") -> None:
    errors = validation_errors(schema, values)
    if errors:
        first = errors[0]
        summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        raise Invalid(
            f"{field} does not match the task's schema: {summary}",
            path=f"{field}{first['path'][1:]}",
            details=errors,
        )
