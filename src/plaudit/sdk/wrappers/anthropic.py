"""Drop-in subclasses of the official ``anthropic`` clients that log every call to plaudit.

``messages.create`` (streamed or not) and ``messages.stream`` are logged, sync and async.
Streams pass through untouched; the assembled message is logged when the stream ends, is closed
or is dropped. API errors are logged as failed completions and re-raised unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from time import perf_counter, time_ns
from typing import Any

import anthropic
import orjson
from anthropic.resources.messages import AsyncMessages, Messages

from plaudit.sdk import ids
from plaudit.sdk.calls import copy_lists, jsonable, log_result, new_call

__all__ = ["Anthropic", "AsyncAnthropic"]

_API_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_API_REQUEST = "_AsyncMessageStreamManager__api_request"


def assemble_message(events: list[Any]) -> dict[str, Any]:
    """Raw message stream events → one Message-shaped dict (text, tool use, usage)."""
    message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, list[str]] = {}
    for event in events:
        data = jsonable(event)
        kind = data.get("type")
        if kind == "message_start":
            message.update(data.get("message") or {})
            message["content"] = []
        elif kind == "content_block_start":
            blocks[data.get("index", len(blocks))] = dict(data.get("content_block") or {})
        elif kind == "content_block_delta":
            block = blocks.setdefault(data.get("index", 0), {"type": "text", "text": ""})
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                partial_json.setdefault(data.get("index", 0), []).append(
                    delta.get("partial_json", "")
                )
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
        elif kind == "message_delta":
            message.update({k: v for k, v in (data.get("delta") or {}).items() if v is not None})
            usage = {**(message.get("usage") or {}), **(data.get("usage") or {})}
            message["usage"] = {k: v for k, v in usage.items() if v is not None}
    for index, parts in partial_json.items():
        text = "".join(parts)
        try:
            blocks[index]["input"] = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            blocks[index]["input"] = text
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


class _Messages(Messages):
    def create(self, *args: Any, **kwargs: Any) -> Any:
        started_ns, started = time_ns(), perf_counter()
        try:
            result = super().create(*args, **kwargs)
        except BaseException as exc:
            new_call("anthropic", "chat", kwargs, self._client, started_ns, started).fail(exc)
            raise
        if isinstance(result, anthropic.Stream):
            call = new_call("anthropic", "chat", kwargs, self._client, started_ns, started)
            return call.watch_stream(result, assemble_message)
        log_result("anthropic", "chat", kwargs, self._client, started_ns, started, result)
        return result

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        manager = super().stream(*args, **kwargs)
        original = getattr(manager, _API_REQUEST, None)
        if original is None:  # pragma: no cover - an SDK layout we do not know
            return manager
        request = {**kwargs, "stream": True}
        call = new_call("anthropic", "chat", request, self._client, time_ns(), perf_counter())
        ids.remember(manager, call.started_ns, call.seq)

        def api_request() -> Any:
            try:
                raw = original()
            except BaseException as exc:
                call.fail(exc)
                raise
            return call.watch_stream(raw, assemble_message)

        setattr(manager, _API_REQUEST, api_request)
        return manager


class _AsyncMessages(AsyncMessages):
    async def create(self, *args: Any, **kwargs: Any) -> Any:
        copy_lists(kwargs)  # before awaiting: other tasks may change the lists meanwhile
        started_ns, started = time_ns(), perf_counter()
        try:
            result = await super().create(*args, **kwargs)
        except BaseException as exc:
            new_call("anthropic", "chat", kwargs, self._client, started_ns, started).fail(exc)
            raise
        if isinstance(result, anthropic.AsyncStream):
            call = new_call("anthropic", "chat", kwargs, self._client, started_ns, started)
            return call.watch_stream(result, assemble_message, aiterator=True)
        log_result("anthropic", "chat", kwargs, self._client, started_ns, started, result)
        return result

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        manager = super().stream(*args, **kwargs)
        original = getattr(manager, _ASYNC_API_REQUEST, None)
        if original is None:  # pragma: no cover - an SDK layout we do not know
            return manager
        request = {**kwargs, "stream": True}
        call = new_call("anthropic", "chat", request, self._client, time_ns(), perf_counter())
        ids.remember(manager, call.started_ns, call.seq)

        async def api_request() -> Any:
            try:
                raw = await original
            except BaseException as exc:
                call.fail(exc)
                raise
            return call.watch_stream(raw, assemble_message, aiterator=True)

        setattr(manager, _ASYNC_API_REQUEST, api_request())
        return manager


class Anthropic(anthropic.Anthropic):
    """``anthropic.Anthropic`` that logs to plaudit. Extra argument: ``tags``."""

    def __init__(self, *args: Any, tags: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plaudit_tags = tuple(tags or ())

    @cached_property
    def messages(self) -> _Messages:
        return _Messages(self)


class AsyncAnthropic(anthropic.AsyncAnthropic):
    """``anthropic.AsyncAnthropic`` that logs to plaudit. Extra argument: ``tags``."""

    def __init__(self, *args: Any, tags: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plaudit_tags = tuple(tags or ())

    @cached_property
    def messages(self) -> _AsyncMessages:
        return _AsyncMessages(self)
