"""Completion logging with the unmodified log10-io SDK: what reaches plaudit, path by path."""

from __future__ import annotations

import uuid
from typing import Any

from log10_harness import Log10


def _reply_text(completion: dict[str, Any]) -> str:
    text: str = completion["response"]["choices"][0]["message"]["content"]
    return text


def _by_prompt(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index stored completions by the text of their last request message."""
    return {row["request"]["messages"][-1]["content"]: row for row in rows}


def _fake_request_header(log10: Log10, prompt: str, header: str) -> str:
    """A header of the request the fake model received for ``prompt`` (the fake is shared)."""
    for entry in reversed(log10.fake.requests):
        messages = (entry.get("body") or {}).get("messages") or []
        if messages and messages[-1].get("content") == prompt:
            value: str = entry["headers"][header]
            return value
    raise AssertionError(f"the fake model never saw {prompt!r}")


def test_sync_openai_stream_and_mock_completions(log10: Log10) -> None:
    # Mock first: `OpenAI(tags=)` sets the process's tag context, which later calls inherit.
    mock, chat, stream, legacy = log10.run(
        [
            {"call": "mock_chat", "kwargs": {"tags": ["mocked"], "prompt": "p-mk", "reply": "hi"}},
            {"call": "openai_chat", "kwargs": {"tags": ["sync-chat", "a"], "prompt": "p-sync"}},
            {"call": "openai_stream", "kwargs": {"tags": ["sync-stream"], "prompt": "p-stream"}},
            {"call": "legacy_llm_session"},
        ]
    )  # fmt: skip
    assert chat["content"] and stream["content"]

    [logged] = log10.completions("sync-chat")
    assert logged["status"] == "finished" and logged["kind"] == "chat"
    assert logged["tags"] == ["sync-chat", "a"]
    assert logged["request"]["messages"] == [{"role": "user", "content": "p-sync"}]
    assert logged["request"]["model"] == "gpt-4o-mini" and logged["model"] == "gpt-4o-mini"
    assert _reply_text(logged) == chat["content"]
    assert logged["orig_module"].startswith("openai.resources.chat.completions")
    assert logged["orig_qualname"] == "Completions.create"
    assert isinstance(logged["duration"], int) and logged["session_id"]
    assert [t["name"] for t in logged["tagResolved"]] == ["sync-chat", "a"]

    [streamed] = log10.completions("sync-stream")
    assert streamed["status"] == "finished"
    assert _reply_text(streamed) == stream["content"]  # the client joins the deltas

    [mocked] = log10.completions("mocked")
    assert mocked["id"] == mock["id"]
    assert mocked["status"] == "finished" and mocked["tags"] == ["MOCK_CHAT_COMPLETIONS", "mocked"]
    assert mocked["request"] == {
        "messages": [{"role": "user", "content": "p-mk"}],
        "model": "gpt-4o",
    }
    assert _reply_text(mocked) == "hi" and mocked["stacktrace"] == []

    assert legacy["logging"] and uuid.UUID(legacy["session_id"]).version == 4


def test_httpx_paths_async_openai_and_anthropic(log10: Log10) -> None:
    async_result, anthropic_result = log10.run(
        [
            {"call": "async_openai", "kwargs": {
                "tags": ["async-tag"], "prompt": "p-async", "stream_prompt": "p-async-stream"}},
            {"call": "anthropic_messages", "kwargs": {
                "tags": ["anth-tag"], "prompt": "p-anth", "stream_prompt": "p-anth-stream"}},
        ]
    )  # fmt: skip

    # AsyncOpenAI: ids are made client-side (sent to the model as x-log10-completion-id) and
    # the started/finished posts race as independent tasks; plaudit upserts either order.
    rows = _by_prompt(log10.completions("async-tag"))
    assert set(rows) == {"p-async", "p-async-stream"}
    for prompt, row in rows.items():
        assert row["id"] == _fake_request_header(log10, prompt, "x-log10-completion-id")
        assert row["status"] == "finished", row
    assert _reply_text(rows["p-async"]) == async_result["content"]
    # Needs the fake's stream to end without `data: [DONE]` (log10 only waits for it on hosts
    # named *openai*); otherwise the row stays "started".
    assert _reply_text(rows["p-async-stream"]) == async_result["stream_content"]
    assert rows["p-async"]["session_id"] == rows["p-async-stream"]["session_id"]

    rows = _by_prompt(log10.completions("anth-tag"))
    assert set(rows) == {"p-anth", "p-anth-stream"}
    message = rows["p-anth"]
    assert message["status"] == "finished" and message["model"] == "claude-3-haiku-20240307"
    assert message["request"]["messages"][0] == {"role": "system", "content": "Be brief."}
    # Off anthropic.com log10 logs the raw Message; plaudit adds OpenAI's `choices`.
    assert message["response"]["type"] == "message"
    assert _reply_text(message) == anthropic_result["content"]
    assert message["usage"]["input_tokens"] > 0
    assert rows["p-anth-stream"]["status"] == "finished"
    assert _reply_text(rows["p-anth-stream"]) == anthropic_result["stream_content"]
