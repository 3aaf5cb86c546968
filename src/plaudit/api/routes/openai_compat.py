"""plaudit as an OpenAI-compatible endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Point any OpenAI client at ``<plaudit>/v1`` with a plaudit API key; ``model`` is the name of
a model registered in the key's organization. The call goes through the gateway (so the
model's adapter, secret, retries and limits apply) and is logged as a completion tagged
``via:openai-endpoint``. Streaming follows OpenAI's SSE format, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, Field

from plaudit.api.deps import CurrentPrincipal, SessionDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.db.base import new_id
from plaudit.gateway import CallContext, Delta, get_gateway
from plaudit.gateway import registry as models
from plaudit.gateway.errors import UpstreamFailed
from plaudit.schemas.common import Lenient

router = APIRouter(tags=["openai-compatible"], route_class=ORJSONRoute)

TAG = "via:openai-endpoint"
TAGS_HEADER = "x-plaudit-tags"  # comma-separated extra tags for the logged completion
# Request keys that describe the call rather than sampling parameters for the model.
NOT_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "n"})


class ChatCompletionRequest(Lenient):
    """OpenAI's chat completion body; unknown keys are sampling params passed to the model."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(max_length=200)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice per call.")
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    def params(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, exclude_unset=True)
        return {k: v for k, v in data.items() if k not in NOT_PARAMS}


def _tags(request: Request) -> list[str]:
    extra = [t.strip() for t in request.headers.get(TAGS_HEADER, "").split(",") if t.strip()]
    return [TAG, *extra]


def _usage(delta: Delta) -> dict[str, Any] | None:
    usage = delta.usage or {}
    if "prompt_tokens" not in usage and "completion_tokens" not in usage:
        return None
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(name: str, delta: Delta) -> dict[str, Any]:
    """A ``chat.completion`` object for a finished call."""
    return {
        "id": f"chatcmpl-{delta.completion_id or new_id()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": delta.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(delta),
    }


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"data: {text}\n\n".encode()


async def _events(
    name: str, first: Delta, rest: AsyncIterator[Delta], include_usage: bool
) -> AsyncIterator[bytes]:
    chunk_id, created = f"chatcmpl-{new_id()}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        body: dict[str, Any] = {
            "id": chunk_id, "object": "chat.completion.chunk", "created": created,
            "model": name, "choices": [choice],
        }  # fmt: skip
        if include_usage:
            body["usage"] = None
        return body

    async def all_deltas() -> AsyncIterator[Delta]:
        yield first
        async for delta in rest:
            yield delta

    try:
        yield _sse(chunk({"role": "assistant", "content": ""}))
        async for delta in all_deltas():
            if delta.kind == "delta":
                yield _sse(chunk({"content": delta.text}))
            elif delta.kind == "done":
                final = chunk({}, "stop")
                final["plaudit_completion_id"] = delta.completion_id
                yield _sse(final)
                if include_usage:
                    usage = _usage(delta)
                    yield _sse({**chunk({}), "choices": [], "usage": usage})
                yield _sse("[DONE]")
            else:  # the SDKs raise APIError on an ``error`` event
                error = {"message": delta.error, "type": "upstream_error", "code": 502}
                yield _sse({"error": error})
    finally:
        close = getattr(rest, "aclose", None)
        if close is not None:
            await close()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, principal: CurrentPrincipal
) -> Any:
    """Call a registered model, OpenAI style (``stream: true`` for server-sent events)."""
    principal.require("ingest")
    spec = await anyio.to_thread.run_sync(
        models.load_spec_by_name, request.app.state.read_sessions, principal.org_id, body.model
    )
    ctx = CallContext(messages=body.messages, params=body.params(), tags=_tags(request))
    gateway = get_gateway(request.app)
    if not body.stream:
        delta = await gateway.complete(spec, ctx)
        if delta.kind == "error":
            raise UpstreamFailed(delta.error or "the model call failed")
        return completion_body(spec.name, delta)
    deltas = gateway.stream_many([spec], ctx)
    first = await anext(deltas)
    if first.kind == "error":  # nothing sent yet: a real HTTP error status is still possible
        await deltas.aclose()
        raise UpstreamFailed(first.error or "the model call failed")
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    return StreamingResponse(
        _events(spec.name, first, deltas, include_usage),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


@router.get("/v1/models")
def list_models(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The organization's registered models, in OpenAI's list format."""
    principal.require("ingest")
    data = [
        {
            "id": model.name,
            "object": "model",
            "created": int(model.created_at.timestamp()) if model.created_at else 0,
            "owned_by": principal.org_slug,
            "plaudit_model_id": model.id,
            "adapter": model.adapter,
        }
        for model in models.list_models(session, principal.org_id)
    ]
    return {"object": "list", "data": data}
