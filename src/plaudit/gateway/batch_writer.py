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


class BatchWriter:
    """Coalesces writes into few transactions; one per event loop and sessionmaker."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, write_many: WriteMany, item: Any) -> Any:
        """Store ``item`` with ``write_many`` (in a batch); return its result once committed.

        Cancelling the caller does not cancel the write: it is queued and will be committed.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((write_many, item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            # One pass of the loop: writes queued by tasks woken together join this batch.
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
