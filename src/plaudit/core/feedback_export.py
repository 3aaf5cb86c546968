"""Feedback download: every matching item as one JSON line, in constant memory.

A million-row download spends its time per row, so the database writes each line itself and
Python only passes text along: the SELECT concatenates the item's JSON (log10's shape, the keys
and values ``feedback.feedback_dict`` gives) from JSON-quoted strings and the JSON columns'
stored text, so no row is parsed or built as a Python object. SQLite hands the lines over as
rows, ``FETCH_ROWS`` at a time; PostgreSQL sends them through ``COPY … TO STDOUT``, which costs
the server one message per row instead of the per-row work of a cursor. The matched ids come
from the item's own row, not a per-item lookup, and the order (created_at, id) is an index's.

Both give the same lines: timestamps as ``datetime.isoformat()`` writes them (no fraction
when it is zero, else six digits) and ``created_at_ms`` as exact integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from plaudit.core.feedback import FeedbackFilter
from plaudit.core.sql import rechunked

FETCH_ROWS = 2000
COPY_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Dialect:
    """How one database spells the pieces of a line, each a SQL expression giving JSON text."""

    format: str  # its printf: one call builds the line (a chain of || copies it per field)
    quote: str  # a string (or NULL) column as a JSON string (or null)
    json: str  # a JSON column's stored text
    iso: str  # a UTC timestamp as isoformat() writes it, without the offset and the quotes
    ms: str  # a timestamp as integer milliseconds since the epoch


# SQLite stores UTC timestamps as naive text "YYYY-MM-DD HH:MM:SS[.ffffff]"; unixepoch()
# (SQLite 3.38+) is nearly free.
_SQLITE = _Dialect(
    format="printf",
    quote="json_quote({c})",
    json="{c}",
    iso="replace(replace({c}, ' ', 'T'), '.000000', '')",
    ms="unixepoch({c}) * 1000 + CAST(substr({c} || '.000', 21, 3) AS INTEGER)",
)
# PostgreSQL: to_char's .US always has six digits, so a whole second is the one '.000000' to drop;
# extract(epoch) is numeric (exact), so the milliseconds are floored exactly.
_POSTGRES = _Dialect(
    format="format",
    quote="coalesce(to_json({c})::text, 'null')",
    json="{c}::text",
    iso="""replace(to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '')""",
    ms="floor(extract(epoch FROM {c}) * 1000)::bigint",
)

# (key, kind, column): the line's fields in feedback_dict's order.
_FIELDS = (
    ("id", "quote", "f.id"),
    ("task_id", "quote", "f.task_id"),
    ("task_name", "quote", "t.name"),
    ("task_version", "number", "f.task_version"),
    ("json_values", "json", "f.json_values"),
    ("comment", "quote", "f.comment"),
    ("completion_tags_selector", "json", "coalesce(f.completion_tags_selector, '[]')"),
    ("matched_completion_ids", "json", "coalesce(f.matched_completion_ids, '[]')"),
    ("organization_id", "quote", "f.org_id"),
    ("end_user_id", "quote", "f.end_user_id"),
    ("created_at", "iso", "f.created_at"),
    ("created_at_ms", "ms", "f.created_at"),
    ("updated_at", "iso", "f.updated_at"),
)

_SELECT = """SELECT {line}
FROM feedback f JOIN feedback_tasks t ON t.id = f.task_id
WHERE f.org_id = :org_id AND f.deleted_at IS NULL {filters}
ORDER BY f.created_at, f.id"""
_BY_TASK = "AND f.task_id = :task_id"
_BY_COMPLETION = """AND f.id IN (
    SELECT l.feedback_id FROM feedback_completions l WHERE l.completion_id = :completion_id)"""
# One text column, written verbatim: a quote and a delimiter that JSON text never holds raw
# (JSON escapes every control character), so COPY's CSV mode never quotes or escapes a line.
_COPY = "COPY ({select}) TO STDOUT WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"


def iter_feedback_lines(
    session: Session, org_id: str, flt: FeedbackFilter, *, batch: int = FETCH_ROWS
) -> Iterator[bytes]:
    """Chunks of newline-terminated JSON lines, oldest item first."""
    dialect = session.get_bind().dialect.name
    statement = _export_statement(dialect, bool(flt.task_id), bool(flt.completion_id))
    params = {"org_id": org_id, "task_id": flt.task_id, "completion_id": flt.completion_id}
    if dialect == "postgresql":
        yield from _copy_lines(session, statement, params)
        return
    result = session.execute(statement, params, execution_options={"yield_per": batch})
    for lines in result.scalars().partitions(batch):
        yield ("\n".join(lines) + "\n").encode()


def _copy_lines(session: Session, statement: TextClause, params: dict[str, Any]) -> Iterator[bytes]:
    """The lines of ``statement`` through psycopg's COPY, ~``COPY_CHUNK_BYTES`` a chunk."""
    compiled = statement.compile(dialect=session.get_bind().dialect)
    psycopg_connection: Any = session.connection().connection.driver_connection
    with psycopg_connection.cursor() as cursor:
        copy_sql = _COPY.format(select=str(compiled))
        with cursor.copy(copy_sql, {name: params[name] for name in compiled.params}) as copy:
            yield from rechunked(copy, COPY_CHUNK_BYTES)


def iter_feedback(session: Session, org_id: str, flt: FeedbackFilter) -> Iterator[dict[str, Any]]:
    """The same items as dicts, for callers that analyse rather than download."""
    for chunk in iter_feedback_lines(session, org_id, flt):
        yield from map(orjson.loads, chunk.splitlines())


def _line(spelling: _Dialect) -> str:
    """The SQL expression of one item's JSON line (without the newline)."""
    template, values = [], []
    for key, kind, column in _FIELDS:
        slot = '"%s+00:00"' if kind == "iso" else "%s"
        template.append(f"{orjson.dumps(key).decode()}:{slot}")
        values.append(column if kind == "number" else getattr(spelling, kind).format(c=column))
    return f"{spelling.format}('{{{','.join(template)}}}', {', '.join(values)})"


@lru_cache(maxsize=8)
def _export_statement(dialect: str, by_task: bool, by_completion: bool) -> TextClause:
    filters = " ".join(
        clause for on, clause in ((by_task, _BY_TASK), (by_completion, _BY_COMPLETION)) if on
    )
    spelling = _POSTGRES if dialect == "postgresql" else _SQLITE
    return text(_SELECT.format(line=_line(spelling), filters=filters))
