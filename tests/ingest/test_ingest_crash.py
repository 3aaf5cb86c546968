"""Reliability: kill -9 during sustained ingestion, then restart (SQLite and PostgreSQL).

Every batch the server acknowledged must be in the database exactly once; batches in flight
when it died are retried by the client (raw HTTP) or replayed from the SDK's spool.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from plaudit.db.models import Completion, CompletionTag
from plaudit.db.session import make_sessionmaker
from plaudit.sdk.config import SDKConfig
from plaudit.sdk.transport import Transport

BATCH = 100


def _batch(prefix: str, n: int) -> list[dict[str, object]]:
    return [
        {"id": f"{prefix}-{n}-{i}", "status": "finished", "model": "m",
         "request": {"messages": [{"role": "user", "content": f"{n}/{i}"}]},
         "response": {"choices": [{"message": {"content": "ok"}}]}, "tags": ["crash", prefix]}
        for i in range(BATCH)
    ]  # fmt: skip


class Sender(threading.Thread):
    """Posts batches back to back; remembers which ones were acknowledged."""

    def __init__(self, url: str, headers: dict[str, str], prefix: str) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.prefix = url, headers, prefix
        self.acked: list[int] = []
        self.unacked: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            n = 0
            while not self.stop.is_set():
                try:
                    answer = client.post(
                        f"{self.url}/api/v1/completions/batch",
                        json={"completions": _batch(self.prefix, n)},
                        headers=self.headers,
                    )
                    (self.acked if answer.status_code == 200 else self.unacked).append(n)
                except httpx.TransportError:
                    self.unacked.append(n)
                    time.sleep(0.02)
                n += 1


def _ids_in_db(engine, org_id: str) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return list(session.scalars(select(Completion.id).where(Completion.org_id == org_id)))


def _links(engine) -> int:
    with make_sessionmaker(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(CompletionTag)) or 0)


@pytest.mark.timeout(600)  # two server starts: slow only on a CPU-starved machine
def test_kill_9_during_ingestion_loses_no_acknowledged_batch(engine, org, serve, tmp_path: Path):
    serve.start()
    senders = [Sender(serve.url, org.headers, f"s{k}") for k in range(2)]
    spool_dir = tmp_path / "spool"
    cfg = SDKConfig(url=serve.url, api_key=org.api_key, spool_dir=spool_dir,
                    retry_budget_s=0.3, batch_interval_s=0.01)  # fmt: skip
    sdk = Transport(cfg)
    sdk_ids = [f"sdk-{i}" for i in range(600)]
    for sender in senders:
        sender.start()
    for i, cid in enumerate(sdk_ids[:300]):  # SDK traffic while the server is healthy ...
        sdk.enqueue({"id": cid, "status": "finished", "tags": ["crash", "sdk"]})
        if i % 50 == 0:
            time.sleep(0.01)
    time.sleep(0.6)
    serve.kill()  # ... SIGKILL in the middle of it
    for cid in sdk_ids[300:]:
        sdk.enqueue({"id": cid, "status": "finished", "tags": ["crash", "sdk"]})
    assert sdk.flush(10)  # delivered or, with the server dead, spooled to disk
    time.sleep(0.2)
    serve.start()
    time.sleep(0.5)
    for sender in senders:
        sender.stop.set()
        sender.join(10)
    assert all(s.acked for s in senders)
    assert any(s.unacked for s in senders), "the kill should have hit some requests"

    stored = _ids_in_db(engine, org.id)
    assert len(stored) == len(set(stored))
    for sender in senders:
        for n in sender.acked:  # every acknowledged batch is there, completely
            assert {f"{sender.prefix}-{n}-{i}" for i in range(BATCH)} <= set(stored)

    # The raw-HTTP client retries what was not acknowledged; the SDK's spool is replayed by
    # the next process (a fresh Transport stands in for it).
    with httpx.Client(timeout=10) as client:
        for sender in senders:
            for n in sender.unacked:
                answer = client.post(f"{serve.url}/api/v1/completions/batch",
                                     json={"completions": _batch(sender.prefix, n)},
                                     headers=org.headers)  # fmt: skip
                assert answer.status_code == 200
    sdk.shutdown(5)
    replayer = Transport(cfg)
    assert replayer.flush(15)
    assert not list(spool_dir.glob("*.jsonl")), "replayed spool files are deleted"

    stored = _ids_in_db(engine, org.id)
    sent = sum(len(s.acked) + len(s.unacked) for s in senders) * BATCH + len(sdk_ids)
    assert len(stored) == len(set(stored)) == sent
    assert set(sdk_ids) <= set(stored)
    assert _links(engine) == 2 * sent  # two tags each, no duplicated links
    replayer.shutdown(5)
