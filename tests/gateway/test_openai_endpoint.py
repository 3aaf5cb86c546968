"""plaudit's own OpenAI-compatible endpoint, driven by the official openai SDK over real HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest
from gateway_helpers import SECRET

TAG = "via:openai-endpoint"


@pytest.fixture
def registered(client, org, fake):  # type: ignore[no-untyped-def]
    """Two models of the test org: a healthy pirate and one whose upstream always fails."""
    for body in (
        {"name": "pirate", "adapter": "openai", "endpoint": fake.openai_base_url,
         "upstream_model": "fake-pirate", "secret": SECRET},
        {"name": "broken", "adapter": "anthropic", "endpoint": fake.url_with(status=500),
         "secret": SECRET, "max_retries": 0},
    ):  # fmt: skip
        assert client.post("/api/v1/models", json=body, headers=org.headers).status_code == 201


def _sdk(live_server, key):  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=key, max_retries=0)


def _logged(live_server, org):  # type: ignore[no-untyped-def]
    response = httpx.get(
        f"{live_server.url}/api/v1/completions", params={"tags": TAG}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_non_streaming_call_is_answered_and_logged(live_server, org, registered):
    sdk = _sdk(live_server, org.api_key)
    reply = sdk.chat.completions.create(
        model="pirate", messages=[{"role": "user", "content": "Where is the gold"}], temperature=0
    )
    text = reply.choices[0].message.content or ""
    assert text.startswith("Arr, matey!") and "Where is the gold" in text
    assert reply.model == "pirate" and reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    logged = _logged(live_server, org)
    assert len(logged) == 1
    assert reply.id == f"chatcmpl-{logged[0]['id']}"
    assert SECRET not in str(logged)


def test_streaming_call_in_openai_wire_format(live_server, org, registered):
    sdk = _sdk(live_server, org.api_key)
    stream = sdk.chat.completions.create(
        model="pirate",
        messages=[{"role": "user", "content": "Sing a shanty"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Arr, matey!") and len(chunks) > 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    logged = _logged(live_server, org)
    assert len(logged) == 1 and logged[0]["status"] == "finished"


def test_models_are_listed_for_the_callers_org(live_server, org, other_org, registered):
    names = [m.id for m in _sdk(live_server, org.api_key).models.list()]
    assert names == ["pirate", "broken"]
    assert list(_sdk(live_server, other_org.api_key).models.list()) == []


def test_unknown_model_wrong_org_and_bad_key(live_server, org, other_org, registered):
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError, match="model 'nope' not found"):
        _sdk(live_server, org.api_key).chat.completions.create(model="nope", messages=messages)
    with pytest.raises(openai.NotFoundError):  # org B cannot call org A's model
        _sdk(live_server, other_org.api_key).chat.completions.create(
            model="pirate", messages=messages
        )
    with pytest.raises(openai.AuthenticationError):
        _sdk(live_server, "pl_bad_key").chat.completions.create(model="pirate", messages=messages)


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_is_a_502_naming_the_model(live_server, org, registered, stream):
    sdk = _sdk(live_server, org.api_key)
    with pytest.raises(openai.InternalServerError) as caught:
        result = sdk.chat.completions.create(
            model="broken", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        list(result) if stream else None  # type: ignore[call-overload]
    assert caught.value.status_code == 502
    assert "model 'broken'" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert SECRET not in str(caught.value)
    logged = _logged(live_server, org)
    assert logged and logged[0]["status"] == "failed"


def test_bad_request_bodies_are_4xx(live_server, org, registered):
    url = live_server.url + "/v1/chat/completions"
    for body in ({"model": "pirate"}, {"model": "pirate", "messages": []}, {"messages": [{}]}):
        response = httpx.post(url, json=body, headers=org.headers)
        assert response.status_code == 422, response.text


def test_stream_cut_midway_raises_in_the_sdk(live_server, client, org, fake):
    body = {"name": "cut", "adapter": "openai", "endpoint": fake.url_with(malformed="truncate")
            + "/v1", "upstream_model": "fake-verbose"}  # fmt: skip
    assert client.post("/api/v1/models", json=body, headers=org.headers).status_code == 201
    stream = _sdk(live_server, org.api_key).chat.completions.create(
        model="cut", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError, match="closed before the answer was complete"):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received).startswith("Thank you for your question")
    logged = _logged(live_server, org)
    assert logged[0]["status"] == "failed" and logged[0]["error"]
