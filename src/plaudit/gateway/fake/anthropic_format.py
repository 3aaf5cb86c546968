"""Anthropic Messages wire format (``POST /v1/messages``), streaming event sequence included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plaudit.gateway.fake.replies import Conversation, Reply, ToolSpec, Turn, split_chunks, text_of
from plaudit.gateway.fake.wire import (
    ApiFormat,
    InvalidRequest,
    JSONObject,
    SSEEvent,
    model_of,
    new_id,
    pieces,
    require_list,
)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> JSONObject:
    """Anthropic's error envelope: ``{"type": "error", "error": {"type", "message"}}``."""
    default = "invalid_request_error" if status < 500 else "api_error"
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, default), "message": message},
    }


def _turn(message: Mapping[str, Any]) -> Turn:
    role = str(message.get("role", "user"))
    content = message.get("content")
    blocks = content if isinstance(content, list) else []
    results = [b for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_result"]
    if results:
        return Turn("user", "\n".join(text_of(b.get("content")) for b in results), True)
    uses = [b for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_use"]
    text = text_of(content)
    return Turn(role, text or " ".join(str(b.get("name", "")) for b in uses))


def _tool_choice(choice: object) -> str:
    if not isinstance(choice, Mapping):
        return "auto"
    kind = choice.get("type")
    if kind == "tool" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return {"any": "required", "none": "none"}.get(str(kind), "auto")


def parse(body: JSONObject) -> Conversation:
    """Reduce a ``/v1/messages`` body (top-level ``system``) to a conversation."""
    messages = require_list(body, "messages")
    if not all(isinstance(m, Mapping) for m in messages):
        raise InvalidRequest("each message must be an object")
    tools = tuple(
        ToolSpec(tool["name"], tool.get("input_schema") or {})
        for tool in body.get("tools") or []
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str)
    )
    max_tokens = body.get("max_tokens")
    return Conversation(
        model=model_of(body),
        system=text_of(body.get("system")),
        turns=tuple(_turn(m) for m in messages),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
    )


def _stop_reason(reply: Reply) -> str:
    if reply.tool_call is not None:
        return "tool_use"
    return "max_tokens" if reply.truncated else "end_turn"


def _content(reply: Reply) -> list[JSONObject]:
    if reply.tool_call is not None:
        call = reply.tool_call
        block = {"type": "tool_use", "id": f"toolu_{call.id_suffix}", "name": call.name}
        return [{**block, "input": call.arguments}]
    return [{"type": "text", "text": reply.text}]


def _usage(input_tokens: int, output_tokens: int) -> JSONObject:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _message(conversation: Conversation, reply: Reply, message_id: str, done: bool) -> JSONObject:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": conversation.model,
        "content": _content(reply) if done else [],
        "stop_reason": _stop_reason(reply) if done else None,
        "stop_sequence": None,
        "usage": _usage(reply.prompt_tokens, reply.completion_tokens if done else 1),
    }


def complete(body: JSONObject, conversation: Conversation, reply: Reply) -> JSONObject:
    """A ``message`` object."""
    return _message(conversation, reply, new_id("msg_"), done=True)


def events(body: JSONObject, conversation: Conversation, reply: Reply) -> list[SSEEvent]:
    """message_start, content_block_start, ping, deltas, content_block_stop, message_delta, stop."""
    payloads: list[JSONObject] = [
        {"type": "message_start", "message": _message(conversation, reply, new_id("msg_"), False)}
    ]
    block = _content(reply)[0]
    if reply.tool_call is not None:
        opening = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in pieces(reply.tool_call.arguments_json)
        ]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": word} for word in split_chunks(reply.text)]
    payloads.append({"type": "content_block_start", "index": 0, "content_block": opening})
    payloads.append({"type": "ping"})
    payloads.extend({"type": "content_block_delta", "index": 0, "delta": d} for d in deltas)
    payloads.append({"type": "content_block_stop", "index": 0})
    payloads.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
            "usage": {"output_tokens": reply.completion_tokens},
        }
    )
    payloads.append({"type": "message_stop"})
    return [SSEEvent(payload, event=payload["type"]) for payload in payloads]


def _wrong_shape(reply: Reply) -> JSONObject:
    return {"unexpected": "shape", "completion": reply.text}


MESSAGES = ApiFormat(
    name="messages",
    parse=parse,
    complete=complete,
    events=events,
    error_body=error_body,
    wrong_shape=_wrong_shape,
    garbage_event="content_block_delta",
)
