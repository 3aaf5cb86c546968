"""``openai``: any OpenAI-compatible chat endpoint through the official ``openai`` SDK.

OpenAI itself, vLLM, Ollama, llama.cpp server, LM Studio, Together, Groq, … — ``endpoint`` is
the SDK's ``base_url`` (``…/v1``). The SDK's own retries are off: the gateway retries, and only
before the first token.
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
    import openai

from plaudit.gateway.types import CallContext, ModelSpec

# Arguments ``chat.completions.create`` takes by name; anything else goes in ``extra_body``.
SDK_ARGS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n",
        "presence_penalty", "frequency_penalty", "logit_bias", "user", "response_format",
        "tools", "tool_choice", "reasoning_effort", "logprobs", "top_logprobs",
    }
)  # fmt: skip
NO_KEY = "no-key-configured"  # the SDK insists on a key; never fall back to OPENAI_API_KEY


class OpenAIAdapter(SDKAdapter):
    name: ClassVar[str] = "openai"
    description: ClassVar[str] = "Any OpenAI-compatible /v1/chat/completions endpoint."

    @classmethod
    def warm_up(cls) -> None:
        import openai  # noqa: F401  (seconds on a busy machine: keep it off the event loop)

    def new_pool(self) -> Any:
        import openai

        return openai.DefaultAsyncHttpxClient()

    def new_client(self, spec: ModelSpec, http: Any) -> openai.AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(
            api_key=spec.secret or NO_KEY,
            base_url=spec.endpoint or None,
            max_retries=0,
            # A backstop only: the gateway's own per-model timeout fires first.
            http_client=http,
            timeout=spec.timeout_s + 5,
            organization=None,
            project=None,
        )

    async def stream(
        self, spec: ModelSpec, ctx: CallContext, call: CallRecord
    ) -> AsyncIterator[str]:
        params = upstream_params(call_params(spec, ctx))
        named = {k: v for k, v in params.items() if k in SDK_ARGS}
        extra = {k: v for k, v in params.items() if k not in SDK_ARGS}
        messages = chat_messages(ctx, call_params(spec, ctx))
        call.request = {
            "model": spec.upstream_name, "messages": messages, "stream": True, **params
        }  # fmt: skip
        try:
            create: Any = self.client(spec).chat.completions.create  # untyped: params are dynamic
            stream = await create(
                model=spec.upstream_name,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=extra or None,
                **named,
            )
            chunks = 0
            async for chunk in stream:
                chunks += 1
                usage = getattr(chunk, "usage", None)
                if usage is not None and hasattr(usage, "model_dump"):
                    call.usage = usage.model_dump(exclude_none=True)
                call.upstream_id = getattr(chunk, "id", None) or call.upstream_id
                choices = getattr(chunk, "choices", None)
                if choices is None:
                    raise WrongShape("the stream has chunks without 'choices' (wrong shape)")
                for choice in choices:
                    delta = getattr(choice, "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        yield text
                    reason = getattr(choice, "finish_reason", None)
                    if reason:
                        call.finish_reason = reason
        except UpstreamError:
            raise
        except Exception as exc:
            raise openai_error(exc) from exc
        if call.finish_reason is None:
            what = "no chunks" if not chunks else f"{chunks} chunks"
            raise UpstreamError(f"the stream ended before the model finished ({what})")


def openai_error(exc: BaseException) -> UpstreamError:
    """An SDK exception as an :class:`UpstreamError` (shared with plugins built on the SDK)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.response.content, exc.response.headers)
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError("upstream timed out")
    cause: Any = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else exc
    transport = classify_transport(cause or exc)
    if transport is not None:
        return transport
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError("could not connect to the endpoint", retryable=True)
    if isinstance(exc, ValueError) and "JSON" in type(exc).__name__ + str(exc):
        return malformed(exc, "the stream")
    if isinstance(exc, openai.APIError):
        return UpstreamError(f"upstream error: {exc.message}")
    return UpstreamError(f"unexpected answer ({type(exc).__name__}: {exc})")
