"""SQLite writers of one process queue on a lock: the next starts as soon as the last ends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from plaudit.db import sqlite_writes
from plaudit.db.session import make_engine, make_sessionmaker, session_scope
from plaudit.db.sqlite_writes import WriteLockedConnection, _lock_for


@pytest.fixture
def sqlite_file(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    engine.dispose()


def test_writers_queue_on_the_file_lock_and_each_commits(sqlite_file, tmp_path):
    writes = make_sessionmaker(sqlite_file, write=True)
    lock = _lock_for(str((tmp_path / "locks.db").resolve()))
    holding, go_on = threading.Event(), threading.Event()

    def holder() -> None:
        with session_scope(writes) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            go_on.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(5)
    assert lock.locked(), "a write transaction holds its file's lock"
    waiter = threading.Thread(target=_write, args=(writes,))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive(), "the second writer waits for the first"
    go_on.set()
    thread.join(5)
    waiter.join(5)
    assert not waiter.is_alive() and not lock.locked()
    with sqlite_file.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_the_lock_is_given_back_after_a_rollback_and_reads_never_take_it(sqlite_file):
    writes = make_sessionmaker(sqlite_file, write=True)
    reads = make_sessionmaker(sqlite_file)
    with pytest.raises(RuntimeError), session_scope(writes) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")
    with session_scope(reads) as reader:
        reader.execute(text("SELECT count(*) FROM t")).scalar()
        raw = reader.connection().connection.dbapi_connection
        assert isinstance(raw, WriteLockedConnection) and not raw.holds_lock
        done: list[bool] = []  # a write while a read transaction is open does not wait
        worker = threading.Thread(target=lambda: done.append(_write(writes)))
        worker.start()
        worker.join(5)
        assert done == [True]


def _write(writes) -> bool:
    with session_scope(writes) as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
    return True


def test_a_writer_that_waits_too_long_gets_the_lock_timeout_error(sqlite_file, monkeypatch):
    monkeypatch.setattr(sqlite_writes, "WAIT_S", 0.05)
    writes = make_sessionmaker(sqlite_file, write=True)
    with session_scope(writes) as holder:
        holder.execute(text("INSERT INTO t VALUES (1)"))
        failed: list[BaseException] = []

        def late() -> None:
            try:
                _write(writes)
            except BaseException as exc:
                failed.append(exc)

        worker = threading.Thread(target=late)
        worker.start()
        worker.join(5)
    # the same error SQLite's busy timeout gives, which the API answers with 503 + Retry-After
    assert len(failed) == 1 and isinstance(failed[0], OperationalError)
    assert "database is locked" in str(failed[0].orig)
