"""Input-schema templates (``${…}`` placeholders) and output paths (``choices[0].message.content``).

A template is any JSON value. A string that is exactly one placeholder is replaced by the
placeholder's JSON value (``"${messages}"`` → the message list); placeholders embedded in a
longer string are replaced by their text. Names are checked when the model is saved, so a typo
fails then, with the name in the error, instead of at the first chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from plaudit.errors import Invalid

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
WHOLE = re.compile(r"^\$\{([^}]*)\}$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
# Plain names, and prefixes followed by ".<any name>".
SIMPLE_NAMES = ("messages", "prompt", "system_prompt", "model", "params", "dynamic_attrs")
PREFIXES = ("params", "dynamic_attrs")
KNOWN_HELP = "${messages}, ${prompt}, ${system_prompt}, ${model}, ${params.<name>}, " \
    "${dynamic_attrs.<name>}"  # fmt: skip
PATH_TOKEN = re.compile(r'\.?([A-Za-z0-9_\-]+)|\[(-?\d+)\]|\["([^"]*)"\]|\[\'([^\']*)\'\]')


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def check_placeholder(name: str, where: str) -> None:
    name = name.strip()
    if name in SIMPLE_NAMES:
        return
    head, dot, rest = name.partition(".")
    if dot and head in PREFIXES and rest and all(NAME.match(p) for p in rest.split(".")):
        return
    raise Invalid(
        f"unknown placeholder '${{{name}}}' at {where or 'the top level'} of input_template; "
        f"known: {KNOWN_HELP}",
        path=f"input_template{'.' + where if where else ''}",
    )


def check_template(template: Any) -> list[str]:
    """Validate every placeholder; return their names (in order) or raise ``Invalid``."""
    names: list[str] = []
    for where, text in _strings(template, ""):
        if "${" in text and text.count("${") != len(PLACEHOLDER.findall(text)):
            raise Invalid(
                f"unclosed '${{' in input_template at {where or 'the top level'}",
                path=f"input_template.{where}" if where else "input_template",
            )
        for name in PLACEHOLDER.findall(text):
            check_placeholder(name, where)
            names.append(name.strip())
    return names


def _lookup(name: str, values: dict[str, Any]) -> Any:
    head, _, rest = name.partition(".")
    value = values.get(head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def render(template: Any, values: dict[str, Any]) -> Any:
    """The template with placeholders resolved from ``values`` (missing names → null / '')."""
    if isinstance(template, str):
        whole = WHOLE.match(template)
        if whole:
            return _lookup(whole.group(1).strip(), values)
        if "${" not in template:
            return template
        return PLACEHOLDER.sub(lambda m: _as_text(_lookup(m.group(1).strip(), values)), template)
    if isinstance(template, dict):
        return {key: render(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    return template


def parse_path(path: str, field: str = "output_path") -> list[str | int]:
    """``choices[0].message.content`` → ``["choices", 0, "message", "content"]``."""
    tokens: list[str | int] = []
    position = 0
    text = path.strip()
    if not text:
        raise Invalid(f"{field} is empty", path=field)
    while position < len(text):
        match = PATH_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Invalid(
                f"{field} {path!r} is not a path like 'choices[0].message.content' "
                f"(stuck at character {position + 1})",
                path=field,
            )
        key, index, dq, sq = match.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            tokens.append(key if key is not None else dq if dq is not None else sq)
        position = match.end()
    return tokens


_MISSING = object()


def extract(document: Any, tokens: list[str | int]) -> Any:
    """The value at ``tokens`` in ``document``, or ``MISSING`` when the path does not exist."""
    value = document
    for token in tokens:
        if isinstance(token, int):
            if not isinstance(value, list) or not -len(value) <= token < len(value):
                return _MISSING
            value = value[token]
        else:
            if not isinstance(value, dict) or token not in value:
                return _MISSING
            value = value[token]
    return value


MISSING = _MISSING
