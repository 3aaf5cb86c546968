"""Deterministic replies: the answer depends only on (model name, conversation).

Each API format parses its request into a :class:`Conversation`; this module turns it into text
(or a tool call) with a personality chosen from the model name, so side-by-side comparisons of
"different models" really differ, and repeated runs compare equal.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

DEFAULT_MODEL = "fake-neutral"
CONTEXT_CHARS = 40


@dataclass(frozen=True)
class Personality:
    """How one family of fake models talks; ``{q}`` is the quoted last user message."""

    name: str
    template: str
    after_tool: str
    description: str


PERSONALITIES: tuple[Personality, ...] = (
    Personality(
        "echo",
        "You said: {text}",
        "Tool said: {result}",
        "Repeats the last user message verbatim.",
    ),
    Personality(
        "terse",
        'Short answer to "{short}": yes.',
        "Result: {result}.",
        "Answers in a handful of words.",
    ),
    Personality(
        "verbose",
        'Thank you for your question, "{q}". Let me explain this thoroughly, step by step. '
        "First, it helps to restate the problem in plain words so that nothing is missed. "
        "Second, we consider the obvious approach and check whether it really fits. "
        "Third, we look at the edge cases, because that is where most surprises hide. "
        "Finally, we settle on the simplest approach that works. "
        "This is turn {turns} of our conversation, and I hope the detail is helpful.",
        "The tool has answered, and its result was: {result}. Taking that result into account, "
        "the question can now be answered in full, with every detail considered carefully.",
        "Long, structured answers with lots of words.",
    ),
    Personality(
        "pirate",
        'Arr, matey! Ye be askin\' "{q}". Hoist the sails, for the answer be plain as the '
        "open sea: aye, it can be done!",
        "Arr, the spyglass shows: {result}. Treasure found, matey!",
        "Talks like a pirate.",
    ),
    Personality(
        "formal",
        'Dear user, thank you for your enquiry regarding "{q}". Having considered the matter '
        "carefully, I am pleased to confirm that it can be addressed. Yours faithfully, "
        "the Assistant.",
        "Dear user, the requested tool reported the following result: {result}. "
        "Yours faithfully, the Assistant.",
        "Polite, formal letter style.",
    ),
    Personality(
        "neutral",
        'You asked: "{q}". Here is a helpful answer: start with the main point, weigh the '
        "options, and pick the simplest one that works.",
        "The tool returned: {result}. That should answer the question.",
        "A neutral, helpful default that quotes the last user message.",
    ),
)
_NEUTRAL = PERSONALITIES[-1]


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, reduced to role and plain text."""

    role: str
    text: str
    is_tool_result: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """A tool the client offered: name and JSON schema of its arguments."""

    name: str
    schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    """What every API format boils down to before the fake "thinks"."""

    model: str
    system: str
    turns: tuple[Turn, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    """``auto``, ``none``, ``required`` or the name of one forced tool."""
    max_tokens: int | None = None

    @property
    def last_user_text(self) -> str:
        """The newest user-authored text (tool results excluded)."""
        for turn in reversed(self.turns):
            if turn.role == "user" and not turn.is_tool_result:
                return turn.text
        return ""

    @property
    def ends_with_tool_result(self) -> bool:
        """True when the client just sent tool output back, so a text answer is due."""
        return bool(self.turns) and self.turns[-1].is_tool_result

    @property
    def prompt_tokens(self) -> int:
        """Fake token count: words of the system prompt plus every message."""
        return word_count(self.system) + sum(word_count(turn.text) for turn in self.turns)

    def digest(self) -> str:
        """Stable hash of the model and conversation, for deterministic ids."""
        payload = orjson.dumps(
            [self.model, self.system, [[t.role, t.text, t.is_tool_result] for t in self.turns]]
        )
        return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class ToolCall:
    """The single deterministic tool call the fake makes when offered tools."""

    id_suffix: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        """Arguments serialised as the OpenAI wire format wants them (a JSON string)."""
        return orjson.dumps(self.arguments).decode()


@dataclass(frozen=True)
class Reply:
    """The fake's answer: either text or one tool call, plus fake token counts."""

    text: str
    tool_call: ToolCall | None
    prompt_tokens: int
    completion_tokens: int
    truncated: bool
    """True when ``max_tokens`` cut the text (finish reason "length" / "max_tokens")."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def word_count(text: str) -> int:
    """Token counts are word counts: cheap, deterministic and easy to assert on."""
    return len(text.split())


def personality_for(model: str) -> Personality:
    """Pick a personality by substring of the model name; neutral if nothing matches."""
    lowered = model.lower()
    for personality in PERSONALITIES:
        if personality.name in lowered:
            return personality
    return _NEUTRAL


def model_names() -> list[str]:
    """One advertised model id per personality, for ``GET /v1/models``."""
    return [f"fake-{p.name}" for p in PERSONALITIES]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    text = _squash(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def context_note(system: str) -> str:
    """The small, deterministic trace of a system prompt that proves it reached the model."""
    squashed = _squash(system)
    return f" (context: {squashed[:CONTEXT_CHARS]})" if squashed else ""


def reply_text(conversation: Conversation) -> str:
    """The full text answer for a conversation (before any ``max_tokens`` cut)."""
    personality = personality_for(conversation.model)
    if conversation.ends_with_tool_result:
        text = personality.after_tool.format(result=_clip(conversation.turns[-1].text, 200))
    else:
        last = conversation.last_user_text
        text = personality.template.format(
            text=last,
            q=_clip(last, 120),
            short=" ".join(last.split()[:6]),
            turns=sum(1 for turn in conversation.turns if turn.role == "user"),
        )
    return text + context_note(conversation.system)


def _tool_to_call(conversation: Conversation) -> ToolSpec | None:
    if not conversation.tools or conversation.tool_choice == "none":
        return None
    if conversation.tool_choice not in ("auto", "required"):
        for tool in conversation.tools:
            if tool.name == conversation.tool_choice:
                return tool
    if conversation.tool_choice == "auto" and conversation.ends_with_tool_result:
        return None
    return conversation.tools[0]


def _example_value(schema: Mapping[str, Any], text: str) -> Any:
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return tool_arguments(schema, text)
    if kind == "null":
        return None
    return text


def tool_arguments(schema: Mapping[str, Any], text: str) -> dict[str, Any]:
    """Deterministic arguments that satisfy a JSON schema's property types.

    Strings get the last user message so the call visibly relates to the question.
    """
    properties = schema.get("properties") or {}
    if not isinstance(properties, Mapping):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else []
    names = names or list(properties)
    return {
        name: _example_value(
            properties[name] if isinstance(properties[name], Mapping) else {}, text
        )
        for name in names
    }


def make_reply(conversation: Conversation) -> Reply:
    """Decide between a tool call and text, then count fake tokens."""
    tool = _tool_to_call(conversation)
    if tool is not None:
        call = ToolCall(
            id_suffix=conversation.digest()[:24],
            name=tool.name,
            arguments=tool_arguments(tool.schema, _clip(conversation.last_user_text, 60)),
        )
        tokens = word_count(call.name) + word_count(call.arguments_json)
        return Reply("", call, conversation.prompt_tokens, tokens, truncated=False)
    text = reply_text(conversation)
    words = split_chunks(text)
    truncated = conversation.max_tokens is not None and len(words) > conversation.max_tokens
    if truncated and conversation.max_tokens is not None:
        text = "".join(words[: max(conversation.max_tokens, 0)])
    return Reply(text, None, conversation.prompt_tokens, word_count(text), truncated)


_CHUNK = re.compile(r"\s*\S+|\s+$")


def split_chunks(text: str) -> list[str]:
    """Split into word-sized stream chunks whose concatenation is exactly ``text``."""
    return _CHUNK.findall(text)


def text_of(content: object) -> str:
    """Plain text of a message ``content``: a string or a list of text-like parts/blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                value = part.get("text")
                if isinstance(value, str):
                    parts.append(value)
                elif "content" in part:
                    parts.append(text_of(part.get("content")))
        return "\n".join(p for p in parts if p)
    if isinstance(content, Mapping):
        return text_of([content])
    return str(content)
