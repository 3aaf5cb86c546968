"""``anthropic``: Claude models (or anything speaking the Messages API) via the official SDK.

``endpoint`` is the SDK's ``base_url`` (default https://api.anthropic.com); system messages
and the system prompt go in ``system``, as the Messages API wants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from plaudit.gateway.adapters.base import (
    CallRecord,
    SDKAdapter,
    call_params,
    chat_messages,
    upstream_params,
)
from plaudit.gateway.errors import UpstreamError, WrongShape, malformed, status_error
from plaudit.gateway.errors import transport_error as classify_transport

if TYPE_CHECKING:
    import anthropic

from plaudit.gateway.types import CallContext, ModelSpec, content_text

DEFAULT_MAX_TOKENS = 1024
SDK_ARGS = frozenset(
    {"temperature", "top_p", "top_k", "max_tokens", "stop_sequences", "metadata", "tools",
     "tool_choice", "thinking"}
)  # fmt: skip
NO_KEY = "no-key-configured"  # never fall back to ANTHROPIC_API_KEY from the environment
KNOWN_EVENTS = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
     "message_delta", "message_stop", "ping", "error"}
)  # fmt: skip


def split_system(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Messages API shape: system text apart, then user/assistant turns."""
    system = [content_text(m.get("content")) for m in messages if m.get("role") == "system"]
    turns = [
        {"role": m.get("role"), "content": m.get("content")}
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]
    return "\n\n".join(s for s in system if s), turns


class AnthropicAdapter(SDKAdapter):
    name: ClassVar[str] = "anthropic"
    description: ClassVar[str] = "Anthropic Messages API (Claude) through the official SDK."

    @classmethod
    def warm_up(cls) -> None:
        import anthropic  # noqa: F401  (seconds on a busy machine: keep it off the event loop)

    def new_pool(self) -> Any:
        import anthropic

        return anthropic.DefaultAsyncHttpxClient()

    def new_client(self, spec: ModelSpec, http: Any) -> anthropic.AsyncAnthropic:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=spec.secret or NO_KEY,
            base_url=spec.endpoint or None,
            max_retries=0,
            http_client=http,
            timeout=spec.timeout_s + 5,  # backstop: the gateway's own timeout fires first
        )

    async def stream(
        self, spec: ModelSpec, ctx: CallContext, call: CallRecord
    ) -> AsyncIterator[str]:
        params = upstream_params(call_params(spec, ctx))
        params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        named = {k: v for k, v in params.items() if k in SDK_ARGS}
        extra = {k: v for k, v in params.items() if k not in SDK_ARGS}
        system, turns = split_system(chat_messages(ctx, call_params(spec, ctx)))
        call.request = {"model": spec.upstream_name, "messages": turns, "stream": True, **params}
        if system:
            call.request["system"] = system
            named["system"] = system
        usage: dict[str, Any] = {}
        stopped = False
        try:
            create: Any = self.client(spec).messages.create  # untyped: params are dynamic
            stream = await create(
                model=spec.upstream_name,
                messages=turns,
                stream=True,
                extra_body=extra or None,
                **named,
            )
            async for event in stream:
                kind = getattr(event, "type", None)
                if kind not in KNOWN_EVENTS:
                    raise WrongShape(
                        f"the stream has an event of unknown type {kind!r} (wrong shape)"
                    )
                if kind == "message_start":
                    message = getattr(event, "message", None)
                    call.upstream_id = getattr(message, "id", None)
                    _add_usage(usage, getattr(message, "usage", None))
                elif kind == "content_block_delta":
                    delta = getattr(event, "delta", None)
                    text = getattr(delta, "text", None)
                    if getattr(delta, "type", None) == "text_delta" and text is None:
                        raise WrongShape("a text delta without 'text' (wrong shape)")
                    if text:
                        yield text
                elif kind == "message_delta":
                    call.finish_reason = getattr(getattr(event, "delta", None), "stop_reason", None)
                    _add_usage(usage, getattr(event, "usage", None))
                elif kind == "message_stop":
                    stopped = True
        except UpstreamError:
            raise
        except Exception as exc:
            raise anthropic_error(exc) from exc
        if usage:
            call.usage = usage
        if not stopped:
            raise UpstreamError("the stream ended before the model finished (no message_stop)")


def _add_usage(usage: dict[str, Any], source: Any) -> None:
    if source is None:
        return
    for key in ("input_tokens", "output_tokens"):
        value = getattr(source, key, None)
        if isinstance(value, int):
            usage[key] = value
    if "input_tokens" in usage or "output_tokens" in usage:
        usage["prompt_tokens"] = usage.get("input_tokens", 0)
        usage["completion_tokens"] = usage.get("output_tokens", 0)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]


def anthropic_error(exc: BaseException) -> UpstreamError:
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        return status_error(exc.status_code, exc.response.content, exc.response.headers)
    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamError("upstream timed out")
    cause: Any = exc.__cause__ if isinstance(exc, anthropic.APIConnectionError) else exc
    transport = classify_transport(cause or exc)
    if transport is not None:
        return transport
    if isinstance(exc, anthropic.APIConnectionError):
        return UpstreamError("could not connect to the endpoint", retryable=True)
    if isinstance(exc, ValueError) and "JSON" in type(exc).__name__ + str(exc):
        return malformed(exc, "the stream")
    if isinstance(exc, anthropic.APIError):
        return UpstreamError(f"upstream error: {exc.message}")
    return UpstreamError(f"unexpected answer ({type(exc).__name__}: {exc})")
