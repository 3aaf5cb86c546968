"""``openai``: any OpenAI-compatible chat endpoint, spoken to directly over HTTP.

OpenAI itself, vLLM, Ollama, llama.cpp server, LM Studio, Together, Groq, … — ``endpoint`` is
the API's base URL (``…/v1``; OpenAI's when empty). The body is the documented
``/chat/completions`` JSON and the answer an SSE stream of chunk objects: plain JSON both ways.
The official SDK is not used on this path: its request options, headers, retries machinery and
stream classes cost ~30 % of the event loop's time per call (profiled) for nothing this
adapter needs. No retries here: the gateway retries, and only before the first token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import orjson

from plaudit.gateway.adapters.base import (
    CallRecord,
    HTTPPoolAdapter,
    call_params,
    chat_messages,
    lines_of,
    upstream_params,
)
from plaudit.gateway.errors import (
    UpstreamError,
    WrongShape,
    body_message,
    malformed,
    status_error,
    transport_error,
)
from plaudit.gateway.types import CallContext, ModelSpec

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIAdapter(HTTPPoolAdapter):
    name: ClassVar[str] = "openai"
    description: ClassVar[str] = "Any OpenAI-compatible /v1/chat/completions endpoint."

    def __init__(self) -> None:
        super().__init__()
        self._urls: dict[str | None, str] = {}

    def _url(self, endpoint: str | None) -> str:
        url = self._urls.get(endpoint)
        if url is None:
            url = self._urls[endpoint] = (endpoint or OPENAI_BASE_URL).rstrip("/") + (
                "/chat/completions"
            )
        return url

    async def stream(
        self, spec: ModelSpec, ctx: CallContext, call: CallRecord
    ) -> AsyncIterator[str]:
        params = upstream_params(call_params(spec, ctx))
        messages = chat_messages(ctx, call_params(spec, ctx))
        call.request = {
            "model": spec.upstream_name, "messages": messages, "stream": True, **params
        }  # fmt: skip
        # The configured params go last: they may override anything, as extra_body did.
        body = {
            "model": spec.upstream_name, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}, **params,
        }  # fmt: skip
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if spec.secret:  # never a fallback key from the environment
            headers["authorization"] = f"Bearer {spec.secret}"
        chunks = 0
        async with self.post_json(spec, self._url(spec.endpoint), body, headers) as response:
            async for data in _sse_data(response):
                chunks += 1
                for text in _read_chunk(data, chunks, call):
                    yield text
        if call.finish_reason is None:
            what = "no chunks" if not chunks else f"{chunks} chunks"
            raise UpstreamError(f"the stream ended before the model finished ({what})")


async def _sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event, up to ``[DONE]`` (comments, ``event:``, ``id:``
    and ``retry:`` lines skipped; the lines of a multi-line ``data`` joined by newlines)."""
    data: list[bytes] = []
    async for line in lines_of(response):
        if not line:
            if data:
                joined = b"\n".join(data)
                data = []
                if joined.strip() == b"[DONE]":
                    return
                yield joined
        elif line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
    if data and b"\n".join(data).strip() != b"[DONE]":  # a last event without its blank line
        yield b"\n".join(data)


def _read_chunk(data: bytes, number: int, call: CallRecord) -> list[str]:
    """The text deltas of one chunk; usage, id and finish reason go to ``call``."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise malformed(exc, f"the stream (chunk {number})") from None
    if not isinstance(chunk, dict):
        raise WrongShape("the stream has a chunk that is not a JSON object")
    if chunk.get("error"):
        raise UpstreamError(f"the stream reported an error: {body_message(data.decode())}")
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        call.usage = _without_none(usage)
    call.upstream_id = chunk.get("id") or call.upstream_id
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise WrongShape("the stream has chunks without 'choices' (wrong shape)")
    texts = []
    for choice in choices:
        if not isinstance(choice, dict):
            raise WrongShape("a choice that is not a JSON object (wrong shape)")
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        if text:
            if not isinstance(text, str):
                raise WrongShape("a delta whose 'content' is not text (wrong shape)")
            texts.append(text)
        reason = choice.get("finish_reason")
        if reason:
            call.finish_reason = reason
    return texts


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    """Usage as ``model_dump(exclude_none=True)`` gave it: no null fields, at any depth."""
    return {
        k: _without_none(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None
    }


def openai_error(exc: BaseException) -> UpstreamError:
    """An SDK exception as an :class:`UpstreamError` (shared with plugins built on the SDK)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.response.content, exc.response.headers)
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError("upstream timed out")
    cause: Any = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else exc
    transport = transport_error(cause or exc)
    if transport is not None:
        return transport
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError("could not connect to the endpoint", retryable=True)
    if isinstance(exc, ValueError) and "JSON" in type(exc).__name__ + str(exc):
        return malformed(exc, "the stream")
    if isinstance(exc, openai.APIError):
        return UpstreamError(f"upstream error: {exc.message}")
    return UpstreamError(f"unexpected answer ({type(exc).__name__}: {exc})")
