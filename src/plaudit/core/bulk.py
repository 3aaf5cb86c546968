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
_JSON_COLUMNS = frozenset({"request", "response", "usage", "tags", "extra"})
_TIME_COLUMNS = frozenset({"created_at", "updated_at"})


def dumps_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_time(value: datetime) -> str:
    # Exactly SQLAlchemy's SQLite DATETIME storage format (naive UTC), so comparisons and
    # ORDER BY on text timestamps written by either path agree.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _postgres_time(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def insert_completion_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert full completion rows (every column present) in one ``executemany``."""
    if not rows:
        return
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    to_time = _postgres_time if postgres else _sqlite_time
    json_at = [i for i, n in enumerate(COMPLETION_COLUMNS) if n in _JSON_COLUMNS]
    time_at = [i for i, n in enumerate(COMPLETION_COLUMNS) if n in _TIME_COLUMNS]
    times: dict[datetime, Any] = {}  # most rows share the transaction's "now"
    params = []
    for row in rows:
        values = [row[name] for name in COMPLETION_COLUMNS]
        for i in json_at:
            if values[i] is not None:
                values[i] = dumps_json(values[i])
        for i in time_at:
            moment = values[i]
            converted = times.get(moment)
            if converted is None:
                converted = times[moment] = to_time(moment)
            values[i] = converted
        params.append(tuple(values))
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
