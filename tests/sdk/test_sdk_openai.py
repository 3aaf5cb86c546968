"""plaudit.OpenAI / AsyncOpenAI against the fake model server, logging into a real server."""

from __future__ import annotations

import asyncio
import gc

import openai
import pytest
from sdk_helpers import logged

import plaudit

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _client(fake_model, **kwargs):
    return plaudit.OpenAI(base_url=fake_model.openai_base_url, api_key="sk-fake", **kwargs)


def _by_id(rows):
    return {row["id"]: row for row in rows}


def test_is_a_drop_in_openai_client(sdk, fake_model):
    client = _client(fake_model)
    assert isinstance(client, openai.OpenAI)
    assert isinstance(plaudit.AsyncOpenAI(base_url=fake_model.openai_base_url, api_key="k"),
                      openai.AsyncOpenAI)  # fmt: skip


def test_non_stream_call_is_logged_with_usage_latency_and_tags(sdk, fake_model, live_server, org):
    client = _client(fake_model, tags=["app"])
    with plaudit.tags("session-42"):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    cid = plaudit.completion_id(reply)
    assert cid and len(cid) == 36
    row = _by_id(logged(live_server.url, org, 1))[cid]
    assert row["status"] == "finished" and row["provider"] == "openai" and row["kind"] == "chat"
    assert row["model"] == "gpt-4o-mini"
    assert row["tags"] == ["app", "session-42"]
    assert row["request"]["messages"] == MESSAGES
    assert row["response"]["choices"][0]["message"]["content"] == reply.choices[0].message.content
    assert row["usage"]["total_tokens"] == reply.usage.total_tokens
    assert row["latency_ms"] > 0


def test_stream_passes_chunks_untouched_and_logs_assembled_result(
    sdk, fake_model, live_server, org
):
    bare = openai.OpenAI(base_url=fake_model.openai_base_url, api_key="sk-fake")
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
              "stream_options": {"include_usage": True}}  # fmt: skip
    expected = [c.model_dump() for c in bare.chat.completions.create(**kwargs)]
    stream = _client(fake_model).chat.completions.create(**kwargs)
    assert isinstance(stream, openai.Stream)
    cid = plaudit.completion_id(stream)
    got = [c.model_dump() for c in stream]
    for chunk in (*expected, *got):
        chunk.pop("id"), chunk.pop("created")
    assert got == expected  # same chunks, usage chunk included
    row = _by_id(logged(live_server.url, org, 1))[cid]
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in got if c["choices"])
    assert row["response"]["choices"][0]["message"]["content"] == text
    assert row["response"]["choices"][0]["finish_reason"] == "stop"
    assert row["usage"]["completion_tokens"] > 0
    assert 0 < row["ttft_ms"] <= row["latency_ms"]
    assert row["metadata"]["stream"] is True and "stream_abandoned" not in row["metadata"]


def test_abandoned_stream_is_logged_when_dropped(sdk, fake_model, live_server, org):
    stream = _client(fake_model).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    cid = plaudit.completion_id(stream)
    first = next(iter(stream))
    del stream, first
    gc.collect()
    row = _by_id(logged(live_server.url, org, 1))[cid]
    assert row["metadata"]["stream_abandoned"] is True
    assert row["status"] == "finished"


def test_closed_stream_is_logged(sdk, fake_model, live_server, org):
    client = _client(fake_model)
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as s:
        cid = plaudit.completion_id(s)
        next(s)
    row = _by_id(logged(live_server.url, org, 1))[cid]
    assert row["metadata"]["stream_abandoned"] is True
    assert row["response"]["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_are_recorded(sdk, fake_model, live_server, org, stream):
    client = _client(fake_model)
    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL], stream=stream,
    )  # fmt: skip
    cid = plaudit.completion_id(result)
    if stream:
        list(result)
    row = _by_id(logged(live_server.url, org, 1))[cid]
    calls = row["response"]["choices"][0]["message"]["tool_calls"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert "city" in calls[0]["function"]["arguments"]
    assert row["request"]["tools"][0]["function"]["name"] == "get_weather"


def test_api_error_is_reraised_unchanged_and_logged_failed(sdk, fake_model, live_server, org):
    bare = openai.OpenAI(base_url=fake_model.openai_base_url, api_key="sk-fake", max_retries=0)
    headers = {"X-Fake-Status": "400"}
    with pytest.raises(openai.BadRequestError) as bare_error:
        bare.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    client = _client(fake_model, max_retries=0)
    with pytest.raises(openai.BadRequestError) as wrapped_error:
        client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    assert type(wrapped_error.value) is type(bare_error.value)
    assert wrapped_error.value.status_code == 400
    assert str(wrapped_error.value) == str(bare_error.value)
    rows = logged(live_server.url, org, 1)
    assert len(rows) == 1
    assert rows[0]["status"] == "failed"
    assert rows[0]["metadata"]["failure_kind"] == "BadRequestError"
    assert rows[0]["metadata"]["status_code"] == 400
    assert "BadRequestError" in rows[0]["error"]


def test_responses_api_is_logged(sdk, fake_model, live_server, org):
    client = _client(fake_model)
    reply = client.responses.create(model="gpt-4o-mini", input="Say hello")
    stream = client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True)
    events = list(stream)
    rows = _by_id(logged(live_server.url, org, 2))
    plain, streamed = rows[plaudit.completion_id(reply)], rows[plaudit.completion_id(stream)]
    assert plain["kind"] == "responses" and plain["response"]["id"] == reply.id
    assert plain["request"]["input"] == "Say hello"
    assert events[-1].type == "response.completed"
    assert streamed["response"]["id"] == events[-1].response.id
    assert streamed["response"]["status"] == "completed"


def test_async_client_logs_stream_and_non_stream(sdk, fake_model, live_server, org):
    async def main():
        client = plaudit.AsyncOpenAI(base_url=fake_model.openai_base_url, api_key="k")
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        response = await client.responses.create(model="gpt-4o-mini", input="hi")
        return reply, stream, text, response

    reply, stream, text, response = asyncio.run(main())
    rows = _by_id(logged(live_server.url, org, 3))
    assert rows[plaudit.completion_id(reply)]["status"] == "finished"
    assert (
        rows[plaudit.completion_id(stream)]["response"]["choices"][0]["message"]["content"] == text
    )
    assert rows[plaudit.completion_id(response)]["kind"] == "responses"


def test_async_error_is_reraised_and_logged(sdk, fake_model, live_server, org):
    async def main():
        client = plaudit.AsyncOpenAI(
            base_url=fake_model.openai_base_url, api_key="k", max_retries=0
        )
        await client.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"X-Fake-Status": "429"}
        )

    with pytest.raises(openai.RateLimitError):
        asyncio.run(main())
    rows = logged(live_server.url, org, 1)
    assert rows[0]["status"] == "failed" and rows[0]["metadata"]["status_code"] == 429


def test_copy_keeps_tags(sdk, fake_model, live_server, org):
    client = _client(fake_model, tags=["base"]).with_options(timeout=30)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    row = _by_id(logged(live_server.url, org, 1))[plaudit.completion_id(reply)]
    assert row["tags"] == ["base"]
