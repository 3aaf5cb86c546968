"""Demo models: registered idempotently, distinct personalities, different latencies."""

from __future__ import annotations

from gateway_helpers import ask, run_all, terminal

from plaudit.db.session import session_scope
from plaudit.gateway import Gateway, spec_from_row
from plaudit.gateway.adapters.local_adapter import unavailable_reason
from plaudit.gateway.demo import LOCAL_MODEL_NAME, register_demo_models
from plaudit.gateway.registry import list_models


def test_demo_models_register_idempotently_and_answer(fake, sessions, org):
    with session_scope(sessions) as session:
        first = [m.id for m in register_demo_models(session, org.id, fake.url)]
    with session_scope(sessions) as session:
        second = register_demo_models(session, org.id, fake.url + "/v1")
        assert [m.id for m in second] == first
        specs = [spec_from_row(m) for m in second if m.adapter != "local"]
        names = {m.name for m in list_models(session, org.id)}
    assert {"fake-terse", "fake-verbose", "fake-pirate", "fake-formal"} <= names
    assert (LOCAL_MODEL_NAME in names) == (unavailable_reason() is None)
    assert {s.adapter for s in specs} == {"openai", "anthropic", "http"}
    deltas = run_all(Gateway(), specs, ask("Tell me about tea", dynamic_attrs={"preamble": "x"}))
    done = [terminal(deltas, s.id) for s in specs]
    assert all(d.kind == "done" for d in done), [d.error for d in done]
    assert len({d.text for d in done}) == len(specs), "each personality answers differently"
    ttft = {s.name: d.ttft_ms for s, d in zip(specs, done, strict=True)}
    assert ttft["fake-terse"] < ttft["fake-verbose"], ttft  # 120 ms vs 450 ms upstream latency
