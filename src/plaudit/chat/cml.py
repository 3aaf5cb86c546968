"""Parse the ``<cml:ai_chat_feedback …/>`` tag into a frozen :class:`ChatFeedbackConfig`.

Real CML carries other markup around the tag; only the tag itself is read. Every attribute of
seed 004 (plus the graphical editor's ``disable-paste`` and prompt validators) is parsed and
checked; any mistake raises :class:`plaudit.errors.Invalid` whose ``path`` is the attribute.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from plaudit.errors import Invalid

TAG = "cml:ai_chat_feedback"
DEFAULT_LIVE_PREAMBLE_INSTRUCTION = (
    "Please provide the model with the necessary context for the conversation."
)
VALIDATORS = frozenset({"required", "spelling", "grammar", "spelling-grammar"})

_TAG_RE = re.compile(r"<\s*cml:ai_chat_feedback\b(?P<attrs>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_ATTR_RE = re.compile(
    r"\s*(?P<name>[A-Za-z_][\w:.-]*)\s*(?:=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\s\"'=<>`/]+)))?"
)
_COLUMN_RE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_BOOL = {"true": True, "false": False}
_ALIASES = {"num-response": "num-responses"}
_KNOWN = frozenset(
    {
        "label",
        "name",
        "source-data",
        "preamble",
        "live-preamble",
        "review-data",
        "seed",
        "min-turns",
        "max-turns",
        "custom-response",
        "rich",
        "expanded-data",
        "enhanced",
        "num-responses",
        "allow-continue",
        "show-feedback-answers",
        "allow-custom-response-edit",
        "validates",
        "disable-paste",
        "regex",
        "min-length",
        "max-length",
    }
)


@dataclass(frozen=True)
class ChatFeedbackConfig:
    """Everything the tag says, with the document's defaults applied."""

    source_model_ids: tuple[int, ...] | None  # literal ``source-data`` (one id or a list)
    source_column: str | None  # ``source-data="{{column}}"``: model ids come from each unit
    name: str = "annotation"
    label: str | None = None
    preamble: str | None = None  # may contain {{column}} placeholders
    live_preamble: bool = False
    live_preamble_instruction: str | None = None
    review_data: str | None = None
    seed: str | None = None
    min_turns: int = 0
    max_turns: int | None = None
    custom_response: bool = False
    rich: bool = False
    expanded_data: bool = True
    expanded_data_explicit: bool = False
    enhanced: bool = False
    num_responses: int | None = None  # None: every configured model answers
    allow_continue: bool = False
    show_feedback_answers: bool = True
    allow_custom_response_edit: bool = False
    validates: tuple[str, ...] = ()
    disable_paste: bool = False
    regex: str | None = None
    min_length: int | None = None
    max_length: int | None = None

    @property
    def required(self) -> bool:
        return "required" in self.validates

    def preamble_columns(self) -> list[str]:
        return _COLUMN_RE.findall(self.preamble or "")

    def referenced_columns(self) -> list[str]:
        """CSV columns the tag needs in the units' header, in attribute order."""
        columns = [self.source_column, self.review_data, self.seed, *self.preamble_columns()]
        return list(dict.fromkeys(c for c in columns if c))

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        if self.source_model_ids is not None:
            data["source_model_ids"] = list(self.source_model_ids)
        data["validates"] = list(self.validates)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatFeedbackConfig:
        values = dict(data)
        if values.get("source_model_ids") is not None:
            values["source_model_ids"] = tuple(values["source_model_ids"])
        values["validates"] = tuple(values.get("validates") or ())
        return cls(**values)


def resolve_placeholders(text: str, row: dict[str, Any]) -> str:
    """Replace ``{{column}}`` with the unit's value (missing columns become empty)."""
    return _COLUMN_RE.sub(lambda m: str(row.get(m.group(1), "") or ""), text)


def find_tag_attributes(cml: str) -> dict[str, str]:
    """The attributes of the one ``<cml:ai_chat_feedback>`` tag in ``cml``."""
    if not isinstance(cml, str) or not cml.strip():
        raise Invalid("cml must contain a <cml:ai_chat_feedback/> tag", path="cml")
    tags = list(_TAG_RE.finditer(cml))
    if not tags:
        raise Invalid("cml has no <cml:ai_chat_feedback/> tag", path="cml")
    if len(tags) > 1:
        raise Invalid("cml has more than one <cml:ai_chat_feedback/> tag", path="cml")
    text = tags[0].group("attrs").rstrip()
    text = text[:-1] if text.endswith("/") else text
    attrs: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _ATTR_RE.match(text, pos)
        if match is None or match.end() == pos:
            raise Invalid(
                f"cml: cannot read the tag's attributes near {text[pos : pos + 30]!r}", path="cml"
            )
        raw_name = match.group("name").lower()
        name = _ALIASES.get(raw_name, raw_name)
        if name not in _KNOWN:
            raise Invalid(f"{raw_name}: unknown attribute of <cml:ai_chat_feedback>", path=raw_name)
        if name in attrs:
            raise Invalid(f"{raw_name}: attribute given twice", path=raw_name)
        value = next((v for v in match.group("dq", "sq", "bare") if v is not None), None)
        attrs[name] = html.unescape(value) if value is not None else "true"
        pos = match.end()
    return attrs


def parse_cml(
    cml: str,
    *,
    configured_model_ids: Collection[int] | None = None,
    header: Iterable[str] | None = None,
) -> ChatFeedbackConfig:
    """Parse and check the tag; optionally against the org's models and the units' header."""
    attrs = find_tag_attributes(cml)
    config = _build(attrs)
    if configured_model_ids is not None:
        check_models(config, configured_model_ids)
    if header is not None:
        check_header(config, header)
    return config


def _build(attrs: dict[str, str]) -> ChatFeedbackConfig:
    if "source-data" not in attrs:
        raise Invalid(
            "source-data: required (a model id, a list like [87,88,89] or {{column}})",
            path="source-data",
        )
    ids, column = _source_data(attrs["source-data"])
    name = attrs.get("name", "annotation").strip()
    if not re.fullmatch(r"[A-Za-z_][\w-]{0,99}", name):
        raise Invalid(
            f"name: {name!r} is not a valid field name (letters, digits, _ and -)", path="name"
        )
    live, instruction = _live_preamble(attrs.get("live-preamble"))
    num = _int(attrs, "num-responses", minimum=1)
    expanded_explicit = "expanded-data" in attrs
    expanded = _bool(attrs, "expanded-data", True)
    if num is not None:
        if expanded_explicit and expanded:
            raise Invalid(
                'expanded-data: "true" is not supported together with num-responses',
                path="expanded-data",
            )
        expanded = False  # the document: expanded data is not supported with num-responses
    if ids is not None and num is not None and num > len(ids):
        raise Invalid(
            f"num-responses: {num} is more than the {len(ids)} configured model(s)",
            path="num-responses",
        )
    min_turns = _int(attrs, "min-turns", minimum=0) or 0
    max_turns = _int(attrs, "max-turns", minimum=1)
    if max_turns is not None and min_turns > max_turns:
        raise Invalid(
            f"min-turns: {min_turns} is more than max-turns ({max_turns})", path="min-turns"
        )
    validates = tuple(attrs.get("validates", "").replace(",", " ").split())
    for validator in validates:
        if validator not in VALIDATORS:
            raise Invalid(
                f"validates: unknown validator {validator!r} (known: "
                f"{', '.join(sorted(VALIDATORS))})",
                path="validates",
            )
    regex = attrs.get("regex")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise Invalid(f"regex: not a valid regular expression ({exc})", path="regex") from None
    min_length = _int(attrs, "min-length", minimum=0)
    max_length = _int(attrs, "max-length", minimum=1)
    if min_length is not None and max_length is not None and min_length > max_length:
        raise Invalid(
            f"min-length: {min_length} is more than max-length ({max_length})", path="min-length"
        )
    return ChatFeedbackConfig(
        source_model_ids=ids,
        source_column=column,
        name=name,
        label=attrs.get("label"),
        preamble=_text(attrs, "preamble"),
        live_preamble=live,
        live_preamble_instruction=instruction,
        review_data=_column(attrs, "review-data"),
        seed=_column(attrs, "seed"),
        min_turns=min_turns,
        max_turns=max_turns,
        custom_response=_bool(attrs, "custom-response", False),
        rich=_bool(attrs, "rich", False),
        expanded_data=expanded,
        expanded_data_explicit=expanded_explicit,
        enhanced=_bool(attrs, "enhanced", False),
        num_responses=num,
        allow_continue=_bool(attrs, "allow-continue", False),
        show_feedback_answers=_bool(attrs, "show-feedback-answers", True),
        allow_custom_response_edit=_bool(attrs, "allow-custom-response-edit", False),
        validates=validates,
        disable_paste=_bool(attrs, "disable-paste", False),
        regex=regex,
        min_length=min_length,
        max_length=max_length,
    )


def _source_data(value: str) -> tuple[tuple[int, ...] | None, str | None]:
    text = value.strip()
    column = _COLUMN_RE.fullmatch(text)
    if column:
        return None, column.group(1)
    if text.startswith("[") and text.endswith("]"):
        parts = [p.strip() for p in text[1:-1].split(",")]
    else:
        parts = [text]
    if not parts or not all(re.fullmatch(r"\d{1,12}", p) for p in parts):
        raise Invalid(
            f"source-data: {value!r} is not a model id, a list of model ids like "
            "[87,88,89], or a {{column}}",
            path="source-data",
        )
    ids = tuple(int(p) for p in parts)
    if len(set(ids)) != len(ids):
        raise Invalid(f"source-data: model ids repeat in {value!r}", path="source-data")
    return ids, None


def parse_model_ids(value: str) -> tuple[int, ...]:
    """A unit's model id column: ``18`` or ``[18,19]`` (ValueError otherwise)."""
    try:
        ids, _ = _source_data(value)
    except Invalid:
        raise ValueError(f"{value!r} is not a model id or a list of model ids") from None
    assert ids is not None
    return ids


def _live_preamble(value: str | None) -> tuple[bool, str | None]:
    if value is None:
        return False, None
    text = value.strip()
    match = re.fullmatch(
        r"\[?\s*(true|false)\s*(?:,\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*)?\]?",
        text,
        re.I,
    )
    if match is None or (text.startswith("[") != text.endswith("]")):
        raise Invalid(
            f"live-preamble: expected [true] or [true,'your instruction'], got {value!r}",
            path="live-preamble",
        )
    enabled = match.group(1).lower() == "true"
    custom = match.group(2) if match.group(2) is not None else match.group(3)
    if not enabled:
        return False, None
    custom = custom.replace("\\'", "'").replace('\\"', '"').strip() if custom else None
    return True, custom or DEFAULT_LIVE_PREAMBLE_INSTRUCTION


def _bool(attrs: dict[str, str], name: str, default: bool) -> bool:
    if name not in attrs:
        return default
    value = attrs[name].strip().lower()
    if value not in _BOOL:
        raise Invalid(f'{name}: expected "true" or "false", got {attrs[name]!r}', path=name)
    return _BOOL[value]


def _int(attrs: dict[str, str], name: str, *, minimum: int) -> int | None:
    if name not in attrs:
        return None
    value = attrs[name].strip()
    if not re.fullmatch(r"-?\d{1,9}", value):
        raise Invalid(f"{name}: expected a whole number, got {attrs[name]!r}", path=name)
    number = int(value)
    if number < minimum:
        raise Invalid(f"{name}: must be at least {minimum}, got {number}", path=name)
    return number


def _text(attrs: dict[str, str], name: str) -> str | None:
    value = attrs.get(name)
    return value if value and value.strip() else None


def _column(attrs: dict[str, str], name: str) -> str | None:
    value = attrs.get(name)
    if value is None:
        return None
    text = value.strip()
    inner = _COLUMN_RE.fullmatch(text)
    text = inner.group(1) if inner else text
    if not text:
        raise Invalid(f"{name}: expected a column name of the units' CSV", path=name)
    return text


def check_models(config: ChatFeedbackConfig, configured: Collection[int]) -> None:
    """Every literal ``source-data`` id must be a model configured in the organization."""
    for model_id in config.source_model_ids or ():
        if model_id not in configured:
            raise Invalid(
                f"source-data: model {model_id} is not configured in this organization",
                path="source-data",
            )


def check_header(config: ChatFeedbackConfig, header: Iterable[str]) -> None:
    """Every column the tag refers to must be in the units' CSV header."""
    columns = set(header)
    pairs = [
        ("source-data", config.source_column),
        ("review-data", config.review_data),
        ("seed", config.seed),
    ] + [("preamble", c) for c in config.preamble_columns()]
    for attribute, column in pairs:
        if column and column not in columns:
            raise Invalid(
                f"{attribute}: column {column!r} is not in the units' CSV header", path=attribute
            )
