"""Raw DBAPI ``executemany`` inserts for the ingestion hot path.

The ORM's bulk insert spends most of its time per row in Python (collecting insert commands and
``json.dumps`` per JSON column). Here each row becomes one tuple: JSON columns are encoded once
with orjson and timestamps are formatted the way SQLAlchemy stores them; SQLite gets one prepared
INSERT run by ``executemany`` (sqlite3 loops in C), PostgreSQL gets COPY.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from plaudit.db.models import Completion

COMPLETION_COLUMNS = tuple(c.name for c in Completion.__table__.columns)


def _sqlite_time(value: datetime) -> str:
    # Exactly SQLAlchemy's SQLite DATETIME storage format (naive UTC), so comparisons and
    # ORDER BY on text timestamps written by either path agree.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _postgres_time(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


_NEW_ROW_ORDER = ("id", "org_id", "status", "kind", "model", "provider", "request", "response",
                  "usage", "latency_ms", "ttft_ms", "error", "session_id", "tags", "extra",
                  "created_at", "updated_at")  # fmt: skip
assert COMPLETION_COLUMNS == _NEW_ROW_ORDER, "update insert_new_completions with the model"


def insert_new_completions(
    session: Session, org_id: str, items: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> None:
    """Insert new completions from ``(id, fields)`` with the model's defaults, building each
    row's tuple in one expression (the hot loop of batch ingestion)."""
    if not items:
        return
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    to_time = _postgres_time if postgres else _sqlite_time
    stamp = to_time(now)
    dumps = orjson.dumps
    option = orjson.OPT_NON_STR_KEYS
    params = []
    for completion_id, f in items:
        get = f.get
        usage = get("usage")
        created = get("created_at")
        params.append((
            completion_id, org_id, get("status", "finished"), get("kind", "chat"), get("model"),
            get("provider"), dumps(get("request") or {}, option=option).decode(),
            dumps(get("response") or {}, option=option).decode(),
            None if usage is None else dumps(usage, option=option).decode(),
            get("latency_ms"), get("ttft_ms"), get("error"), get("session_id"),
            dumps(get("tags") or [], option=option).decode(),
            dumps(get("extra") or {}, option=option).decode(),
            stamp if created is None else to_time(created), stamp,
        ))  # fmt: skip
    if postgres:
        _copy(session, "completions", COMPLETION_COLUMNS, params)
        return
    marks = ", ".join("?" for _ in COMPLETION_COLUMNS)
    connection.exec_driver_sql(
        f"INSERT INTO completions ({', '.join(COMPLETION_COLUMNS)}) VALUES ({marks})", params
    )


def insert_tag_links(session: Session, links: Sequence[tuple[str, str]]) -> None:
    """``(completion_id, tag_id)`` pairs into completion_tags."""
    if not links:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy(session, "completion_tags", ("completion_id", "tag_id"), links)
        return
    connection.exec_driver_sql(
        "INSERT INTO completion_tags (completion_id, tag_id) VALUES (?, ?)", list(links)
    )


def _copy(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """PostgreSQL COPY in the session's transaction: the fastest bulk load psycopg offers
    (rows are encoded in C). A duplicate key fails the COPY like an INSERT would."""
    dbapi: Any = session.connection().connection.dbapi_connection
    with dbapi.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
