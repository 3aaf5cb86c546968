"""stream_many: arrival order, tagging, concurrency, per-model limits and cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway_helpers import ask, run_all, stored, terminal

from plaudit.gateway import CallContext, Gateway


def test_deltas_are_tagged_ordered_and_interleaved(fake, make_spec, sessions, org):
    names = ["fake-pirate", "fake-verbose", "fake-formal"]
    specs = [
        make_spec(10 + i, "openai", fake.url_with(chunk_delay_ms=15) + "/v1", upstream_model=n)
        for i, n in enumerate(names)
    ]
    deltas = run_all(Gateway(sessions), specs, ask(tags=["job:1", "unit:2", "turn:0"]))
    by_model = [d.model_id for d in deltas if d.kind == "delta"]
    assert set(by_model) == {10, 11, 12}
    switches = sum(1 for a, b in zip(by_model, by_model[1:], strict=False) if a != b)
    assert switches > 3, "deltas of concurrent models should interleave as they arrive"
    for spec in specs:
        done = terminal(deltas, spec.id)
        assert done.kind == "done"
        own = [d.text for d in deltas if d.model_id == spec.id and d.kind == "delta"]
        assert "".join(own) == done.text  # per-model order is preserved
        after = deltas[deltas.index(done) + 1 :]
        assert not [d for d in after if d.model_id == spec.id], "nothing after the terminal"
        row = stored(sessions, org.id, done.completion_id)
        assert row.tags == ["job:1", "unit:2", "turn:0", f"model:{spec.id}"]
    texts = {terminal(deltas, s.id).text for s in specs}
    assert len(texts) == 3, "different personalities answer differently"


def test_each_model_may_get_its_own_context(fake, make_spec):
    a = make_spec(1, "openai", fake.openai_base_url, upstream_model="fake-echo")
    b = make_spec(2, "openai", fake.openai_base_url, upstream_model="fake-echo")
    deltas = run_all(Gateway(), [a, b], {1: ask("first"), 2: ask("second")})
    assert terminal(deltas, 1).text == "You said: first"
    assert terminal(deltas, 2).text == "You said: second"
    assert terminal(deltas, 1).completion_id is None  # no sessions: nothing recorded


def test_models_run_concurrently(fake, make_spec):
    latencies = [300, 600, 1200]
    specs = [
        make_spec(i, "openai", fake.url_with(latency_ms=ms) + "/v1")
        for i, ms in enumerate(latencies, start=1)
    ]
    gateway = Gateway()

    async def main() -> tuple[float, list]:
        await gateway.complete(make_spec(9, "openai", fake.openai_base_url), ask())  # warm up
        started = time.perf_counter()
        deltas = [d async for d in gateway.stream_many(specs, ask())]
        total = time.perf_counter() - started
        await gateway.aclose()
        return total, deltas

    total, deltas = asyncio.run(main())
    assert all(terminal(deltas, s.id).kind == "done" for s in specs)
    assert total >= 1.2
    assert total < sum(latencies) / 1000 - 0.2, f"calls ran one after another ({total:.2f}s)"
    ends = [d.model_id for d in deltas if d.terminal]
    assert ends == [1, 2, 3], "the fastest model finishes first"


def test_concurrency_limit_per_model(fake, make_spec):
    """concurrency=1 runs a model's calls one at a time; concurrency=3 overlaps them."""
    endpoint = fake.url_with(latency_ms=400) + "/v1"
    gateway = Gateway()

    async def three_calls(concurrency: int) -> float:
        spec = make_spec(concurrency, "openai", endpoint, concurrency=concurrency)
        started = time.perf_counter()
        results = await asyncio.gather(*(gateway.complete(spec, ask()) for _ in range(3)))
        assert all(r.kind == "done" for r in results)
        return time.perf_counter() - started

    async def main() -> tuple[float, float]:
        await gateway.complete(make_spec(9, "openai", fake.openai_base_url), ask())  # warm up
        serial, parallel = await three_calls(1), await three_calls(3)
        await gateway.aclose()
        return serial, parallel

    serial, parallel = asyncio.run(main())
    assert serial >= 1.2, f"concurrency=1 must run calls one at a time ({serial:.2f}s)"
    assert parallel < 0.75 * serial, f"concurrency=3 should overlap ({parallel:.2f}s)"


def test_closing_the_stream_cancels_upstream_calls(fake, make_spec):
    quick = make_spec(1, "openai", fake.openai_base_url)
    hung = make_spec(2, "openai", fake.url_with(malformed="hang") + "/v1", timeout_s=60)
    gateway = Gateway()

    async def main() -> float:
        stream = gateway.stream_many([quick, hung], ask())
        async for delta in stream:
            if delta.model_id == 1 and delta.terminal:
                break
        started = time.perf_counter()
        await stream.aclose()
        closed_in = time.perf_counter() - started
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftovers, f"tasks still running after aclose: {leftovers}"
        await gateway.aclose()
        return closed_in

    assert asyncio.run(main()) < 2.0


def test_cancelling_the_consumer_task_propagates(fake, make_spec):
    hung = make_spec(1, "anthropic", fake.url_with(malformed="hang"), timeout_s=60)
    gateway = Gateway()

    async def consume() -> None:
        async for _ in gateway.stream_many([hung], ask()):
            pass

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        await asyncio.sleep(0)
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftovers
        await gateway.aclose()

    asyncio.run(main())


def test_complete_returns_the_terminal_delta(fake, make_spec, sessions, org):
    spec = make_spec(1, "openai", fake.openai_base_url, upstream_model="fake-echo")
    gateway = Gateway(sessions)

    async def main() -> None:
        done = await gateway.complete(spec, ask("hello"))
        assert (done.kind, done.text) == ("done", "You said: hello")
        assert stored(sessions, org.id, done.completion_id).status == "finished"
        await gateway.aclose()

    asyncio.run(main())


def test_the_same_model_twice_is_refused(fake, make_spec):
    spec = make_spec(1, "openai", fake.openai_base_url)
    with pytest.raises(ValueError, match="same model twice"):
        run_all(Gateway(), [spec, spec], ask())
    with pytest.raises(ValueError, match="no CallContext"):
        run_all(Gateway(), [spec], {2: CallContext(messages=[])})


def test_unknown_adapter_is_a_model_error_not_a_crash(fake, make_spec):
    spec = make_spec(1, "nonesuch", fake.openai_base_url)
    good = make_spec(2, "openai", fake.openai_base_url)
    deltas = run_all(Gateway(), [spec, good], ask())
    assert "unknown adapter 'nonesuch'" in (terminal(deltas, 1).error or "")
    assert terminal(deltas, 2).kind == "done"
