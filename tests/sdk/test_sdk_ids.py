"""Client-made completion ids: valid UUIDv7s, unique across threads, distinct after fork."""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid

import plaudit
from plaudit.sdk import ids


def test_ids_are_uuid7_with_the_call_time_and_sortable():
    before = time.time()
    made = [ids.new_completion_id() for _ in range(1000)]
    after = time.time()
    parsed = [uuid.UUID(m) for m in made]
    assert all(p.version == 7 and p.variant == uuid.RFC_4122 for p in parsed)
    assert all(str(p) == m for p, m in zip(parsed, made, strict=True))  # canonical form
    millis = [p.int >> 80 for p in parsed]
    assert int(before * 1000) <= min(millis) and max(millis) <= int(after * 1000) + 1
    assert made == sorted(made)  # one thread, rising clock and counter: time-ordered


def test_ids_are_unique_across_threads():
    out: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(ids.new_completion_id() for _ in range(20_000))

    threads = [threading.Thread(target=make, args=(o,)) for o in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for o in out for i in o]
    assert len(set(everything)) == len(everything) == 80_000


def test_a_forked_child_does_not_repeat_its_parents_sequence():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the sequence part of its next id
        os.close(read)
        os.write(write, str(next(ids.sequence)).encode())
        os._exit(0)
    os.close(write)
    child = int(os.read(read, 100))
    os.close(read)
    os.waitpid(pid, 0)
    parent = next(ids.sequence)
    # Without re-drawing, both would continue the same counter: child == parent - 0 or - 1.
    assert abs(parent - child) > 1_000_000


def test_registry_answers_for_live_objects_only():
    class Reply:
        pass

    reply = Reply()
    ns, seq = time.time_ns(), next(ids.sequence)
    ids.remember(reply, ns, seq)
    assert ids.completion_id(reply) == ids.format_id(ns, seq)
    assert ids.completion_id(Reply()) is None
    key = id(reply)
    del reply
    gc.collect()
    assert key not in ids.registry
    assert ids.completion_id(object()) is None
    ids.remember(1, ns, seq)  # not weak-referenceable: ignored, not an error
    assert ids.completion_id(1) is None


class _Reply:
    """Stands in for an SDK response object (weak-referenceable, unhashable)."""

    __hash__ = None  # type: ignore[assignment]


def test_a_queued_call_is_registered_then_settled_to_a_weak_reference(tmp_path):
    from plaudit.sdk import transport
    from plaudit.sdk.calls import log_result

    plaudit.configure(url="http://127.0.0.1:9", api_key="k", spool_dir=tmp_path / "spool",
                      retry_budget_s=0.1)  # fmt: skip
    try:
        reply = _Reply()
        kwargs = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        log_result("openai", "chat", kwargs, object(), time.time_ns(), time.perf_counter(), reply)
        queued = ids.registry[id(reply)]
        assert isinstance(queued, tuple) and queued[1] is reply  # held until the worker takes it
        cid = ids.completion_id(reply)
        assert cid is not None and uuid.UUID(cid).version == 7
        assert transport.flush(10)  # server down: the call is spooled, and the entry settled
        assert not isinstance(ids.registry[id(reply)], tuple)
        assert ids.completion_id(reply) == cid
        key = id(reply)
        del reply, queued
        gc.collect()
        assert key not in ids.registry  # nothing keeps the response alive
    finally:
        plaudit.configure(url="", spool_dir=tmp_path / "spool2")


def test_a_disabled_sdk_keeps_ids_but_holds_no_response(tmp_path):
    from plaudit.sdk.calls import log_result

    plaudit.configure(enabled=False, spool_dir=tmp_path / "spool")
    try:
        reply = _Reply()
        log_result("openai", "chat", {"model": "m"}, object(), time.time_ns(), 0.0, reply)
        assert ids.completion_id(reply) is not None
        key = id(reply)
        del reply
        gc.collect()
        assert key not in ids.registry
    finally:
        plaudit.configure(enabled=True)
