"""Registers the built-in adapters (the local one imports llama-cpp only when called)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plaudit.gateway.hookspecs import hookimpl


@hookimpl
def register_adapters(register: Callable[[Any], None]) -> None:
    from plaudit.gateway.adapters.anthropic_adapter import AnthropicAdapter
    from plaudit.gateway.adapters.http_adapter import HTTPAdapter
    from plaudit.gateway.adapters.local_adapter import LocalAdapter
    from plaudit.gateway.adapters.openai_adapter import OpenAIAdapter

    for adapter in (OpenAIAdapter, AnthropicAdapter, HTTPAdapter, LocalAdapter):
        register(adapter)
