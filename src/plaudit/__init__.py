"""plaudit: self-hosted human feedback for LLM output.

The package root is the SDK surface (see :mod:`plaudit.sdk`)::

    from plaudit import OpenAI
    client = OpenAI(tags=["my-app"])          # PLAUDIT_URL / PLAUDIT_API_KEY from the env
    with plaudit.tags("session-42"):
        r = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    plaudit.completion_id(r)

Names are imported on first use (module ``__getattr__``), so ``import plaudit`` stays cheap and
imports neither openai nor anthropic; server code lives in the subpackages.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "OpenAI": "plaudit.sdk.wrappers.openai",
    "AsyncOpenAI": "plaudit.sdk.wrappers.openai",
    "Anthropic": "plaudit.sdk.wrappers.anthropic",
    "AsyncAnthropic": "plaudit.sdk.wrappers.anthropic",
    "tags": "plaudit.sdk.context",
    "flush": "plaudit.sdk.transport",
    "completion_id": "plaudit.sdk.ids",
    "feedback": "plaudit.sdk.feedback",
    "FeedbackError": "plaudit.sdk.feedback",
    "configure": "plaudit.sdk.config",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plaudit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # next access skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
