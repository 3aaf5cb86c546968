"""Upstream failures: each is a clear per-model error, recorded, never a hang or a leaked secret.

Every case runs the failing model next to a healthy one in the same ``stream_many`` call.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import orjson
import pytest
from gateway_helpers import SECRET, ask, run_all, stored, terminal

from plaudit.gateway import Gateway

CHAT = "/v1/chat/completions"
STREAM_TEMPLATE = {"model": "fake-formal", "messages": "${messages}", "stream": True}
PLAIN_TEMPLATE = {"model": "fake-formal", "messages": "${messages}"}


def _endpoint(fake: Any, adapter: str, **options: Any) -> str:
    root = fake.url_with(**options) if options else fake.url
    return {
        "openai": root + "/v1",
        "anthropic": root,
        "http": root + CHAT,
        "http-plain": root + CHAT,
    }[adapter]


def _fields(adapter: str) -> dict[str, Any]:
    if adapter == "http":
        return {"input_template": STREAM_TEMPLATE, "stream_path": "choices[0].delta.content"}
    if adapter == "http-plain":
        return {"input_template": PLAIN_TEMPLATE, "output_path": "choices[0].message.content"}
    return {}


def _failing_next_to_healthy(fake, make_spec, sessions, org, caplog, adapter, options, **fields):
    """Run a broken model beside a healthy one; check isolation, recording and secrecy."""
    kind = "http" if adapter.startswith("http") else adapter
    bad = make_spec(1, kind, _endpoint(fake, adapter, **options), **{**_fields(adapter), **fields})
    good = make_spec(2, "openai", fake.openai_base_url, upstream_model="fake-terse")
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    deltas = run_all(Gateway(sessions), [bad, good], ask())
    elapsed = time.monotonic() - started
    healthy = terminal(deltas, 2)
    assert healthy.kind == "done" and healthy.text.startswith("Short answer to")
    failed = terminal(deltas, 1)
    assert failed.kind == "error" and failed.error
    assert failed.error.startswith("model 'model-1' (id 1): ")
    row = stored(sessions, org.id, failed.completion_id)
    assert row.status == "failed" and row.error == failed.error
    dumped = orjson.dumps(
        {"request": row.request, "response": row.response, "extra": row.extra, "e": row.error}
    ).decode()
    for text in (failed.error, dumped, caplog.text):
        assert SECRET not in text
    return failed, row, elapsed


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "http"])
def test_upstream_timeout(fake, make_spec, sessions, org, caplog, adapter):
    failed, row, elapsed = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, adapter, {"latency_ms": 20_000}, timeout_s=0.5
    )
    assert "no answer within 0.5s (timeout)" in failed.error
    assert elapsed < 15, "a slow upstream must not hold the call beyond its timeout"


def test_hung_stream_times_out(fake, make_spec, sessions, org, caplog):
    failed, _, elapsed = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, "openai", {"malformed": "hang"}, timeout_s=0.5
    )
    assert "(timeout)" in failed.error and elapsed < 15


def test_stall_after_first_token_is_a_timeout_not_a_retry(jsonl_server, make_spec, sessions, org):
    spec = make_spec(1, "http", jsonl_server.url + "/generate?stall=2", timeout_s=0.5,
                     input_template={"prompt": "${prompt}"}, stream_path="token.text")  # fmt: skip
    started = time.monotonic()
    failed = terminal(run_all(Gateway(sessions), [spec], ask("one two three four")), 1)
    assert failed.kind == "error" and time.monotonic() - started < 15
    assert "stalled for more than 0.5s (timeout)" in (failed.error or "")
    assert failed.text == "Echo: one"
    row = stored(sessions, org.id, failed.completion_id)
    assert row.response["choices"][0]["message"]["content"] == "Echo: one"
    assert row.extra["attempts"] == 1, "text was shown already: no retry"


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "http", "http-plain"])
def test_http_500_is_retried_then_reported(fake, make_spec, sessions, org, caplog, adapter):
    failed, row, _ = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, adapter, {"status": 500}, max_retries=1
    )
    assert "HTTP 500" in failed.error and "(after 2 attempts)" in failed.error
    assert row.extra["attempts"] == 2
    assert len([r for r in fake.requests if r["status"] == 500]) == 2


def test_http_500_once_then_success(fake, make_spec, sessions, org):
    spec = make_spec(1, "openai", fake.url_with(fail_first=1, error_status=500) + "/v1")
    done = terminal(run_all(Gateway(sessions), [spec], ask()), 1)
    assert done.kind == "done", done.error
    assert stored(sessions, org.id, done.completion_id).extra["attempts"] == 2


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "http"])
def test_429_honours_retry_after_then_succeeds(fake, make_spec, sessions, org, adapter):
    kind = "http" if adapter.startswith("http") else adapter
    endpoint = _endpoint(fake, adapter, status=429, fail_first=2, retry_after=0.3)
    spec = make_spec(1, kind, endpoint, max_retries=3, **_fields(adapter))
    done = terminal(run_all(Gateway(sessions), [spec], ask()), 1)
    assert done.kind == "done", done.error
    calls = [r for r in fake.requests if r["api"] in ("chat.completions", "messages")]
    assert [c["status"] for c in calls] == [429, 429, 200]
    gaps = [b["time"] - a["time"] for a, b in zip(calls, calls[1:], strict=False)]
    assert all(gap >= 0.28 for gap in gaps), f"Retry-After (0.3 s) not honoured: {gaps}"
    assert stored(sessions, org.id, done.completion_id).extra["attempts"] == 3


def test_429_with_retries_exhausted(fake, make_spec, sessions, org, caplog):
    failed, _, _ = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, "openai",
        {"status": 429, "retry_after": 0.05}, max_retries=2,
    )  # fmt: skip
    assert "rate limited (HTTP 429)" in failed.error and "(after 3 attempts)" in failed.error


def test_400_is_not_retried(fake, make_spec, sessions, org, caplog):
    failed, row, _ = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, "openai", {"status": 400}
    )
    assert "HTTP 400" in failed.error and row.extra["attempts"] == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on exit: nothing listens there


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "http"])
def test_connection_refused(fake, make_spec, sessions, org, caplog, adapter):
    kind = "http" if adapter.startswith("http") else adapter
    root = f"http://127.0.0.1:{_closed_port()}"
    endpoint = {"openai": root + "/v1", "anthropic": root, "http": root + CHAT}[adapter]
    bad = make_spec(1, kind, endpoint, max_retries=1, **_fields(adapter))
    good = make_spec(2, "openai", fake.openai_base_url, upstream_model="fake-terse")
    caplog.set_level(logging.DEBUG)
    deltas = run_all(Gateway(sessions), [bad, good], ask())
    assert terminal(deltas, 2).kind == "done"
    failed = terminal(deltas, 1)
    assert failed.kind == "error" and "could not connect" in (failed.error or "")
    assert "(after 2 attempts)" in (failed.error or "")
    assert stored(sessions, org.id, failed.completion_id).status == "failed"
    assert SECRET not in (failed.error or "") + caplog.text


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "http"])
def test_stream_that_stops_midway(fake, make_spec, sessions, org, caplog, adapter):
    failed, row, _ = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, adapter, {"malformed": "truncate"}
    )
    assert "closed before the answer was complete" in failed.error or "ended before" in (
        failed.error
    )
    assert failed.text, "the text that did arrive is kept"
    assert row.response["choices"][0]["message"]["content"] == failed.text
    assert row.extra["attempts"] == 1, "text was shown already: no retry"


@pytest.mark.parametrize(
    ("adapter", "kind"),
    [("openai", "json"), ("anthropic", "json"), ("http", "json"), ("http-plain", "json"),
     ("openai", "stream"), ("http", "stream")],
)  # fmt: skip
def test_malformed_json(fake, make_spec, sessions, org, caplog, adapter, kind):
    failed, _, _ = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, adapter, {"malformed": kind}
    )
    assert "malformed JSON" in failed.error


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "http", "http-plain"])
def test_wrong_shape(fake, make_spec, sessions, org, caplog, adapter):
    failed, _, _ = _failing_next_to_healthy(
        fake, make_spec, sessions, org, caplog, adapter, {"malformed": "shape"}
    )
    assert "wrong shape" in failed.error


def test_secret_echoed_by_upstream_is_scrubbed(jsonl_server, make_spec, sessions, org):
    """An upstream that repeats the key in its error body must not get it into plaudit."""
    spec = make_spec(1, "http", jsonl_server.url + "/nowhere", input_template={"key": "x"},
                     output_path="text", max_retries=0)  # fmt: skip
    failed = terminal(run_all(Gateway(sessions), [spec], ask()), 1)
    assert failed.kind == "error" and "HTTP 404" in (failed.error or "")
    assert SECRET not in (failed.error or "")
