"""Small dialect-aware SQL helpers shared by the services."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")

# SQLite allows 32,766 bound parameters per statement; stay well under it everywhere.
MAX_PARAMS = 30_000


def insert_ignore(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING, in chunks, on SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    core = getattr(table, "__table__", table)  # a Core insert: the ORM's bulk path costs more
    width = max(len(rows[0]), 1)
    for chunk in chunked(rows, max(MAX_PARAMS // width, 1)):
        session.execute(insert(core).values(list(chunk)).on_conflict_do_nothing())


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
