"""The fake model server, exercised through the real openai/anthropic SDKs over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
import typer
from openai.types.responses import ResponseFunctionCallArgumentsDeltaEvent, ResponseTextDeltaEvent
from typer.testing import CliRunner

from plaudit.cli.fake_model import fake_model
from plaudit.gateway.fake import (
    PERSONALITIES,
    FakeModelServer,
    FakeOptions,
    create_fake_app,
    model_names,
)

USER = "What is the capital of France today"
MESSAGES: list[Any] = [{"role": "user", "content": USER}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days", "unit"],
        },
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModelServer]:
    with FakeModelServer(latency_ms=0) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeModelServer) -> None:
    fake.reset()


@pytest.fixture
def oai(fake: FakeModelServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=fake.openai_base_url, api_key="sk-test-secret", max_retries=0, timeout=5
    )


@pytest.fixture
def claude(fake: FakeModelServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=fake.anthropic_base_url, api_key="sk-ant-secret", max_retries=0, timeout=5
    )


@pytest.fixture
def http(fake: FakeModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=5) as client:
        yield client


def sse_lines(response: httpx.Response) -> list[str]:
    return [line for line in response.iter_lines() if line]


def sse_data(response: httpx.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in sse_lines(response) if line.startswith("data:")]


# --- Chat Completions -------------------------------------------------------------------------


def test_chat_completion_object_shape_and_usage(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="fake-pirate",
        messages=[{"role": "system", "content": "Speak like Blackbeard."}, *MESSAGES],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "fake-pirate"
    assert completion.created > 1_600_000_000
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    content = choice.message.content
    assert content is not None and content.startswith("Arr, matey!")
    assert f'"{USER}"' in content
    assert content.endswith("(context: Speak like Blackbeard.)")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(USER.split()) + 3
    assert completion.usage.completion_tokens == len(content.split())
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + len(content.split())


def test_chat_stream_ends_with_stop_chunk_and_no_done_marker(http: httpx.Client) -> None:
    body = {"model": "fake-echo", "messages": MESSAGES, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = sse_data(response)
    assert "[DONE]" not in data
    chunks = [json.loads(item) for item in data]
    assert len(chunks) >= 5
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == f"You said: {USER}"


def test_chat_stream_include_usage_sends_final_usage_chunk(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="fake-terse",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage_chunk, stop_chunk = chunks[-1], chunks[-2]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert stop_chunk.choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert usage_chunk.usage.completion_tokens == len(text.split())
    assert usage_chunk.usage.prompt_tokens == len(USER.split())


def test_done_marker_is_opt_in(http: httpx.Client, oai: openai.OpenAI) -> None:
    body = {"model": "fake-echo", "messages": MESSAGES, "stream": True}
    headers = {"X-Fake-Done-Marker": "true"}
    with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        data = sse_data(response)
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["choices"][0]["finish_reason"] == "stop"
    chunks = list(
        oai.chat.completions.create(
            model="fake-echo", messages=MESSAGES, stream=True, extra_headers=headers
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_async_client_stream_ends_on_stop_chunk(fake: FakeModelServer) -> None:
    async def collect() -> list[str | None]:
        client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="fake-formal", messages=MESSAGES, stream=True
        )
        finishes: list[str | None] = [chunk.choices[0].finish_reason async for chunk in stream]
        await client.close()
        return finishes

    finishes = asyncio.run(collect())
    assert finishes[-1] == "stop" and finishes.count("stop") == 1


def test_chat_tool_call_is_deterministic(oai: openai.OpenAI) -> None:
    def call() -> openai.types.chat.ChatCompletion:
        return oai.chat.completions.create(
            model="fake-neutral", messages=MESSAGES, tools=[WEATHER_TOOL]
        )

    first, second = call(), call()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    tool_calls = choice.message.tool_calls
    assert tool_calls is not None and len(tool_calls) == 1
    tool_call = tool_calls[0]
    assert tool_call.type == "function" and tool_call.id.startswith("call_")
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": USER, "days": 1, "unit": "celsius"}
    assert second.choices[0].message.tool_calls == tool_calls


def test_chat_tool_call_streams_as_deltas(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="fake-neutral", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True
        )
    )
    deltas = [c.choices[0].delta for c in chunks]
    opening = deltas[0].tool_calls
    assert opening is not None and opening[0].id is not None and opening[0].id.startswith("call_")
    assert opening[0].function is not None and opening[0].function.name == "get_weather"
    argument_deltas = [d.tool_calls[0] for d in deltas[1:] if d.tool_calls]
    assert len(argument_deltas) >= 3
    assert all(d.index == 0 and d.id is None for d in argument_deltas)
    arguments = "".join(d.function.arguments or "" for d in argument_deltas if d.function)
    assert json.loads(arguments)["city"] == USER
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_result_gets_a_text_answer(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="fake-neutral",
        tools=[WEATHER_TOOL],
        messages=[
            *MESSAGES,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"},
        ],
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == (
        "The tool returned: Sunny, 21C. That should answer the question."
    )


def test_max_tokens_cuts_reply_with_length_finish(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="fake-verbose", messages=MESSAGES, max_tokens=3)
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "Thank you for"


# --- Determinism and personalities -----------------------------------------------------------


def test_same_input_same_output_and_personalities_differ(oai: openai.OpenAI) -> None:
    def reply(model: str, messages: list[Any] = MESSAGES) -> str:
        content = oai.chat.completions.create(model=model, messages=messages).choices[0]
        return content.message.content or ""

    replies = {name: reply(name) for name in model_names()}
    assert len(set(replies.values())) == len(PERSONALITIES)
    assert replies == {name: reply(name) for name in model_names()}
    assert replies["fake-echo"] == f"You said: {USER}"
    assert len(replies["fake-terse"].split()) < 12 < len(replies["fake-verbose"].split())
    assert reply("gpt-4o-mini") == replies["fake-neutral"]
    assert reply("my-pirate-v2") == replies["fake-pirate"]
    assert reply("fake-echo", [{"role": "user", "content": "other"}]) == "You said: other"


def test_system_prompt_is_revealed_in_every_api(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    system = "You are the plaudit assistant; be kind and precise in all answers."
    note = f"(context: {system[:40]})"
    chat = oai.chat.completions.create(
        model="fake-echo", messages=[{"role": "system", "content": system}, *MESSAGES]
    )
    assert chat.choices[0].message.content == f"You said: {USER} {note}"
    response = oai.responses.create(model="fake-echo", input=USER, instructions=system)
    assert response.output_text.endswith(note)
    message = claude.messages.create(
        model="fake-echo", max_tokens=200, system=system, messages=MESSAGES
    )
    assert message.content[0].type == "text" and message.content[0].text.endswith(note)
    plain = oai.chat.completions.create(model="fake-echo", messages=MESSAGES)
    assert "(context:" not in (plain.choices[0].message.content or "")


# --- Responses API ----------------------------------------------------------------------------


def test_responses_non_stream(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="fake-formal", input=USER)
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text.startswith("Dear user,") and USER in response.output_text
    assert response.usage is not None
    assert response.usage.input_tokens == len(USER.split())
    assert response.usage.output_tokens == len(response.output_text.split())
    item = response.output[0]
    assert item.type == "message" and item.role == "assistant"


def test_responses_stream_event_sequence(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="fake-echo", input=USER, stream=True))
    types = [event.type for event in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 3 and "".join(deltas) == f"You said: {USER}"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == f"You said: {USER}"


def test_responses_stream_helper_final_response(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="fake-terse", input=USER) as stream:
        text = "".join(e.delta for e in stream if isinstance(e, ResponseTextDeltaEvent))
        final = stream.get_final_response()
    assert final.output_text == text == 'Short answer to "What is the capital of France": yes.'


def test_responses_tool_call(oai: openai.OpenAI) -> None:
    tool: Any = {
        "type": "function",
        "name": "lookup",
        "parameters": WEATHER_TOOL["function"]["parameters"],
    }
    response = oai.responses.create(model="fake-neutral", input=USER, tools=[tool])
    item = response.output[0]
    assert item.type == "function_call" and item.name == "lookup"
    assert json.loads(item.arguments)["days"] == 1
    events = list(oai.responses.create(model="fake-neutral", input=USER, tools=[tool], stream=True))
    pieces = [e.delta for e in events if isinstance(e, ResponseFunctionCallArgumentsDeltaEvent)]
    assert "".join(pieces) == item.arguments


# --- Anthropic Messages -----------------------------------------------------------------------


def test_messages_non_stream(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="fake-verbose", max_tokens=500, system="Be thorough.", messages=MESSAGES
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.model == "fake-verbose"
    assert message.stop_reason == "end_turn"
    block = message.content[0]
    assert block.type == "text" and block.text.endswith("(context: Be thorough.)")
    assert message.usage.input_tokens == len(USER.split()) + 2
    assert message.usage.output_tokens == len(block.text.split())


def test_messages_stream_event_sequence(
    claude: anthropic.Anthropic, http: httpx.Client, fake: FakeModelServer
) -> None:
    body = {"model": "fake-echo", "max_tokens": 100, "messages": MESSAGES, "stream": True}
    with http.stream("POST", "/v1/messages", json=body) as response:
        names = [
            ln.removeprefix("event: ") for ln in sse_lines(response) if ln.startswith("event:")
        ]
    deltas = names.count("content_block_delta")
    assert deltas >= 3
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    with claude.messages.stream(model="fake-echo", max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == f"You said: {USER}"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == len(text.split())


def test_messages_tool_use(claude: anthropic.Anthropic) -> None:
    tool: Any = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
    message = claude.messages.create(
        model="fake-neutral",
        max_tokens=100,
        messages=MESSAGES,
        tools=[tool],
    )
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.input == {"city": USER, "days": 1, "unit": "celsius"}
    with claude.messages.stream(
        model="fake-neutral",
        max_tokens=100,
        messages=MESSAGES,
        tools=[tool],
    ) as stream:
        final = stream.get_final_message()
    streamed = final.content[0]
    assert streamed.type == "tool_use" and streamed.input == block.input
    result = {"type": "tool_result", "tool_use_id": block.id, "content": "Rain"}
    conversation: list[Any] = [
        *MESSAGES,
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [result]},
    ]
    follow_up = claude.messages.create(
        model="fake-terse", max_tokens=100, tools=[tool], messages=conversation
    )
    assert follow_up.stop_reason == "end_turn"
    assert follow_up.content[0].type == "text" and follow_up.content[0].text == "Result: Rain."


# --- Models, health, content types ------------------------------------------------------------


def test_models_listing_for_both_sdks(
    oai: openai.OpenAI, claude: anthropic.Anthropic, http: httpx.Client
) -> None:
    assert [m.id for m in oai.models.list()] == model_names()
    assert [m.id for m in claude.models.list()] == model_names()
    health = http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_every_response_has_a_content_type(http: httpx.Client) -> None:
    answers = [
        http.get("/healthz"),
        http.get("/_requests"),
        http.get("/nope"),
        http.get("/v1/chat/completions"),
        http.post("/v1/chat/completions", content=b"not json"),
        http.post("/v1/messages", json={"model": "x"}),
        http.post("/v1/chat/completions", json={}, headers={"X-Fake-Status": "503"}),
        http.post("/v1/responses", json={"input": "hi"}, headers={"X-Fake-Malformed": "json"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 405, 400, 400, 503, 200]
    assert all(a.headers.get("content-type") for a in answers)
    assert answers[5].json()["type"] == "error"
    assert answers[4].json()["error"]["type"] == "invalid_request_error"


# --- Fault and latency injection --------------------------------------------------------------


def test_latency_before_first_byte(oai: openai.OpenAI) -> None:
    start = time.monotonic()
    oai.chat.completions.create(model="m", messages=MESSAGES)
    fast = time.monotonic() - start
    start = time.monotonic()
    oai.chat.completions.create(
        model="m", messages=MESSAGES, extra_headers={"X-Fake-Latency-Ms": "150"}
    )
    slow = time.monotonic() - start
    assert 0.14 <= slow < 2.0
    assert fast < slow


def test_chunk_delay_paces_the_stream(http: httpx.Client) -> None:
    body = {"model": "fake-echo", "messages": MESSAGES, "stream": True}
    headers = {"X-Fake-Chunk-Delay-Ms": "20"}
    start = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        data = sse_data(response)
    elapsed = time.monotonic() - start
    assert elapsed >= 0.02 * (len(data) - 1) * 0.9


def test_error_rate_one_raises_the_sdk_error_class(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    headers = {"X-Fake-Error-Rate": "1"}
    with pytest.raises(openai.InternalServerError) as oai_error:
        oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    assert oai_error.value.status_code == 500
    body = oai_error.value.response.json()
    assert set(body["error"]) >= {"message", "type", "code"}
    assert body["error"]["type"] == "server_error"
    with pytest.raises(anthropic.InternalServerError) as claude_error:
        claude.messages.create(model="m", max_tokens=5, messages=MESSAGES, extra_headers=headers)
    assert claude_error.value.response.json()["error"]["type"] == "api_error"
    headers["X-Fake-Error-Status"] = "400"
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="m", input="x", extra_headers=headers)


def test_error_rate_is_seeded_and_reproducible(http: httpx.Client, fake: FakeModelServer) -> None:
    def pattern() -> list[int]:
        headers = {"X-Fake-Error-Rate": "0.5", "X-Fake-Seed": "7"}
        return [
            http.post(
                "/v1/chat/completions", json={"messages": MESSAGES}, headers=headers
            ).status_code
            for _ in range(20)
        ]

    first = pattern()
    fake.reset()
    assert pattern() == first
    assert {200, 500} == set(first)


def test_status_429_sends_retry_after(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    headers = {"X-Fake-Status": "429", "X-Fake-Retry-After": "3"}
    with pytest.raises(openai.RateLimitError) as oai_error:
        oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    assert oai_error.value.response.headers["retry-after"] == "3"
    assert oai_error.value.response.json()["error"]["code"] == "rate_limit_exceeded"
    with pytest.raises(anthropic.RateLimitError) as claude_error:
        claude.messages.create(model="m", max_tokens=5, messages=MESSAGES, extra_headers=headers)
    assert claude_error.value.response.headers["retry-after"] == "3"
    assert claude_error.value.response.json() == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "Injected fault (status): HTTP 429 from the plaudit fake model server",
        },
    }
    with pytest.raises(openai.InternalServerError) as unavailable:
        oai.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"X-Fake-Status": "503"}
        )
    assert unavailable.value.response.headers["retry-after"] == "1"


def test_malformed_json(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    headers = {"X-Fake-Malformed": "json"}
    with pytest.raises(json.JSONDecodeError):
        oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    with pytest.raises(json.JSONDecodeError):
        claude.messages.create(model="m", max_tokens=5, messages=MESSAGES, extra_headers=headers)


def test_malformed_shape(fake: FakeModelServer, oai: openai.OpenAI) -> None:
    headers = {"X-Fake-Malformed": "shape"}
    lenient = oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    assert lenient.choices is None  # the SDK does not validate; user code would crash here
    strict = openai.OpenAI(
        base_url=fake.openai_base_url,
        api_key="k",
        max_retries=0,
        _strict_response_validation=True,
    )
    with pytest.raises(openai.APIResponseValidationError):
        strict.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)


def test_malformed_stream_breaks_midway(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    headers = {"X-Fake-Malformed": "stream"}
    seen: list[str] = []
    stream = oai.chat.completions.create(
        model="fake-echo", messages=MESSAGES, stream=True, extra_headers=headers
    )
    with pytest.raises(json.JSONDecodeError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert 0 < len(seen) and "".join(seen) != f"You said: {USER}"
    with (
        pytest.raises(json.JSONDecodeError),
        claude.messages.stream(
            model="m", max_tokens=50, messages=MESSAGES, extra_headers=headers
        ) as claude_stream,
    ):
        claude_stream.get_final_message()


def test_malformed_truncate_drops_the_connection(oai: openai.OpenAI) -> None:
    headers = {"X-Fake-Malformed": "truncate"}
    finishes: list[str | None] = []
    stream = oai.chat.completions.create(
        model="fake-echo", messages=MESSAGES, stream=True, extra_headers=headers
    )
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            finishes.append(chunk.choices[0].finish_reason)
    assert finishes and "stop" not in finishes
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)


def test_malformed_hang_times_out(fake: FakeModelServer) -> None:
    client = openai.OpenAI(
        base_url=fake.url_with(malformed="hang") + "/v1", api_key="k", max_retries=0, timeout=0.3
    )
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert 0.25 < time.monotonic() - start < 3
    assert fake.requests[-1]["fault"] == "hang"


def test_fail_first_then_succeed_with_sdk_retries(fake: FakeModelServer) -> None:
    base = fake.url_with(fail_first=2, status=429, retry_after=0.01)
    client = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=2)
    completion = client.chat.completions.create(model="fake-echo", messages=MESSAGES)
    assert completion.choices[0].message.content == f"You said: {USER}"
    assert [(r["status"], r["fault"]) for r in fake.requests] == [
        (429, "fail_first"),
        (429, "fail_first"),
        (200, None),
    ]
    assert client.chat.completions.create(model="m", messages=MESSAGES).choices


def test_fail_first_server_default_counts_per_server() -> None:
    with FakeModelServer(fail_first=1) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
        assert client.messages.create(model="m", max_tokens=5, messages=MESSAGES).content
        assert server.options == FakeOptions(fail_first=1)


def test_path_prefix_options(fake: FakeModelServer) -> None:
    base = fake.url_with(status=429, latency_ms=50)
    assert base == fake.url + "/opts/status=429,latency_ms=50"
    client = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
    start = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="m", input="hi")
    assert time.monotonic() - start >= 0.045
    claude = anthropic.Anthropic(base_url=fake.url_with(error_rate=1), api_key="k", max_retries=0)
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    recorded = fake.requests
    assert recorded[0]["path"] == "/opts/status=429,latency_ms=50/v1/responses"
    assert recorded[0]["options"]["status"] == 429
    assert recorded[1]["options"]["error_rate"] == 1.0


def test_headers_override_path_and_bad_options_fail_loudly(fake: FakeModelServer) -> None:
    client = openai.OpenAI(base_url=fake.url_with(status=429) + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"X-Fake-Status": "503"}
        )
    with pytest.raises(openai.BadRequestError, match="bogus"):
        client.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"X-Fake-Bogus": "1"}
        )
    with pytest.raises(ValueError, match="error_rate"):
        FakeModelServer(error_rate=2)
    with pytest.raises(ValueError, match="unknown fake option"):
        create_fake_app(latency=5)


# --- Request log ------------------------------------------------------------------------------


def test_request_log_redacts_secrets_and_clears(
    fake: FakeModelServer, oai: openai.OpenAI, http: httpx.Client
) -> None:
    oai.chat.completions.create(model="fake-echo", messages=MESSAGES)
    http.post(
        "/opts/latency_ms=1/v1/messages",
        json={"model": "fake-echo", "max_tokens": 5, "messages": MESSAGES},
        headers={"x-api-key": "sk-ant-very-secret", "X-Fake-Seed": "3"},
    )
    log = http.get("/_requests").json()
    assert log == fake.requests
    assert [entry["path"] for entry in log] == [
        "/v1/chat/completions",
        "/opts/latency_ms=1/v1/messages",
    ]
    assert log[0]["method"] == "POST" and log[0]["headers"]["authorization"] == "***"
    assert log[0]["body"] == {"model": "fake-echo", "messages": MESSAGES}
    assert log[1]["headers"]["x-api-key"] == "***"
    assert log[1]["options"]["latency_ms"] == 1 and log[1]["options"]["seed"] == 3
    assert "sk-test-secret" not in orjson.dumps(log).decode()
    assert "very-secret" not in orjson.dumps(log).decode()
    assert http.delete("/_requests").json() == {"cleared": 2}
    assert http.get("/_requests").json() == [] == fake.requests


def test_request_log_keeps_last_thousand(fake: FakeModelServer) -> None:
    # Pipelined HTTP/1.1 on one socket: 1005 real requests without per-request client overhead.
    host = f"127.0.0.1:{fake.port}"
    wire = b"".join(
        f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\nx-n: {n}\r\n"
        f"{'Connection: close' if n == 1004 else 'Connection: keep-alive'}\r\n\r\n".encode()
        for n in range(1005)
    )
    with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as conn:
        conn.sendall(wire)
        received = b""
        while chunk := conn.recv(1 << 16):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 1005
    log = fake.requests
    assert len(log) == 1000
    assert log[0]["headers"]["x-n"] == "5" and log[-1]["headers"]["x-n"] == "1004"


# --- CLI function -----------------------------------------------------------------------------


def test_cli_function_options_and_validation() -> None:
    app = typer.Typer()
    app.command("fake-model")(fake_model)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    help_text = runner.invoke(app, ["fake-model", "--help"]).output
    for flag in ("--port", "--latency-ms", "--chunk-delay-ms", "--error-rate", "--malformed"):
        assert flag in help_text
    bad = runner.invoke(app, ["fake-model", "--malformed", "sideways"], env={"COLUMNS": "300"})
    assert bad.exit_code == 2 and "sideways" in bad.output


# --- Running the server -----------------------------------------------------------------------


def test_stop_does_not_wait_for_hanging_requests() -> None:
    server = FakeModelServer(malformed="hang").start()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.post(server.url + "/v1/messages", json={}, timeout=30).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    caller.join(5)
    assert time.monotonic() - start < 3
    assert outcome and outcome[0] != 200


def test_run_fake_model_serves_in_the_foreground(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = (
        "from plaudit.gateway.fake import run_fake_model\n"
        f"run_fake_model(port={port}, latency_ms=1, done_marker=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stderr=subprocess.DEVNULL, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60  # generous: a loaded CI machine imports slowly
        while True:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        assert [m["id"] for m in models.json()["data"]] == model_names()
        log = httpx.get(f"http://127.0.0.1:{port}/_requests").json()
        assert log[-1]["options"]["done_marker"] is True
    finally:
        process.terminate()
        process.wait(10)
