"""Group-commit ingestion: many requests share one write transaction.

Requests put validated items on a bounded queue together with a future; one writer thread per
process drains the queue (up to ``MAX_GROUP_ITEMS`` items, lingering ``window`` seconds for more),
writes everything in ONE transaction, commits, and only then resolves the futures, so a 2xx always
means "committed". SQLite allows one writer at a time, so funnelling all ingestion through one
transaction per window is also what makes concurrent clients fast. All state lives in the
database: several processes (PostgreSQL) each run their own writer.

The request's thread does the Python work (validation, and the new rows as ready tuples: see
:meth:`IngestWriter.prepare`), so the writer thread, the one everybody waits for, mostly waits
on the database: one existence check per group, then a few multi-row INSERTs (or COPY) of rows
nobody has to touch again. A batch naming ids that already exist (a retry, an update) or the
same id twice takes the general ``upsert_completions`` path inside the same transaction.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from plaudit.core import inbox
from plaudit.core.bulk import (
    Row,
    completion_row,
    existing_ids,
    insert_completion_rows,
    insert_tag_links,
    time_encoder,
)
from plaudit.core.completions import upsert_completions
from plaudit.core.ingest_items import ParsedBatch
from plaudit.core.tags import CommittedTagIds
from plaudit.db.base import utcnow
from plaudit.db.session import session_scope
from plaudit.errors import Overloaded, PlauditError

log = logging.getLogger("plaudit.ingest")

MAX_GROUP_ITEMS = 5000
_RETRIES = 4  # per request, for lock timeouts, deadlocks and unique races between processes

Item = tuple[str, dict[str, Any]]


@dataclass
class Batch:
    """One request's completions, ready for the writer."""

    org_id: str
    # The validated items; None once ``rows`` are made from them (``reparse`` brings them back
    # for the general path), so that their objects die in the request's thread, not the writer's.
    parsed_items: Sequence[Item] | None
    # The new-row tuples of ``items`` (``bulk.completion_row``), made in the request's thread;
    # None when the batch repeats an id, so it must be folded by the general path.
    rows: list[Row] | None = None
    # id -> tags of the items that name tags (for the links and inbox matching), and the
    # (completion id, tag id) links when every tag was already known, both made with ``rows``.
    tagged: dict[str, list[str]] = field(default_factory=dict)
    links: list[tuple[str, str]] | None = None
    ids: list[str] | None = None  # the items' ids, in order (made once, in the request thread)
    # Validates the request body again (the items of ``parsed_items`` once it is None).
    reparse: Callable[[], ParsedBatch] | None = None

    @property
    def size(self) -> int:
        return len(self.parsed_items) if self.parsed_items is not None else len(self.ids or ())

    @property
    def items(self) -> Sequence[Item]:
        """The items, for the general path (rare: a retry, an update, a failed group)."""
        if self.parsed_items is not None:
            return self.parsed_items
        assert self.reparse is not None and self.ids is not None
        # The same items under the same ids (an item without one got a fresh id when parsed).
        again = self.reparse().items
        return [(cid, fields) for cid, (_, fields) in zip(self.ids, again, strict=True)]

    def item_ids(self) -> list[str]:
        return self.ids if self.ids is not None else [cid for cid, _ in self.items]


@dataclass
class _Job:
    batch: Batch
    future: Future[int] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return self.batch.size


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
        self.groups_checked = 0  # groups done again with the existence check (see _write_group)
        bind = sessions.kw.get("bind")
        self.dialect: str = bind.dialect.name if bind is not None else "sqlite"
        # A duplicate key from the raw DBAPI cursor (bulk inserts) or through SQLAlchemy.
        dbapi = getattr(bind.dialect, "loaded_dbapi", None) if bind is not None else None
        self._integrity_errors: tuple[type[Exception], ...] = (IntegrityError,) + (
            (dbapi.IntegrityError,) if dbapi is not None else ()
        )
        # If an entry ever went stale, the insert of its link would fail the group and the
        # general path (no cache) would redo it.
        self._tag_ids = CommittedTagIds()
        path = bind.url.database if bind is not None and self.dialect == "sqlite" else None
        self._checkpointer = WalCheckpointer(path) if path and path != ":memory:" else None

    # -- the request side ------------------------------------------------------------------

    def prepare(self, org_id: str, parsed: ParsedBatch) -> Batch:
        """Turn validated items into the rows they become if new (CPU work, done in the
        request's thread so the writer does not hold the GIL for it)."""
        items = parsed.items
        ids = [cid for cid, _ in items]
        if len(set(ids)) != len(items):
            return Batch(org_id, items, ids=ids)
        to_time = time_encoder(self.dialect)
        stamp = to_time(utcnow())
        rows = [
            completion_row(cid, org_id, fields, stamp, to_time, encoded)
            for (cid, fields), encoded in zip(items, parsed.encoded, strict=True)
        ]
        tagged = {cid: fields["tags"] for cid, fields in items if "tags" in fields}
        links = self._tag_ids.links(org_id, tagged)  # None: a tag is new, the writer resolves
        if parsed.reparse is None:
            return Batch(org_id, items, rows, tagged, links, ids)
        return Batch(org_id, None, rows, tagged, links, ids, parsed.reparse)

    def submit(self, batch: Batch) -> Future[int]:
        """Queue ``batch``; the future resolves to its item count once committed."""
        job = _Job(batch)
        size = batch.size
        if not size:
            job.future.set_result(0)
            return job.future
        with self._cond:
            if self._stopping or self._thread is None:
                raise Overloaded("the ingest writer is not running; retry shortly", retry_after=1)
            # An empty queue takes any request (<= 5,000 items), so none is refused forever.
            if self._queued and self._queued + size > self.queue_size:
                raise Overloaded(
                    f"ingest queue is full ({self._queued} completions waiting); retry shortly",
                    retry_after=1,
                )
            self._jobs.append(job)
            self._queued += size
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
        if self._checkpointer is not None:
            self._checkpointer.start()

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
        if self._checkpointer is not None:
            self._checkpointer.stop(timeout)

    # -- the writer thread -----------------------------------------------------------------

    def _take_group(self) -> list[_Job] | None:
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if not self._jobs:
                return None
            group = [self._jobs.popleft()]
            size = group[0].size
            deadline = time.monotonic() + self.window_s
            while size < self.max_group_items:
                if not self._jobs:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._stopping:
                        break
                    self._cond.wait(remaining)
                    continue
                if size + self._jobs[0].size > self.max_group_items:
                    break
                job = self._jobs.popleft()
                group.append(job)
                size += job.size
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
        learned: dict[tuple[str, str], str] = {}
        try:
            try:
                with session_scope(self._sessions) as session:
                    self._write_group(session, group, learned, assume_new=True)
            except self._integrity_errors:
                # An id of a bulk batch exists already (a retry, an update, another org's):
                # the whole group again, in a new transaction, looking the ids up first.
                self.groups_checked += 1
                learned = {}
                with session_scope(self._sessions) as session:
                    self._write_group(session, group, learned, assume_new=False)
        except Exception:
            if len(group) == 1:
                self._commit_alone(group[0])
                return
            # One bad request (say an id owned by another org) must not fail the others.
            for job in group:
                self._commit_alone(job)
            return
        self._tag_ids.keep(learned)
        self.groups_committed += 1
        if self._checkpointer is not None:
            self._checkpointer.poke()
        for job in group:
            job.future.set_result(job.size)

    def _write_group(
        self,
        session: Session,
        group: list[_Job],
        learned: dict[tuple[str, str], str],
        *,
        assume_new: bool,
    ) -> None:
        """Write every job of ``group`` in ``session``'s transaction. New rows are inserted in
        bulk; a job with an id that exists already, or that an earlier job of the group wrote,
        goes through ``upsert_completions`` (after the pending bulk rows, so it sees them).

        ``assume_new`` skips the existence check (one indexed lookup per id, about a tenth of
        the group's database work, for ids that are new nearly always: clients make UUIDs): a
        bulk row whose id exists then fails its INSERT on the primary key, and the caller does
        the group again without the assumption."""
        if self._checkpointer is not None:  # the checkpointer moves the WAL into the file
            connection = session.connection()
            info = connection.connection.info  # lives as long as the DBAPI connection
            if not info.get("ingest_backstop"):
                connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
                info["ingest_backstop"] = True
        taken: set[str] = set()
        if not assume_new:
            fresh = (job.batch.item_ids() for job in group if job.batch.rows is not None)
            taken = existing_ids(session, list(chain.from_iterable(fresh)))
        written: set[str] = set()
        pending: list[Batch] = []
        for job in group:
            batch = job.batch
            ids = batch.item_ids()
            if batch.rows is not None and taken.isdisjoint(ids) and written.isdisjoint(ids):
                pending.append(batch)
            else:
                self._insert_new(session, pending, learned)
                pending = []
                upsert_completions(session, batch.org_id, batch.items)
            written.update(ids)
        self._insert_new(session, pending, learned)

    def _insert_new(
        self, session: Session, batches: list[Batch], learned: dict[tuple[str, str], str]
    ) -> None:
        if not batches:
            return
        rows: list[Row] = []
        links: list[tuple[str, str]] = []
        tagged_by_org: dict[str, dict[str, list[str]]] = {}
        unresolved: dict[str, dict[str, list[str]]] = {}
        for batch in batches:
            assert batch.rows is not None
            rows.extend(batch.rows)
            tagged_by_org.setdefault(batch.org_id, {}).update(batch.tagged)
            if batch.links is not None:
                links.extend(batch.links)
            else:
                unresolved.setdefault(batch.org_id, {}).update(batch.tagged)
        for org_id, tagged in unresolved.items():
            names = (name for tags in tagged.values() for name in tags)
            tag_ids = self._tag_ids.resolve(session, org_id, names, learned)
            links.extend((cid, tag_ids[name]) for cid, names in tagged.items() for name in names)
        insert_completion_rows(session, rows)
        insert_tag_links(session, links)
        for org_id, tagged in tagged_by_org.items():
            if tagged:
                inbox.match_completions(session, org_id, tagged, new=True)

    def _commit_alone(self, job: _Job) -> None:
        org_id, items = job.batch.org_id, job.batch.items
        for attempt in range(_RETRIES):
            try:
                with session_scope(self._sessions) as session:
                    upsert_completions(session, org_id, items)
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
            job.future.set_result(job.size)
            return


# The writer's own connection checkpoints only once the WAL holds this many pages (64 MiB with
# 4 KiB pages): a backstop in case the checkpointer thread falls behind (SQLite's default: 1000).
BACKSTOP_PAGES = 16_384


class WalCheckpointer:
    """Copies the WAL into the database file on its own thread and connection, after commits.

    With SQLite's default ``wal_autocheckpoint`` the connection whose commit takes the WAL past
    1,000 pages runs the checkpoint inside that commit: for the ingest writer about every
    4,000 completions, half of its commit time (copying pages and syncing the file), while every
    request waits. Here the writer only appends to the WAL; a ``PASSIVE`` checkpoint (it never
    waits for locks and never blocks readers or the writer) runs in C without the GIL on this
    thread, overlapping the next group. The WAL restarts from its beginning at a commit once a
    checkpoint has caught up, so it stays about a group's size; the writer's backstop threshold
    bounds it if this thread ever falls behind. Durability is unchanged: a commit is in the WAL.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="plaudit-wal", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("WAL checkpointer could not open %s", self.path)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the writer's backstop still checkpoints
                    log.warning("WAL checkpoint failed: %s", exc)
                if self._stopping:
                    return
        finally:
            conn.close()


# Young-generation GC threshold while ingesting (CPython's default is 700 allocations).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Let a parsed batch die young instead of triggering full collections.

    ``orjson.loads`` of a 2,000-completion body allocates ~16,000 tracked containers that live
    until the batch is validated. With CPython's default thresholds (700, 10, 10) they survive
    two young collections, land in the oldest generation, and every ~100,000 such promotions a
    full collection walks the whole process (~380,000 objects: the app, SQLAlchemy, the model
    SDKs) with the GIL held. Measured in ``plaudit serve`` during a 20,000-completion run: two
    full collections of ~230 ms plus young ones of up to 37 ms, a third of the run's wall time,
    and not one object collected (reference counting frees the batches). A young threshold above
    a batch's worth lets batches die between collections. Only ever raised, never lowered.
    """
    young, *older = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, *older)


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
        tune_gc()
        writer.start()

    async def stop(_app: Any) -> None:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, writer.stop)

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
