"""The one form engine: JSON Schema (Draft 2020-12) for feedback tasks and chat ontologies.

Schemas are checked against the metaschema when saved; values are checked against the saved
schema, and every error carries the JSON path of the offending value.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

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
    _check_refs(schema, field)
    return schema


# Keywords whose values are data, not subschemas: a {"$ref": …} inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_ROOT = "urn:plaudit:schema"


def _check_refs(schema: dict[str, Any], field: str) -> None:
    """Refuse every ``$ref`` that does not resolve inside the schema itself, now rather than
    at the first submission (the server never fetches remote schemas)."""
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    resolver = _EMPTY_REGISTRY.with_resource(_ROOT, resource).resolver(base_uri=_ROOT)
    if any("$id" in node for node, _path in _subschemas(schema) if node is not schema):
        return  # nested base URIs: resolution is left to validation time
    for node, path in _subschemas(schema):
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise Invalid(
                f"{field} has a $ref that cannot be resolved: {ref!r} (at {json_path(path)}); "
                "references must point inside the schema",
                path=field,
            ) from None


def _subschemas(schema: dict[str, Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    found: list[tuple[dict[str, Any], list[Any]]] = []
    stack: list[tuple[Any, list[Any]]] = [(schema, [])]
    while stack:  # iterative: no recursion limit to hit on deep schemas
        node, path = stack.pop()
        if isinstance(node, dict):
            found.append((node, path))
            stack.extend(
                (value, [*path, key]) for key, value in node.items() if key not in _DATA_KEYWORDS
            )
        elif isinstance(node, list):
            stack.extend((value, [*path, i]) for i, value in enumerate(node))
    return found


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
