"""The form engine: metaschema checks, $ref resolution at save time, JSON paths of errors."""

from __future__ import annotations

import pytest

from plaudit.core.forms import check_schema, validate_values, validation_errors
from plaudit.errors import Invalid


def test_paths_name_nested_and_array_positions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object",
                      "properties": {"x": {"type": "integer"}}}},
        },
    }  # fmt: skip
    errors = validation_errors(schema, {"items": [{"x": 1}, {"x": "no"}]})
    assert errors == [{"path": "$.items[1].x", "message": "'no' is not of type 'integer'"}]
    with pytest.raises(Invalid) as caught:
        validate_values(schema, {"items": [{"x": []}]})
    assert caught.value.path == "json_values.items[0].x"
    assert caught.value.details == [
        {"path": "$.items[0].x", "message": "[] is not of type 'integer'"}
    ]


def test_local_refs_resolve_and_missing_ones_are_refused() -> None:
    good = {"type": "object", "$defs": {"s": {"type": "string"}},
            "properties": {"a": {"$ref": "#/$defs/s"}}}  # fmt: skip
    assert check_schema(good) is good
    assert validation_errors(good, {"a": 1})[0]["path"] == "$.a"
    for ref in ("#/$defs/nope", "https://example.com/schema.json", "other.json#/x"):
        bad = {"type": "object", "properties": {"a": {"items": {"$ref": ref}}}}
        with pytest.raises(Invalid) as caught:
            check_schema(bad)
        assert "$.properties.a.items" in caught.value.message and ref in caught.value.message


def test_ref_shaped_data_is_not_a_reference() -> None:
    schema = {"type": "object", "properties": {
        "$ref": {"type": "string"},  # a property called "$ref"
        "c": {"const": {"$ref": "#/missing"}}, "e": {"enum": [{"$ref": "x"}]},
        "d": {"default": {"$ref": "#/nowhere"}},
    }}  # fmt: skip
    assert check_schema(schema) is schema


@pytest.mark.parametrize(
    "schema", [[], "x", {"type": "array"}, {"type": 3}, {"properties": {"a": {"pattern": "("}}}]
)
def test_not_a_usable_schema(schema: object) -> None:
    with pytest.raises(Invalid) as caught:
        check_schema(schema)
    assert caught.value.path == "json_schema"


def test_deep_schema_walk_has_no_recursion_limit() -> None:
    schema: dict[str, object] = {"type": "object"}
    node = schema
    for _ in range(5000):  # far past Python's recursion limit
        child: dict[str, object] = {}
        node["not"] = child
        node = child
    node["$ref"] = "#/nope"
    with pytest.raises(Invalid):
        from plaudit.core.forms import _check_refs

        _check_refs(schema, "json_schema")
