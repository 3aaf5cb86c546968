"""Blocking work run from the event loop (database transactions, parsing a large body), on one
thread pool.

``loop.run_in_executor`` rather than ``anyio.to_thread.run_sync`` (what Starlette's
``run_in_threadpool`` is): anyio's capacity limiter and cancel scopes cost more per call than
the short transactions of a chat action (profiled on the chat-turn benchmark). The pool has as
many threads as anyio's default limiter, so the database pools sized for it still fit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
WORKER_THREADS = 40

_executor = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="plaudit-worker")


async def run_blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a worker thread. Cancelling the caller does not stop
    it: the call runs to its end (a transaction commits or rolls back as a whole)."""
    call = functools.partial(function, *args, **kwargs)
    return await asyncio.shield(asyncio.get_running_loop().run_in_executor(_executor, call))
