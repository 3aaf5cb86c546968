"""OpenAI wire formats: Chat Completions and the Responses API.

Objects carry the fields the official ``openai`` SDK types declare, so SDK users (and
``strict_response_validation``) see what they would see from api.openai.com.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from plaudit.gateway.fake.replies import (
    Conversation,
    Reply,
    ToolSpec,
    Turn,
    split_chunks,
    text_of,
)
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

FINGERPRINT = "fp_plaudit_fake"
_ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}


def error_body(status: int, message: str) -> JSONObject:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    default = ("invalid_request_error", "invalid_request") if status < 500 else ("server_error",)
    kind, code = _ERROR_KINDS.get(status, (default[0], default[-1]))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _system_and_turns(messages: list[Any]) -> tuple[str, tuple[Turn, ...]]:
    system: list[str] = []
    turns: list[Turn] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise InvalidRequest("each message must be an object")
        role = str(message.get("role", "user"))
        text = text_of(message.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        elif role in ("tool", "function"):
            turns.append(Turn("user", text, is_tool_result=True))
        else:
            calls = message.get("tool_calls") or []
            functions = [c.get("function") for c in calls if isinstance(c, Mapping)]
            names = [str(f.get("name", "")) for f in functions if isinstance(f, Mapping)]
            turns.append(Turn(role, text or " ".join(names)))
    return "\n".join(s for s in system if s), tuple(turns)


def _tool_choice(choice: object) -> str:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
        if isinstance(name, str):
            return name
    return "auto"


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- Chat Completions -------------------------------------------------------------------------


def parse_chat(body: JSONObject) -> Conversation:
    """Reduce a ``/v1/chat/completions`` body to a conversation."""
    system, turns = _system_and_turns(require_list(body, "messages"))
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            tools.append(ToolSpec(function["name"], function.get("parameters") or {}))
    return Conversation(
        model=model_of(body),
        system=system,
        turns=turns,
        tools=tuple(tools),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=_int_or_none(body.get("max_completion_tokens"))
        or _int_or_none(body.get("max_tokens")),
    )


def _finish_reason(reply: Reply) -> str:
    if reply.tool_call is not None:
        return "tool_calls"
    return "length" if reply.truncated else "stop"


def _chat_usage(reply: Reply) -> JSONObject:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _chat_tool_calls(reply: Reply) -> list[JSONObject]:
    assert reply.tool_call is not None
    call = reply.tool_call
    return [
        {
            "id": f"call_{call.id_suffix}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
    ]


def complete_chat(body: JSONObject, conversation: Conversation, reply: Reply) -> JSONObject:
    """A ``chat.completion`` object."""
    message: JSONObject = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_call is not None:
        message["content"] = None
        message["tool_calls"] = _chat_tool_calls(reply)
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": conversation.model,
        "system_fingerprint": FINGERPRINT,
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(reply),
            }
        ],
        "usage": _chat_usage(reply),
    }


def chat_events(body: JSONObject, conversation: Conversation, reply: Reply) -> list[SSEEvent]:
    """``chat.completion.chunk`` events: role, content/tool-call deltas, finish, usage.

    Deliberately no ``[DONE]`` here; the app appends it only when ``done_marker`` is on.
    """
    stream_options = body.get("stream_options")
    include_usage = isinstance(stream_options, Mapping) and bool(
        stream_options.get("include_usage")
    )
    base: JSONObject = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": conversation.model,
        "system_fingerprint": FINGERPRINT,
        "service_tier": "default",
    }

    def chunk(delta: JSONObject, finish_reason: str | None = None) -> SSEEvent:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        data: JSONObject = {**base, "choices": [choice]}
        if include_usage:
            data["usage"] = None
        return SSEEvent(data)

    events: list[SSEEvent] = []
    if reply.tool_call is not None:
        first, *_ = _chat_tool_calls(reply)
        opening = {**first, "index": 0, "function": {"name": first["function"]["name"]}}
        opening["function"]["arguments"] = ""
        events.append(
            chunk({"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None})
        )
        for piece in pieces(reply.tool_call.arguments_json):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    else:
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        events.extend(chunk({"content": word}) for word in split_chunks(reply.text))
    events.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        events.append(SSEEvent({**base, "choices": [], "usage": _chat_usage(reply)}))
    return events


def _wrong_chat_shape(reply: Reply) -> JSONObject:
    return {"object": "unexpected", "result": {"text": reply.text}}


CHAT = ApiFormat(
    name="chat.completions",
    parse=parse_chat,
    complete=complete_chat,
    events=chat_events,
    error_body=error_body,
    wrong_shape=_wrong_chat_shape,
    garbage_event=None,
    supports_done_marker=True,
)


# --- Responses API ----------------------------------------------------------------------------


def parse_responses(body: JSONObject) -> Conversation:
    """Reduce a ``/v1/responses`` body (string or item-list ``input``) to a conversation."""
    raw = body.get("input")
    items: list[Any]
    if isinstance(raw, str):
        items = [{"role": "user", "content": raw}]
    elif isinstance(raw, list):
        items = raw
    else:
        raise InvalidRequest("'input' is required and must be a string or an array")
    messages: list[Any] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidRequest("each input item must be an object")
        kind = item.get("type", "message")
        if kind == "function_call_output":
            messages.append({"role": "tool", "content": text_of(item.get("output"))})
        elif kind == "function_call":
            messages.append({"role": "assistant", "content": str(item.get("name", ""))})
        elif kind == "message" or "role" in item:
            messages.append(item)
    system, turns = _system_and_turns(messages)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        system = "\n".join(s for s in (instructions, system) if s)
    tools = tuple(
        ToolSpec(tool["name"], tool.get("parameters") or {})
        for tool in body.get("tools") or []
        if isinstance(tool, Mapping) and tool.get("type") == "function" and "name" in tool
    )
    return Conversation(
        model=model_of(body),
        system=system,
        turns=turns,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=_int_or_none(body.get("max_output_tokens")),
    )


def _responses_usage(reply: Reply) -> JSONObject:
    return {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.total_tokens,
    }


def _output_item(reply: Reply, item_id: str, done: bool) -> JSONObject:
    status = "completed" if done else "in_progress"
    if reply.tool_call is not None:
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "call_id": f"call_{reply.tool_call.id_suffix}",
            "name": reply.tool_call.name,
            "arguments": reply.tool_call.arguments_json if done else "",
        }
    content = [_text_part(reply.text)] if done else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _text_part(text: str) -> JSONObject:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _response(
    body: JSONObject,
    conversation: Conversation,
    reply: Reply,
    *,
    response_id: str,
    item_id: str,
    done: bool,
) -> JSONObject:
    incomplete = done and reply.truncated
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": ("incomplete" if incomplete else "completed") if done else "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": conversation.model,
        "output": [_output_item(reply, item_id, done=True)] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": bool(body.get("store", True)),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _responses_usage(reply) if done else None,
        "user": None,
    }


def complete_responses(body: JSONObject, conversation: Conversation, reply: Reply) -> JSONObject:
    """A ``response`` object."""
    item_id = new_id("fc_" if reply.tool_call else "msg_")
    return _response(
        body, conversation, reply, response_id=new_id("resp_"), item_id=item_id, done=True
    )


def responses_events(body: JSONObject, conversation: Conversation, reply: Reply) -> list[SSEEvent]:
    """The Responses stream: created, in_progress, item/part added, deltas, dones, completed."""
    response_id = new_id("resp_")
    item_id = new_id("fc_" if reply.tool_call else "msg_")
    payloads: list[JSONObject] = []

    def snapshot(done: bool) -> JSONObject:
        return _response(
            body, conversation, reply, response_id=response_id, item_id=item_id, done=done
        )

    payloads.append({"type": "response.created", "response": snapshot(False)})
    payloads.append({"type": "response.in_progress", "response": snapshot(False)})
    opened = _output_item(reply, item_id, done=False)
    payloads.append({"type": "response.output_item.added", "output_index": 0, "item": opened})
    where = {"item_id": item_id, "output_index": 0}
    if reply.tool_call is not None:
        arguments = reply.tool_call.arguments_json
        payloads.extend(
            {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            for piece in pieces(arguments)
        )
        payloads.append(
            {"type": "response.function_call_arguments.done", **where, "arguments": arguments}
        )
    else:
        part = {**where, "content_index": 0}
        payloads.append({"type": "response.content_part.added", **part, "part": _text_part("")})
        payloads.extend(
            {"type": "response.output_text.delta", **part, "delta": word, "logprobs": []}
            for word in split_chunks(reply.text)
        )
        payloads.append(
            {"type": "response.output_text.done", **part, "text": reply.text, "logprobs": []}
        )
        done_part = _text_part(reply.text)
        payloads.append({"type": "response.content_part.done", **part, "part": done_part})
    done_item = _output_item(reply, item_id, done=True)
    payloads.append({"type": "response.output_item.done", "output_index": 0, "item": done_item})
    final = snapshot(True)
    final_type = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    payloads.append({"type": final_type, "response": final})
    return [
        SSEEvent({**payload, "sequence_number": number}, event=payload["type"])
        for number, payload in enumerate(payloads)
    ]


def _wrong_responses_shape(reply: Reply) -> JSONObject:
    return {"object": "unexpected", "answer": reply.text}


RESPONSES = ApiFormat(
    name="responses",
    parse=parse_responses,
    complete=complete_responses,
    events=responses_events,
    error_body=error_body,
    wrong_shape=_wrong_responses_shape,
    garbage_event="response.output_text.delta",
)


def models_body(names: list[str], descriptions: dict[str, str]) -> JSONObject:
    """``GET /v1/models`` answer readable by both SDKs (OpenAI list + Anthropic paging keys)."""
    data = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "plaudit-fake",
            "type": "model",
            "display_name": name.replace("-", " ").title(),
            "created_at": "1970-01-01T00:00:00Z",
            "description": descriptions.get(name, ""),
        }
        for name in names
    ]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }
