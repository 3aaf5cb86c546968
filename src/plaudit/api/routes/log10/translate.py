"""Translate log10's completion-logging payloads into plaudit's completion fields."""

from __future__ import annotations

from typing import Any

from plaudit.core.completions import check_latency, clean_fields

_EXTRA_KEYS = ("orig_module", "orig_qualname", "failure_kind", "failure_reason", "stacktrace")


def _anthropic_as_openai(response: dict[str, Any]) -> dict[str, Any]:
    """log10 logs raw Anthropic messages off anthropic.com; give them OpenAI's `choices` too."""
    if response.get("type") != "message" or "choices" in response:
        return response
    text = "".join(
        block.get("text", "")
        for block in response.get("content") or []
        if isinstance(block, dict) and block.get("type") == "text"
    )
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": response.get("stop_reason"),
    }
    return {**response, "choices": [choice]}


def log10_fields(body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        k: body[k]
        for k in ("status", "kind", "request", "response", "session_id", "tags")
        if k in body
    }
    fields = clean_fields(data)
    extra = {k: body[k] for k in _EXTRA_KEYS if k in body}
    if "stack_trace" in body:
        extra["stacktrace"] = body["stack_trace"]
    if extra:
        fields["extra"] = extra
    if isinstance(body.get("duration"), int | float):
        check_latency("duration", body["duration"])
        fields["latency_ms"] = float(body["duration"])
    if body.get("failure_kind") or body.get("failure_reason"):
        fields["error"] = f"{body.get('failure_kind') or 'Error'}: {body.get('failure_reason')}"
    request, response = fields.get("request") or {}, fields.get("response") or {}
    if "response" in fields:
        fields["response"] = response = _anthropic_as_openai(response)
        if isinstance(response.get("usage"), dict):
            fields["usage"] = response["usage"]
    model = request.get("model") or response.get("model")
    if isinstance(model, str):
        fields["model"] = model[:200]
    module = body.get("orig_module")
    if isinstance(module, str) and module:
        fields["provider"] = module.split(".", 1)[0][:64]
    return fields
