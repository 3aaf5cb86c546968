"""Every built-in adapter, streaming against the fake model server over real HTTP."""

from __future__ import annotations

import pytest
from gateway_helpers import QUESTION, SECRET, ask, run_all, stored, terminal

from plaudit.gateway import Gateway
from plaudit.gateway.adapters.local_adapter import unavailable_reason

CHAT_TEMPLATE = {"model": "fake-formal", "messages": "${messages}", "stream": True}


def _check_streamed(deltas, model_id):  # type: ignore[no-untyped-def]
    pieces = [d.text for d in deltas if d.model_id == model_id and d.kind == "delta"]
    done = terminal(deltas, model_id)
    assert done.kind == "done", done.error
    assert len(pieces) > 3, "the reply should arrive in several deltas"
    assert "".join(pieces) == done.text
    assert done.ttft_ms is not None and done.latency_ms is not None
    assert 0 <= done.ttft_ms <= done.latency_ms
    return done


def test_openai_adapter_streams_and_records(fake, make_spec, sessions, org):
    spec = make_spec(1, "openai", fake.openai_base_url, upstream_model="fake-pirate")
    deltas = run_all(Gateway(sessions), [spec], ask(tags=["job:7", "turn:0"]))
    done = _check_streamed(deltas, 1)
    assert done.text.startswith("Arr, matey!") and QUESTION in done.text
    assert done.usage and done.usage["completion_tokens"] > 0
    row = stored(sessions, org.id, done.completion_id)
    assert (row.status, row.model, row.provider) == ("finished", "model-1", "openai")
    assert row.tags == ["job:7", "turn:0", "model:1"]
    assert row.response["choices"][0]["message"]["content"] == done.text
    assert row.request["messages"] == [{"role": "user", "content": QUESTION}]
    assert row.ttft_ms is not None and row.error is None
    sent = fake.requests[-1]
    assert sent["body"]["model"] == "fake-pirate" and sent["body"]["stream"] is True
    assert sent["headers"]["authorization"] == "***"  # the fake redacts, but got a key


def test_openai_adapter_sends_system_prompt_preamble_and_params(fake, make_spec):
    spec = make_spec(
        1, "openai", fake.openai_base_url,
        default_params={"system_prompt": "Be brief.", "temperature": 0.3, "max_tokens": 5},
    )  # fmt: skip
    ctx = ask(dynamic_attrs={"preamble": "You are on a ship."}, params={"temperature": 0.9})
    done = terminal(run_all(Gateway(), [spec], ctx), 1)
    body = fake.requests[-1]["body"]
    assert body["messages"][0] == {"role": "system", "content": "Be brief.\n\nYou are on a ship."}
    assert body["temperature"] == 0.9 and body["max_tokens"] == 5  # call params win
    assert "system_prompt" not in body
    assert len(done.text.split()) <= 5 + 8  # the fake honours max_tokens (plus context note)


def test_anthropic_adapter_streams_with_system(fake, make_spec, sessions, org):
    spec = make_spec(2, "anthropic", fake.anthropic_base_url, upstream_model="fake-terse",
                     default_params={"system_prompt": "Answer like a tester."})  # fmt: skip
    deltas = run_all(Gateway(sessions), [spec], ask())
    pieces = [d for d in deltas if d.kind == "delta"]
    done = terminal(deltas, 2)
    assert done.kind == "done", done.error
    assert done.text.startswith('Short answer to "What is the capital of France"')
    assert "(context: Answer like a tester.)" in done.text
    assert len(pieces) > 3 and "".join(p.text for p in pieces) == done.text
    body = fake.requests[-1]["body"]
    assert body["system"] == "Answer like a tester." and body["max_tokens"] == 1024
    headers = fake.requests[-1]["headers"]
    assert "***" in (headers.get("x-api-key"), headers.get("authorization"))  # a key was sent
    row = stored(sessions, org.id, done.completion_id)
    assert row.provider == "anthropic" and row.usage and row.usage["output_tokens"] > 0


def test_http_adapter_sse_stream(fake, make_spec, sessions, org):
    spec = make_spec(
        3, "http", fake.openai_base_url + "/chat/completions",
        input_template={**CHAT_TEMPLATE, "temperature": "${params.temperature}",
                        "note": "preamble=${dynamic_attrs.preamble}!"},
        stream_path="choices[0].delta.content", default_params={"temperature": 0.25},
    )  # fmt: skip
    deltas = run_all(Gateway(sessions), [spec], ask(dynamic_attrs={"preamble": "P1"}))
    done = _check_streamed(deltas, 3)
    assert done.text.startswith("Dear user, thank you for your enquiry")
    body = fake.requests[-1]["body"]
    assert body["temperature"] == 0.25  # a whole-string placeholder keeps the JSON type
    assert body["note"] == "preamble=P1!"  # an embedded one becomes text
    assert body["messages"] == [{"role": "user", "content": QUESTION}]
    assert fake.requests[-1]["headers"]["authorization"] == "***"
    assert stored(sessions, org.id, done.completion_id).provider == "http"


def test_http_adapter_plain_json_answer(fake, make_spec):
    spec = make_spec(
        4, "http", fake.openai_base_url + "/chat/completions",
        input_template={"model": "fake-echo", "messages": [{"role": "user",
                                                            "content": "${prompt}"}]},
        output_path="choices[0].message.content",
    )  # fmt: skip
    done = terminal(run_all(Gateway(), [spec], ask("ping pong")), 4)
    assert done.kind == "done", done.error
    assert done.text == "You said: ping pong"


def test_http_adapter_json_lines_stream(jsonl_server, make_spec):
    spec = make_spec(5, "http", jsonl_server.url + "/generate",
                     input_template={"prompt": "${prompt}"}, stream_path="token.text")  # fmt: skip
    deltas = run_all(Gateway(), [spec], ask("hello over json lines"))
    done = _check_streamed(deltas, 5)
    assert done.text == "Echo: hello over json lines"
    assert done.usage == {"completion_tokens": 5}


def test_http_adapter_custom_auth_header(fake, make_spec):
    spec = make_spec(
        6, "http", fake.openai_base_url + "/chat/completions",
        input_template=CHAT_TEMPLATE, stream_path="choices[0].delta.content",
        default_params={"auth_header": "x-api-key", "headers": {"x-team": "eval"}},
    )  # fmt: skip
    assert terminal(run_all(Gateway(), [spec], ask()), 6).kind == "done"
    headers = fake.requests[-1]["headers"]
    assert headers["x-api-key"] == "***" and headers["x-team"] == "eval"
    assert "authorization" not in headers
    body = fake.requests[-1]["body"]
    assert "auth_header" not in body and SECRET not in str(body)


@pytest.mark.skipif(unavailable_reason() is not None, reason=f"{unavailable_reason()}")
def test_local_adapter_answers_offline(make_spec, sessions, org):
    spec = make_spec(
        7, "local", None, upstream_model="SmolLM2-135M-Instruct", secret=None,
        default_params={"max_tokens": 24, "temperature": 0.0}, timeout_s=120.0,
    )  # fmt: skip
    ctx = ask("What is the capital of France? Answer in one sentence.")
    deltas = run_all(Gateway(sessions), [spec], ctx)
    done = terminal(deltas, 7)
    assert done.kind == "done", done.error
    pieces = [d.text for d in deltas if d.kind == "delta"]
    assert len(pieces) > 1 and "".join(pieces) == done.text
    assert "Paris" in done.text
    row = stored(sessions, org.id, done.completion_id)
    assert row.provider == "local" and row.status == "finished"


def test_recorded_calls_are_linked_to_their_tags_and_reach_the_inbox(
    fake, make_spec, sessions, org
):
    """The gateway's own completion writer (plain inserts, tag ids kept between batches) files
    calls like any logged completion: findable by tag, matched to feedback tasks."""
    from sqlalchemy import func, select

    from plaudit.core.completions import CompletionFilter, list_completions
    from plaudit.core.tasks import create_task
    from plaudit.db.models import InboxSlot
    from plaudit.db.session import session_scope

    with session_scope(sessions) as session:
        task = create_task(session, org.id, name="t", json_schema={"type": "object"},
                           completion_tags_selector=["job:7"])  # fmt: skip
    spec = make_spec(1, "openai", fake.openai_base_url, upstream_model="fake-echo")
    gateway = Gateway(sessions)
    ids = [
        terminal(run_all(gateway, [spec], ask(tags=["job:7", f"turn:{turn}"])), 1).completion_id
        for turn in range(3)  # the later calls find job:7 and model:1 among the kept tag ids
    ]
    with sessions() as session:
        for turn, completion_id in enumerate(ids):
            flt = CompletionFilter(tags=["job:7", f"turn:{turn}", "model:1"])
            found, total = list_completions(session, org.id, flt)
            assert (total, [c.id for c in found]) == (1, [completion_id])
        slots = select(func.count()).where(InboxSlot.task_id == task.id)
        assert session.scalar(slots) == 3


def test_a_tag_created_by_a_rolled_back_batch_is_not_kept(fake, make_spec, sessions, org):
    """Tag ids are kept only once their batch has committed: a batch that failed must not
    leave an id that was never stored (its tag links would then fail)."""
    from sqlalchemy import select

    from plaudit.db.models import Tag
    from plaudit.db.session import session_scope
    from plaudit.gateway.service import CompletionWriter

    writer = CompletionWriter()
    data = {"status": "finished", "tags": ["fresh:tag"], "request": {}, "response": {}}
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        writer(session, [(org.id, "c-rolled-back", data)])
        raise RuntimeError("the batch fails after the tag was created")
    assert writer._tag_ids == {}
    with session_scope(sessions) as session:
        writer(session, [(org.id, "c-stored", data)])
    with sessions() as session:
        stored_id = session.scalar(select(Tag.id).where(Tag.name == "fresh:tag"))
    assert writer._tag_ids == {(org.id, "fresh:tag"): stored_id}


def test_http_proxy_from_the_environment_is_used_and_no_proxy_honoured(
    fake, make_spec, monkeypatch
):
    """HTTP(S)_PROXY reaches the adapters' own pool, as it did with httpx; NO_PROXY skips it."""
    proxy = fake.openai_base_url.removesuffix("/v1")  # the fake answers absolute-form requests
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    spec = make_spec(1, "openai", "http://models.invalid/v1", max_retries=0)
    done = terminal(run_all(Gateway(), [spec], ask()), 1)
    assert done.kind == "done", done.error
    assert fake.requests[-1]["path"] == "/v1/chat/completions"

    monkeypatch.setenv("NO_PROXY", "models.invalid")
    failed = terminal(run_all(Gateway(), [spec], ask()), 1)
    assert failed.kind == "error" and "could not connect" in (failed.error or "")
