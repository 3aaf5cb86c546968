"""Group-commit ingestion: many requests share one write transaction.

Requests put validated items on a bounded queue together with a future; one writer thread per
process drains the queue (up to ``MAX_GROUP_ITEMS`` items, lingering ``window`` seconds for more),
writes everything in ONE transaction with ``upsert_completions``, commits, and only then resolves
the futures, so a 2xx always means "committed". SQLite allows one writer at a time, so funnelling
all ingestion through one transaction per window is also what makes concurrent clients fast.
All state lives in the database: several processes (PostgreSQL) each run their own writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from plaudit.core.completions import upsert_completions
from plaudit.db.session import session_scope
from plaudit.errors import Overloaded, PlauditError

log = logging.getLogger("plaudit.ingest")

MAX_GROUP_ITEMS = 5000
_RETRIES = 4  # per request, for lock timeouts, deadlocks and unique races between processes

Item = tuple[str, dict[str, Any]]


@dataclass
class _Job:
    org_id: str
    items: Sequence[Item]
    future: Future[int] = field(default_factory=Future)


class IngestWriter:
    """The per-process group-commit writer. ``submit`` is thread-safe and never blocks."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        queue_size: int = 20_000,
        window_s: float = 0.005,
        max_group_items: int = MAX_GROUP_ITEMS,
    ) -> None:
        self._sessions = sessions
        self.queue_size = queue_size
        self.window_s = min(max(window_s, 0.0), 0.05)
        self.max_group_items = max_group_items
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # items waiting, not yet taken by the writer
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.groups_committed = 0

    # -- the request side ------------------------------------------------------------------

    def submit(self, org_id: str, items: Sequence[Item]) -> Future[int]:
        """Queue ``items``; the future resolves to their count once committed."""
        job = _Job(org_id, items)
        if not items:
            job.future.set_result(0)
            return job.future
        with self._cond:
            if self._stopping or self._thread is None:
                raise Overloaded("the ingest writer is not running; retry shortly", retry_after=1)
            # An empty queue takes any request (<= 5,000 items), so none is refused forever.
            if self._queued and self._queued + len(items) > self.queue_size:
                raise Overloaded(
                    f"ingest queue is full ({self._queued} completions waiting); retry shortly",
                    retry_after=1,
                )
            self._jobs.append(job)
            self._queued += len(items)
            self._cond.notify()
        return job.future

    @property
    def queued(self) -> int:
        return self._queued

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="plaudit-ingest", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new work, commit what is queued, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._thread = None

    # -- the writer thread -----------------------------------------------------------------

    def _take_group(self) -> list[_Job] | None:
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if not self._jobs:
                return None
            group = [self._jobs.popleft()]
            size = len(group[0].items)
            deadline = time.monotonic() + self.window_s
            while size < self.max_group_items:
                if not self._jobs:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._stopping:
                        break
                    self._cond.wait(remaining)
                    continue
                if size + len(self._jobs[0].items) > self.max_group_items:
                    break
                job = self._jobs.popleft()
                group.append(job)
                size += len(job.items)
            self._queued -= size
            return group

    def _run(self) -> None:
        while True:
            group = self._take_group()
            if group is None:
                return
            try:
                self._commit_group(group)
            except BaseException as exc:  # never let the writer die with futures pending
                log.exception("ingest writer failed")
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _commit_group(self, group: list[_Job]) -> None:
        try:
            with session_scope(self._sessions) as session:
                for job in group:
                    upsert_completions(session, job.org_id, job.items)
        except Exception:
            if len(group) == 1:
                self._commit_alone(group[0])
                return
            # One bad request (say an id owned by another org) must not fail the others.
            for job in group:
                self._commit_alone(job)
            return
        self.groups_committed += 1
        for job in group:
            job.future.set_result(len(job.items))

    def _commit_alone(self, job: _Job) -> None:
        for attempt in range(_RETRIES):
            try:
                with session_scope(self._sessions) as session:
                    upsert_completions(session, job.org_id, job.items)
            except PlauditError as exc:
                job.future.set_exception(exc)
                return
            except (IntegrityError, OperationalError, DBAPIError) as exc:
                if attempt == _RETRIES - 1:
                    log.warning("ingest transaction failed %d times: %s", _RETRIES, exc)
                    job.future.set_exception(
                        Overloaded("the database is busy or unavailable; retry", retry_after=1)
                    )
                    return
                time.sleep(0.01 * 2**attempt)
                continue
            except Exception as exc:
                job.future.set_exception(exc)
                return
            job.future.set_result(len(job.items))
            return


def install_ingest(app: Any) -> None:
    """Give ``app`` a writer (``app.state.ingest``), started and stopped with the app."""
    settings = app.state.settings
    writer = IngestWriter(
        app.state.write_sessions,
        queue_size=settings.ingest_queue_size,
        window_s=settings.ingest_window_ms / 1000.0,
    )
    app.state.ingest = writer

    async def start(_app: Any) -> None:
        writer.start()

    async def stop(_app: Any) -> None:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, writer.stop)

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
