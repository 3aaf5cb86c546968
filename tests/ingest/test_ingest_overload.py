"""Overload: a full ingest queue answers 503 + Retry-After, never a 2xx for lost data."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from plaudit.config import Settings
from plaudit.db.models import Completion
from plaudit.db.session import make_sessionmaker

QUEUE = 300
BATCH = 100


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:  # overrides tests/conftest.py's
    return Settings(
        data_dir=tmp_path,
        database_url=engine.url.render_as_string(hide_password=False),
        ingest_queue_size=QUEUE,
    )


def _batch(n: int) -> dict[str, object]:
    return {"completions": [{"id": f"o-{n}-{i}", "tags": ["flood"]} for i in range(BATCH)]}


def test_full_queue_answers_503_and_acks_only_what_is_committed(
    app, live_server, org, engine, write_lock
):
    writer = app.state.ingest
    results: dict[int, httpx.Response] = {}
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, writer.queued)
            time.sleep(0.001)

    def post(n: int) -> None:
        results[n] = httpx.post(f"{live_server.url}/api/v1/completions/batch", json=_batch(n),
                                headers=org.headers, timeout=60)  # fmt: skip

    watcher = threading.Thread(target=watch)
    watcher.start()
    with write_lock():
        threads = [threading.Thread(target=post, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and sum(r.status_code == 503 for r in results.values()) < 20 - QUEUE // BATCH - 1
        ):
            time.sleep(0.05)
        assert not any(r.status_code == 200 for r in results.values()), "acked while locked"
    for thread in threads:
        thread.join(60)
    stop.set()
    watcher.join()

    statuses = [r.status_code for r in results.values()]
    assert set(statuses) <= {200, 503}
    refused = [n for n, r in results.items() if r.status_code == 503]
    accepted = [n for n, r in results.items() if r.status_code == 200]
    assert refused and accepted
    for n in refused:
        assert int(results[n].headers["Retry-After"]) >= 1
        assert results[n].json()["error"]["code"] == "overloaded"
    assert peak <= QUEUE  # bounded: the queue never held more than its size
    with make_sessionmaker(engine)() as session:
        stored = set(session.scalars(select(Completion.id)))
    assert stored == {f"o-{n}-{i}" for n in accepted for i in range(BATCH)}
    # once the writer catches up, the same batches are accepted on retry
    for n in refused:
        post(n)
        assert results[n].status_code == 200
