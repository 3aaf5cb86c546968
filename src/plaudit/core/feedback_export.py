"""Feedback download: every matching item as one JSON line, in constant memory.

A million-row download spends its time per row, so each row takes the cheapest path its
database offers: SQLite renders the item as compact JSON text in log10's shape (the keys and
values ``feedback.feedback_dict`` gives) and Python only joins lines; on PostgreSQL, Python
assembles the line from plain columns with orjson. The query streams (a server-side cursor on
PostgreSQL), and the matched ids come from the item's own row, not a per-item lookup.

Both give the same lines: timestamps as ``datetime.isoformat()`` writes them (no
fraction when it is zero) and ``created_at_ms`` as exact integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from plaudit.core.feedback import FeedbackFilter

FETCH_ROWS = 2000

# SQLite stores UTC timestamps as naive text "YYYY-MM-DD HH:MM:SS[.ffffff]": slicing that text is
# three times cheaper than strftime(), and unixepoch() (SQLite 3.38+) is nearly free.
_SQLITE_ISO = (
    "substr({c}, 1, 10) || 'T' || substr({c}, 12, 8)"
    " || iif(substr({c}, 20, 7) IN ('', '.000000'), '', substr({c}, 20, 7)) || '+00:00'"
)
_SQLITE_MS = "unixepoch({c}) * 1000 + CAST(substr({c} || '.000', 21, 3) AS INTEGER)"
_SQLITE = f"""
SELECT json_object(
    'id', f.id,
    'task_id', f.task_id,
    'task_name', t.name,
    'task_version', f.task_version,
    'json_values', json(f.json_values),
    'comment', f.comment,
    'completion_tags_selector', json(coalesce(f.completion_tags_selector, '[]')),
    'matched_completion_ids', json(coalesce(f.matched_completion_ids, '[]')),
    'organization_id', f.org_id,
    'end_user_id', f.end_user_id,
    'created_at', {_SQLITE_ISO.format(c="f.created_at")},
    'created_at_ms', {_SQLITE_MS.format(c="f.created_at")},
    'updated_at', {_SQLITE_ISO.format(c="f.updated_at")})
FROM feedback f JOIN feedback_tasks t ON t.id = f.task_id
WHERE f.org_id = :org_id AND f.deleted_at IS NULL {{filters}}
ORDER BY f.created_at, f.id
"""

# PostgreSQL's per-row JSON functions cost more than the whole scan, so there Python assembles
# each line from plain columns (JSON as text fragments, timestamps as naive UTC).
_POSTGRES = """
SELECT f.id, f.task_id, t.name, f.task_version, f.json_values::text, f.comment,
    coalesce(f.completion_tags_selector, '[]'::jsonb)::text,
    coalesce(f.matched_completion_ids, '[]'::jsonb)::text,
    f.org_id, f.end_user_id, f.created_at AT TIME ZONE 'UTC', f.updated_at AT TIME ZONE 'UTC'
FROM feedback f JOIN feedback_tasks t ON t.id = f.task_id
WHERE f.org_id = :org_id AND f.deleted_at IS NULL {filters}
ORDER BY f.created_at, f.id
"""
_EPOCH = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)

_BY_TASK = "AND f.task_id = :task_id"
_BY_COMPLETION = """AND f.id IN (
    SELECT l.feedback_id FROM feedback_completions l WHERE l.completion_id = :completion_id)"""


def iter_feedback_lines(
    session: Session, org_id: str, flt: FeedbackFilter, *, batch: int = FETCH_ROWS
) -> Iterator[bytes]:
    """Chunks of newline-terminated JSON lines, oldest item first, ``batch`` items a chunk."""
    dialect = session.get_bind().dialect.name
    statement = _export_statement(dialect, bool(flt.task_id), bool(flt.completion_id))
    params = {"org_id": org_id, "task_id": flt.task_id, "completion_id": flt.completion_id}
    result = session.execute(statement, params, execution_options={"yield_per": batch})
    if dialect == "postgresql":
        for rows in result.tuples().partitions(batch):
            yield b"".join([_postgres_line(row) for row in rows])
    else:
        for lines in result.scalars().partitions(batch):
            yield ("\n".join(lines) + "\n").encode()


def _postgres_line(row: tuple[Any, ...]) -> bytes:
    fid, task_id, name, version, values, comment, selector, matched, org, user, made, changed = row
    return orjson.dumps(
        {
            "id": fid,
            "task_id": task_id,
            "task_name": name,
            "task_version": version,
            "json_values": orjson.Fragment(values),
            "comment": comment,
            "completion_tags_selector": orjson.Fragment(selector),
            "matched_completion_ids": orjson.Fragment(matched),
            "organization_id": org,
            "end_user_id": user,
            "created_at": made.isoformat() + "+00:00",
            "created_at_ms": (made - _EPOCH) // _ONE_MS,
            "updated_at": changed.isoformat() + "+00:00",
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


def iter_feedback(session: Session, org_id: str, flt: FeedbackFilter) -> Iterator[dict[str, Any]]:
    """The same items as dicts, for callers that analyse rather than download."""
    for chunk in iter_feedback_lines(session, org_id, flt):
        yield from map(orjson.loads, chunk.splitlines())


@lru_cache(maxsize=8)
def _export_statement(dialect: str, by_task: bool, by_completion: bool) -> TextClause:
    filters = " ".join(
        clause for on, clause in ((by_task, _BY_TASK), (by_completion, _BY_COMPLETION)) if on
    )
    template = _POSTGRES if dialect == "postgresql" else _SQLITE
    return text(template.format(filters=filters))
