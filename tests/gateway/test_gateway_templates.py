"""Input-schema templates and output paths (pure functions, no I/O)."""

from __future__ import annotations

import pytest

from plaudit.errors import Invalid
from plaudit.gateway.templates import MISSING, check_template, extract, parse_path, render

VALUES = {
    "messages": [{"role": "user", "content": "hi"}],
    "prompt": "hi",
    "params": {"temperature": 0.5, "max_tokens": 10},
    "dynamic_attrs": {"preamble": "You are kind."},
    "model": "m",
    "system_prompt": None,
}


def test_whole_placeholders_keep_json_types_and_embedded_ones_become_text():
    template = {
        "messages": "${messages}",
        "temperature": "${params.temperature}",
        "preamble_override": "${dynamic_attrs.preamble}",
        "note": "t=${params.temperature}; ${ prompt }!",
        "nested": [{"x": "${params.max_tokens}"}, 3, True, None],
        "missing": "${dynamic_attrs.absent}",
        "missing_text": "[${dynamic_attrs.absent}]",
    }
    assert render(template, VALUES) == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5,
        "preamble_override": "You are kind.",
        "note": "t=0.5; hi!",
        "nested": [{"x": 10}, 3, True, None],
        "missing": None,
        "missing_text": "[]",
    }


def test_known_placeholders_are_listed():
    names = check_template({"a": "${messages}", "b": ["x ${prompt} ${params.top_p}"]})
    assert names == ["messages", "prompt", "params.top_p"]


@pytest.mark.parametrize(
    ("template", "name", "path"),
    [
        ({"p": "${promt}"}, "${promt}", "input_template.p"),
        ({"a": [{"b": "x ${dynamic.preamble}"}]}, "${dynamic.preamble}", "input_template.a[0].b"),
        ({"p": "${params.}"}, "${params.}", "input_template.p"),
        ({"p": "${}"}, "${}", "input_template.p"),
    ],
)
def test_unknown_placeholders_are_rejected_by_name(template, name, path):
    with pytest.raises(Invalid) as caught:
        check_template(template)
    assert name in caught.value.message
    assert caught.value.path == path


def test_unclosed_placeholder_is_rejected():
    with pytest.raises(Invalid, match="unclosed"):
        check_template({"p": "${prompt"})


def test_paths_parse_and_extract():
    document = {"choices": [{"message": {"content": "hello", "a.b": 1}}], "x": [[1, 2]]}
    assert parse_path("choices[0].message.content") == ["choices", 0, "message", "content"]
    assert extract(document, parse_path("choices[0].message.content")) == "hello"
    assert extract(document, parse_path('choices[0].message["a.b"]')) == 1
    assert extract(document, parse_path("x[0][-1]")) == 2
    assert extract(document, parse_path("choices[1].message")) is MISSING
    assert extract(document, parse_path("choices.message")) is MISSING


@pytest.mark.parametrize("path", ["", "choices[x]", "a..b", "a[0"])
def test_bad_paths_are_rejected(path):
    with pytest.raises(Invalid):
        parse_path(path)
