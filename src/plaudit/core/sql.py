"""Small dialect-aware SQL helpers shared by the services."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")

# SQLite allows 32,766 bound parameters per statement; stay well under it everywhere.
MAX_PARAMS = 30_000


# Up to this many rows, insert_ignore runs one prebuilt statement for all of them; more rows on
# SQLite go as multi-row statements (see insert_ignore).
FEW_ROWS = 100


def insert_ignore(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of ``rows`` (all with the same keys), on SQLite and
    PostgreSQL.

    A few rows (the tags and inbox slots of a model call) run one statement built once per
    table and dialect, for all of them (executemany): a multi-row VALUES statement is compiled
    anew on every call, which cost more than running it. Many rows on SQLite go as multi-row
    statements instead, where compiling is paid once per thousands of rows: sqlite3's
    executemany takes the GIL back for every row (see ``plaudit.core.bulk``)."""
    if not rows:
        return
    core = getattr(table, "__table__", table)  # a Core insert: the ORM's bulk path costs more
    dialect = session.get_bind().dialect.name
    statement = insert_ignoring(dialect, core)
    if dialect == "sqlite" and len(rows) > FEW_ROWS:
        width = max(len(rows[0]), 1)
        for chunk in chunked(rows, max(MAX_PARAMS // width, 1)):
            session.execute(statement.values(list(chunk)))
        return
    session.connection().execute(statement, rows)


@functools.cache
def insert_ignoring(dialect: str, table: Any) -> Any:
    """``INSERT INTO table … ON CONFLICT DO NOTHING`` for ``dialect``, built once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def rechunked(pieces: Iterable[bytes | memoryview], size: int) -> Iterator[bytes]:
    """``pieces`` joined into chunks of at least ``size`` bytes (the last one may be shorter):
    a stream of many small lines leaves in few writes."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)
