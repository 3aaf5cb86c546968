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


def insert_ignore(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of ``rows`` (all with the same keys), on SQLite and
    PostgreSQL: one statement per table and dialect, run for all rows at once (executemany)."""
    if not rows:
        return
    core = getattr(table, "__table__", table)  # a Core insert: the ORM's bulk path costs more
    session.connection().execute(_insert_ignoring(session.get_bind().dialect.name, core), rows)


@functools.cache
def _insert_ignoring(dialect: str, table: Any) -> Any:
    """Built once: a multi-VALUES insert with its rows inline was compiled anew on every call,
    which cost more than running it (the tag and inbox-slot inserts of every model call)."""
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
