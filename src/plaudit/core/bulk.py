"""Raw DBAPI bulk inserts for the ingestion hot path.

The ORM's bulk insert spends most of its time per row in Python (collecting insert commands and
``json.dumps`` per JSON column). Here each row becomes one tuple: JSON columns are encoded once
with orjson and timestamps are formatted the way SQLAlchemy stores them. SQLite gets multi-row
``INSERT … VALUES`` statements of ~1,500 rows, PostgreSQL gets COPY.

Why not sqlite3's ``executemany``: it releases and re-takes the GIL for every row, and inside a
busy server (request threads parsing JSON) each re-take waits for the holder's switch interval,
so a 5,000-row executemany ran 5-7x slower there than alone. One statement per ~1,500 rows takes
the GIL back a handful of times per group instead of 5,000.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import orjson
from sqlalchemy.orm import Session

from plaudit.core.sql import MAX_PARAMS, chunked
from plaudit.db.models import Completion

COMPLETION_COLUMNS = tuple(c.name for c in Completion.__table__.columns)
Row = tuple[Any, ...]


def _sqlite_time(value: datetime) -> str:
    # Exactly SQLAlchemy's SQLite DATETIME storage format (naive UTC), so comparisons and
    # ORDER BY on text timestamps written by either path agree.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _postgres_time(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def time_encoder(dialect: str) -> Callable[[datetime], Any]:
    """How ``dialect`` wants a timestamp bound in a raw row."""
    return _postgres_time if dialect == "postgresql" else _sqlite_time


_NEW_ROW_ORDER = ("id", "org_id", "status", "kind", "model", "provider", "request", "response",
                  "usage", "latency_ms", "ttft_ms", "error", "session_id", "tags", "extra",
                  "created_at", "updated_at")  # fmt: skip
assert COMPLETION_COLUMNS == _NEW_ROW_ORDER, "update completion_rows with the model"
_OPTION = orjson.OPT_NON_STR_KEYS


def _json(value: Any) -> str:
    return orjson.dumps(value, option=_OPTION).decode()


def completion_row(
    completion_id: str,
    org_id: str,
    f: dict[str, Any],
    stamp: Any,
    to_time: Callable[[datetime], Any],
    encoded: dict[str, str] | None = None,
) -> Row:
    """One new completion from ``(id, fields)`` with the model's defaults, as a tuple in
    ``COMPLETION_COLUMNS`` order. ``encoded`` holds JSON columns the caller already encoded
    (validation serialises them to bound their depth; no need to do it twice)."""
    get = f.get
    enc = encoded or {}
    usage = get("usage")
    created = get("created_at")
    return (
        completion_id, org_id, get("status", "finished"), get("kind", "chat"), get("model"),
        get("provider"), enc.get("request") or _json(get("request") or {}),
        enc.get("response") or _json(get("response") or {}),
        None if usage is None else (enc.get("usage") or _json(usage)),
        get("latency_ms"), get("ttft_ms"), get("error"), get("session_id"),
        _json(get("tags") or []), enc.get("extra") or _json(get("extra") or {}),
        stamp if created is None else to_time(created), stamp,
    )  # fmt: skip


def insert_new_completions(
    session: Session, org_id: str, items: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> None:
    """Insert new completions from ``(id, fields)`` with the model's defaults."""
    if not items:
        return
    to_time = time_encoder(session.connection().dialect.name)
    stamp = to_time(now)
    insert_completion_rows(
        session, [completion_row(cid, org_id, f, stamp, to_time) for cid, f in items]
    )


def insert_completion_rows(session: Session, rows: Sequence[Row]) -> None:
    """Rows built by ``completion_row`` into completions."""
    _insert(session, "completions", COMPLETION_COLUMNS, rows)


def insert_tag_links(session: Session, links: Sequence[tuple[str, str]]) -> None:
    """``(completion_id, tag_id)`` pairs into completion_tags."""
    _insert(session, "completion_tags", ("completion_id", "tag_id"), links)


def existing_ids(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` already have a completion row (of any organization)."""
    if not ids:
        return set()
    dbapi: Any = session.connection().connection.dbapi_connection
    found: set[str] = set()
    cursor = dbapi.cursor()
    try:
        if session.connection().dialect.name == "postgresql":
            cursor.execute("SELECT id FROM completions WHERE id = ANY(%s)", (list(ids),))
            found.update(row[0] for row in cursor.fetchall())
            return found
        for chunk in chunked(ids, MAX_PARAMS):
            marks = ", ".join("?" * len(chunk))
            cursor.execute(f"SELECT id FROM completions WHERE id IN ({marks})", chunk)
            found.update(row[0] for row in cursor.fetchall())
        return found
    finally:
        cursor.close()


def _insert(session: Session, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    if not rows:
        return
    connection = session.connection()
    dbapi: Any = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        _copy(dbapi, table, columns, rows)
        return
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    per_statement = MAX_PARAMS // len(columns)
    cursor = dbapi.cursor()
    try:
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            cursor.execute(head + ", ".join([one] * len(part)), list(chain.from_iterable(part)))
    finally:
        cursor.close()


def _copy(dbapi: Any, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """PostgreSQL COPY in the session's transaction: the fastest bulk load psycopg offers
    (rows are encoded in C). A duplicate key fails the COPY like an INSERT would."""
    with dbapi.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
