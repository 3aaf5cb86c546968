"""Which thread pool blocking work runs on: SQLite writes on a small pool of their own."""

from __future__ import annotations

import asyncio
import threading
import time

from plaudit.db.session import make_sessionmaker
from plaudit.threads import SQLITE_WRITE_THREADS, run_blocking, run_write


def test_sqlite_writes_have_a_small_pool_and_everything_else_the_main_one(engine):
    writes = make_sessionmaker(engine, write=True)
    running = peak = 0
    lock = threading.Lock()

    def busy() -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return threading.current_thread().name

    async def run() -> tuple[list[str], str]:
        wrote = await asyncio.gather(*(run_write(writes, busy) for _ in range(12)))
        return list(wrote), await run_blocking(lambda: threading.current_thread().name)

    wrote, read = asyncio.run(run())
    assert read.startswith("plaudit-worker")
    if engine.dialect.name == "sqlite":
        assert all(name.startswith("plaudit-sqlite-writer") for name in wrote)
        assert peak <= SQLITE_WRITE_THREADS
    else:  # PostgreSQL writes run side by side: each mostly waits on the network
        assert all(name.startswith("plaudit-worker") for name in wrote)
        assert peak > SQLITE_WRITE_THREADS
