"""Drop-in subclasses of the official ``openai`` clients that log every call to plaudit.

``plaudit.OpenAI(tags=[...], **openai_kwargs)`` is an ``openai.OpenAI``; ``chat.completions.create``
and ``responses.create`` (sync and async, streamed or not) are logged. Streams are passed through
untouched; the assembled result is logged when the stream ends, is closed or is dropped. API
errors are logged as failed completions and re-raised unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from time import perf_counter, time_ns
from typing import Any

import openai
from openai.resources.chat import AsyncChat, Chat
from openai.resources.chat.completions import AsyncCompletions, Completions

from plaudit.sdk.calls import copy_lists, jsonable, log_result, new_call

try:  # the Responses API arrived in openai 1.66
    from openai.resources.responses import AsyncResponses, Responses
except ImportError:  # pragma: no cover - old openai
    Responses = AsyncResponses = None  # type: ignore[misc,assignment]

__all__ = ["AsyncOpenAI", "OpenAI"]


# -- assembling streams (worker thread) ------------------------------------------------------


def assemble_chat(chunks: list[Any]) -> dict[str, Any]:
    """ChatCompletionChunks → one chat.completion-shaped dict (content, tool calls, usage)."""
    out: dict[str, Any] = {"object": "chat.completion", "choices": []}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        data = jsonable(chunk)
        for key in ("id", "model", "created", "system_fingerprint"):
            if data.get(key) is not None:
                out[key] = data[key]
        if data.get("usage"):
            out["usage"] = data["usage"]
        for choice in data.get("choices") or []:
            index = choice.get("index", 0)
            slot = choices.setdefault(
                index, {"index": index, "message": {"role": "assistant", "content": None}}
            )
            delta = choice.get("delta") or {}
            message = slot["message"]
            if delta.get("role"):
                message["role"] = delta["role"]
            if delta.get("content"):
                message["content"] = (message["content"] or "") + delta["content"]
            for call in delta.get("tool_calls") or []:
                calls = message.setdefault("tool_calls", [])
                at = call.get("index", len(calls))
                while len(calls) <= at:
                    calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
                target = calls[at]
                if call.get("id"):
                    target["id"] = call["id"]
                function = call.get("function") or {}
                target["function"]["name"] += function.get("name") or ""
                target["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]
    out["choices"] = [choices[i] for i in sorted(choices)]
    return out


def assemble_responses(events: list[Any]) -> dict[str, Any]:
    """Responses stream events → the final response (or what arrived before it stopped)."""
    response: dict[str, Any] = {}
    text: list[str] = []
    for event in events:
        data = jsonable(event)
        if isinstance(data.get("response"), dict):
            response = data["response"]  # created / in_progress / completed carry a snapshot
        if data.get("type") == "response.output_text.delta":
            text.append(data.get("delta") or "")
    if text and not response.get("output"):
        response["output_text"] = "".join(text)
    return response


# -- resources -------------------------------------------------------------------------------


class _ChatCompletions(Completions):
    def create(self, *args: Any, **kwargs: Any) -> Any:
        started_ns, started = time_ns(), perf_counter()
        try:
            result = super().create(*args, **kwargs)
        except BaseException as exc:
            new_call("openai", "chat", kwargs, self._client, started_ns, started).fail(exc)
            raise
        if isinstance(result, openai.Stream):
            call = new_call("openai", "chat", kwargs, self._client, started_ns, started)
            return call.watch_stream(result, assemble_chat)
        log_result("openai", "chat", kwargs, self._client, started_ns, started, result)
        return result


class _AsyncChatCompletions(AsyncCompletions):
    async def create(self, *args: Any, **kwargs: Any) -> Any:
        copy_lists(kwargs)  # before awaiting: other tasks may change the lists meanwhile
        started_ns, started = time_ns(), perf_counter()
        try:
            result = await super().create(*args, **kwargs)
        except BaseException as exc:
            new_call("openai", "chat", kwargs, self._client, started_ns, started).fail(exc)
            raise
        if isinstance(result, openai.AsyncStream):
            call = new_call("openai", "chat", kwargs, self._client, started_ns, started)
            return call.watch_stream(result, assemble_chat, aiterator=True)
        log_result("openai", "chat", kwargs, self._client, started_ns, started, result)
        return result


class _Chat(Chat):
    @cached_property
    def completions(self) -> _ChatCompletions:
        return _ChatCompletions(self._client)


class _AsyncChat(AsyncChat):
    @cached_property
    def completions(self) -> _AsyncChatCompletions:
        return _AsyncChatCompletions(self._client)


if Responses is not None:

    class _Responses(Responses):
        def create(self, *args: Any, **kwargs: Any) -> Any:
            started_ns, started = time_ns(), perf_counter()
            try:
                result = super().create(*args, **kwargs)
            except BaseException as exc:
                new_call("openai", "responses", kwargs, self._client, started_ns, started).fail(exc)
                raise
            if isinstance(result, openai.Stream):
                call = new_call("openai", "responses", kwargs, self._client, started_ns, started)
                return call.watch_stream(result, assemble_responses)
            log_result("openai", "responses", kwargs, self._client, started_ns, started, result)
            return result

    class _AsyncResponses(AsyncResponses):
        async def create(self, *args: Any, **kwargs: Any) -> Any:
            copy_lists(kwargs)  # before awaiting: other tasks may change the lists meanwhile
            started_ns, started = time_ns(), perf_counter()
            try:
                result = await super().create(*args, **kwargs)
            except BaseException as exc:
                new_call("openai", "responses", kwargs, self._client, started_ns, started).fail(exc)
                raise
            if isinstance(result, openai.AsyncStream):
                call = new_call("openai", "responses", kwargs, self._client, started_ns, started)
                return call.watch_stream(result, assemble_responses, aiterator=True)
            log_result("openai", "responses", kwargs, self._client, started_ns, started, result)
            return result


# -- clients ---------------------------------------------------------------------------------


class OpenAI(openai.OpenAI):
    """``openai.OpenAI`` that logs to plaudit. Extra argument: ``tags``."""

    def __init__(self, *args: Any, tags: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plaudit_tags = tuple(tags or ())

    @cached_property
    def chat(self) -> _Chat:
        return _Chat(self)

    if Responses is not None:

        @cached_property
        def responses(self) -> _Responses:
            return _Responses(self)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        tags = kwargs.pop("tags", None)
        new = super().copy(*args, **kwargs)
        new._plaudit_tags = tuple(tags) if tags is not None else self._plaudit_tags
        return new

    with_options = copy


class AsyncOpenAI(openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` that logs to plaudit. Extra argument: ``tags``."""

    def __init__(self, *args: Any, tags: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plaudit_tags = tuple(tags or ())

    @cached_property
    def chat(self) -> _AsyncChat:
        return _AsyncChat(self)

    if Responses is not None:

        @cached_property
        def responses(self) -> _AsyncResponses:
            return _AsyncResponses(self)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        tags = kwargs.pop("tags", None)
        new = super().copy(*args, **kwargs)
        new._plaudit_tags = tuple(tags) if tags is not None else self._plaudit_tags
        return new

    with_options = copy
