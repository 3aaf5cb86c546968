"""Group commit: the rows written at the end of many concurrent model calls share transactions.

Every model call ends with rows to store (its completion; for a chat, the response). Written
one transaction each, 50 contributors × 3 models make 150+ commits per round that queue on
SQLite's single write lock (its busy handler sleeps in steps of up to 100 ms) or pay one
PostgreSQL fsync each. A :class:`BatchWriter` runs every write queued while the previous batch
was committing in one transaction, in one worker thread (off the event loop), and resolves each
caller only after the commit: "stored" still means committed.

Writes of the same kind in a batch are handed over together (``write_many(session, items)``),
so e.g. 50 completions become one bulk upsert. If a batch fails, each write is retried alone in
its own transaction, so one bad row fails only its own caller.

A write nobody is waiting on to go on (the completion log of a chat turn's model call) can be
``deferred``: it joins the batches that start ``DEFER_S`` later, so it does not lengthen the
transaction whose commit someone is waiting for (the chat response, announced once stored).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from plaudit.db.session import session_scope
from plaudit.threads import run_write

log = logging.getLogger("plaudit.gateway")

# write_many(session, items) -> one result per item, in order
WriteMany = Callable[[Session, Sequence[Any]], Sequence[Any]]
_Pending = tuple[WriteMany, Any, "asyncio.Future[Any]"]
# How long a deferred write waits: past the few milliseconds in which the writes it was deferred
# for commit and the client acts on them, well inside what anyone reading the log would notice.
DEFER_S = 0.05


class BatchWriter:
    """Coalesces writes into few transactions; one per event loop and sessionmaker."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._queue: list[_Pending] = []
        self._deferred: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._release: asyncio.TimerHandle | None = None

    async def write(self, write_many: WriteMany, item: Any, *, defer: bool = False) -> Any:
        """Store ``item`` with ``write_many`` (in a batch); return its result once committed.
        ``defer``: not before ``DEFER_S`` from now (see the module's docstring).

        Cancelling the caller does not cancel the write: it is queued and will be committed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if defer:
            self._deferred.append((write_many, item, future))
            if self._release is None:
                self._release = loop.call_later(DEFER_S, self._release_deferred)
        else:
            self._queue.append((write_many, item, future))
            self._start_draining()
        return await asyncio.shield(future)

    def _release_deferred(self) -> None:
        self._release = None
        self._queue += self._deferred
        self._deferred = []
        self._start_draining()

    def _start_draining(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            # A few passes of the loop: writes queued by tasks woken together join this batch,
            # also those a hop or two behind (a chat response is stored by a task that the
            # model call's end wakes, a pass after the call's own write).
            for _ in range(3):
                await asyncio.sleep(0)
            batch, self._queue = self._queue, []
            try:
                results = await run_write(self.sessions, self._commit, batch)
            except Exception as exc:  # the worker thread could not run at all
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled (the loop is closing): nobody will hear back
                for _, _, future in batch + self._queue:
                    future.cancel()
                raise
            for (_, _, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _commit(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        """In a worker thread: the whole batch in one transaction, else each write alone."""
        groups: dict[WriteMany, list[int]] = {}
        for index, (write_many, _, _) in enumerate(batch):
            groups.setdefault(write_many, []).append(index)
        results: list[tuple[bool, Any]] = [(False, None)] * len(batch)
        try:
            with session_scope(self.sessions) as session:
                for write_many, indexes in groups.items():
                    values = write_many(session, [batch[i][1] for i in indexes])
                    for i, value in zip(indexes, values, strict=True):
                        results[i] = (True, value)
            return results
        except Exception as exc:
            if len(batch) == 1:
                return [(False, exc)]
            log.warning("a batch of %d writes failed; writing each alone", len(batch))
        return [self._alone(pending) for pending in batch]

    def _alone(self, pending: _Pending) -> tuple[bool, Any]:
        write_many, item, _ = pending
        try:
            with session_scope(self.sessions) as session:
                return True, write_many(session, [item])[0]
        except Exception as exc:
            return False, exc
