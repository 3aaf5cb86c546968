"""The gateway's value types: what to call (ModelSpec), with what (CallContext), and what comes
back (Delta). Plain dataclasses so chat jobs, the API and the CLI share them without a DB session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from plaudit.db.models import Model

DeltaKind = Literal["delta", "done", "error"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to call one registered model (a detached copy of its row)."""

    id: int
    org_id: str
    name: str
    adapter: str  # "openai" | "anthropic" | "http" | "local" | a plugin's name
    endpoint: str | None
    upstream_model: str | None
    secret: str | None = field(repr=False)  # never printed, not even by repr()
    default_params: dict[str, Any]
    input_template: dict[str, Any] | None
    output_path: str | None
    stream_path: str | None
    timeout_s: float = 60.0
    max_retries: int = 2
    concurrency: int = 8

    @property
    def upstream_name(self) -> str:
        """The model name sent upstream (defaults to the registered name)."""
        return self.upstream_model or self.name


def spec_from_row(model: Model) -> ModelSpec:
    """Snapshot a ``Model`` row, so calls never touch the ORM object (or its session)."""
    return ModelSpec(
        id=model.id,
        org_id=model.org_id,
        name=model.name,
        adapter=model.adapter,
        endpoint=model.endpoint,
        upstream_model=model.upstream_model,
        secret=model.secret,
        default_params=dict(model.default_params or {}),
        input_template=model.input_template,
        output_path=model.output_path,
        stream_path=model.stream_path,
        timeout_s=float(model.timeout_s if model.timeout_s is not None else 60.0),
        max_retries=int(model.max_retries if model.max_retries is not None else 2),
        concurrency=int(model.concurrency or 8),
    )


@dataclass
class CallContext:
    """One conversation state, as the model should see it.

    ``${prompt}`` in an input template is the last user message; ``${messages}`` the list.
    """

    messages: list[dict[str, Any]]  # OpenAI-style chat messages, oldest first
    dynamic_attrs: dict[str, Any] = field(default_factory=dict)  # {"preamble": "..."}
    params: dict[str, Any] = field(default_factory=dict)  # per-call overrides of default_params
    tags: list[str] = field(default_factory=list)  # tags for the logged completion

    @property
    def prompt(self) -> str:
        """Text of the last user message ('' when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        return ""


def content_text(content: Any) -> str:
    """Flatten OpenAI message content (a string or a list of parts) to its text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return str(content)


@dataclass(frozen=True)
class Delta:
    """What ``Gateway.stream_many`` yields, tagged by model id."""

    model_id: int
    kind: DeltaKind
    text: str = ""  # delta: the new text; done: the full reply
    error: str | None = None  # error: a clear message naming the model, never a secret
    completion_id: str | None = None  # the completion row recorded for this call
    latency_ms: float | None = None
    ttft_ms: float | None = None
    usage: dict[str, Any] | None = None  # done: token counts when the upstream reports them

    @property
    def terminal(self) -> bool:
        return self.kind != "delta"
