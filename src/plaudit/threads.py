"""Blocking work run from the event loop (database transactions, parsing a large body), on
thread pools.

``loop.run_in_executor`` rather than ``anyio.to_thread.run_sync`` (what Starlette's
``run_in_threadpool`` is): anyio's capacity limiter and cancel scopes cost more per call than
the short transactions of a chat action (profiled on the chat-turn benchmark). The main pool
has as many threads as anyio's default limiter, so the database pools sized for it still fit.

SQLite write transactions (``run_write``) get a small pool of their own: they run one at a time
anyway (one write lock), and 40 threads queueing for it made a burst of 50 chat turns slower
(p95 added 191–433 ms against 156–374 ms with 4 threads, five paired runs). Reads and key
checks stay on the main pool, so writers waiting on the lock (say, for another process's
transaction) never hold them up.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
WORKER_THREADS = 40
SQLITE_WRITE_THREADS = 4

_workers = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="plaudit-worker")
_sqlite_writers = ThreadPoolExecutor(
    max_workers=SQLITE_WRITE_THREADS, thread_name_prefix="plaudit-sqlite-writer"
)


async def run_blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a worker thread. Cancelling the caller does not stop
    it: the call runs to its end (a transaction commits or rolls back as a whole)."""
    return await _run(_workers, function, *args, **kwargs)


async def run_write(
    sessions: sessionmaker[Session], function: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """As :func:`run_blocking`, for a call that writes through ``sessions``."""
    bind: Any = sessions.kw.get("bind")
    sqlite = bind is not None and bind.dialect.name == "sqlite"
    return await _run(_sqlite_writers if sqlite else _workers, function, *args, **kwargs)


async def _run(executor: Executor, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    call = functools.partial(function, *args, **kwargs)
    return await asyncio.shield(asyncio.get_running_loop().run_in_executor(executor, call))
