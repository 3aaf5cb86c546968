"""plaudit.Anthropic / AsyncAnthropic against the fake model server, logging into a real server."""

from __future__ import annotations

import asyncio
import gc

import anthropic
import pytest
from sdk_helpers import logged

import plaudit

MESSAGES = [{"role": "user", "content": "Name a primary colour."}]
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _client(fake_model, **kwargs):
    return plaudit.Anthropic(base_url=fake_model.anthropic_base_url, api_key="sk-ant", **kwargs)


def _by_id(rows):
    return {row["id"]: row for row in rows}


def test_messages_create_is_logged(sdk, fake_model, live_server, org):
    client = _client(fake_model, tags=["claude-app"])
    assert isinstance(client, anthropic.Anthropic)
    message = client.messages.create(model="claude-3-5-haiku", max_tokens=100, messages=MESSAGES)
    row = _by_id(logged(live_server.url, org, 1))[plaudit.completion_id(message)]
    assert row["provider"] == "anthropic" and row["status"] == "finished"
    assert row["response"]["content"][0]["text"] == message.content[0].text
    assert row["usage"]["output_tokens"] == message.usage.output_tokens
    assert row["tags"] == ["claude-app"]


def test_create_stream_passes_events_and_logs_message(sdk, fake_model, live_server, org):
    client = _client(fake_model)
    stream = client.messages.create(
        model="claude-3-5-haiku", max_tokens=100, messages=MESSAGES, stream=True
    )
    cid = plaudit.completion_id(stream)
    events = list(stream)
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    row = _by_id(logged(live_server.url, org, 1))[cid]
    assert row["response"]["content"][0]["text"] == text
    assert row["response"]["stop_reason"] == "end_turn"
    assert row["usage"]["output_tokens"] > 0
    assert row["ttft_ms"] > 0


def test_messages_stream_helper_is_logged(sdk, fake_model, live_server, org):
    client = _client(fake_model)
    manager = client.messages.stream(model="claude-3-5-haiku", max_tokens=100, messages=MESSAGES)
    with manager as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    row = _by_id(logged(live_server.url, org, 1))[plaudit.completion_id(manager)]
    assert row["response"]["content"][0]["text"] == text == final.content[0].text
    assert row["response"]["usage"]["output_tokens"] == final.usage.output_tokens


def test_abandoned_stream_is_logged(sdk, fake_model, live_server, org):
    stream = _client(fake_model).messages.create(
        model="claude-3-5-haiku", max_tokens=100, messages=MESSAGES, stream=True
    )
    cid = plaudit.completion_id(stream)
    next(iter(stream))
    del stream
    gc.collect()
    row = _by_id(logged(live_server.url, org, 1))[cid]
    assert row["metadata"]["stream_abandoned"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_is_recorded(sdk, fake_model, live_server, org, stream):
    client = _client(fake_model)
    result = client.messages.create(
        model="claude-3-5-haiku", max_tokens=100, tools=[TOOL], stream=stream,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )  # fmt: skip
    cid = plaudit.completion_id(result)
    if stream:
        list(result)
    row = _by_id(logged(live_server.url, org, 1))[cid]
    blocks = [b for b in row["response"]["content"] if b["type"] == "tool_use"]
    assert blocks[0]["name"] == "get_weather" and "city" in blocks[0]["input"]


def test_api_error_is_reraised_unchanged_and_logged(sdk, fake_model, live_server, org):
    client = _client(fake_model, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="claude-3-5-haiku", max_tokens=10, messages=MESSAGES,
            extra_headers={"X-Fake-Status": "529"},
        )  # fmt: skip
    assert caught.value.status_code == 529
    rows = logged(live_server.url, org, 1)
    assert rows[0]["status"] == "failed" and rows[0]["metadata"]["status_code"] == 529


def test_async_anthropic(sdk, fake_model, live_server, org):
    async def main():
        client = plaudit.AsyncAnthropic(base_url=fake_model.anthropic_base_url, api_key="k")
        message = await client.messages.create(
            model="claude-3-5-haiku", max_tokens=50, messages=MESSAGES
        )
        manager = client.messages.stream(model="claude-3-5-haiku", max_tokens=50, messages=MESSAGES)
        async with manager as stream:
            text = "".join([t async for t in stream.text_stream])
        raw = await client.messages.create(
            model="claude-3-5-haiku", max_tokens=50, messages=MESSAGES, stream=True
        )
        events = [e async for e in raw]
        return message, manager, text, raw, events

    message, manager, text, raw, events = asyncio.run(main())
    rows = _by_id(logged(live_server.url, org, 3))
    assert rows[plaudit.completion_id(message)]["status"] == "finished"
    assert rows[plaudit.completion_id(manager)]["response"]["content"][0]["text"] == text
    assert rows[plaudit.completion_id(raw)]["response"]["stop_reason"] == "end_turn"
