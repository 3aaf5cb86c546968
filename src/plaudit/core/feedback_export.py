"""Feedback download: every matching item as one JSON line, rendered by the database.

A million-row download spends its time per row, so rows never become Python objects: the
database renders each item as compact JSON text in log10's shape (the keys and values
``feedback.feedback_dict`` gives) and Python only joins lines into chunks. The query streams (a
server-side cursor on PostgreSQL), so memory stays flat whatever the row count.

The two dialects spell the same rendering (``json_object`` on SQLite, ``row_to_json`` over a
``LATERAL`` row on PostgreSQL): timestamps as ``datetime.isoformat()`` writes them (no fraction
when it is zero) and ``created_at_ms`` as exact integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    'matched_completion_ids', json((
        -- the primary-key walk yields the links in completion_id order
        SELECT json_group_array(l.completion_id) FROM feedback_completions l
        WHERE l.feedback_id = f.id)),
    'organization_id', f.org_id,
    'end_user_id', f.end_user_id,
    'created_at', {_SQLITE_ISO.format(c="f.created_at")},
    'created_at_ms', {_SQLITE_MS.format(c="f.created_at")},
    'updated_at', {_SQLITE_ISO.format(c="f.updated_at")})
FROM feedback f JOIN feedback_tasks t ON t.id = f.task_id
WHERE f.org_id = :org_id AND f.deleted_at IS NULL {{filters}}
ORDER BY f.created_at, f.id
"""

_POSTGRES_ISO = (
    "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
    "|| CASE WHEN date_trunc('second', {c}) = {c} THEN '' "
    "ELSE to_char({c} AT TIME ZONE 'UTC', '.US') END || '+00:00'"
)
_POSTGRES = f"""
SELECT row_to_json(item)::text
FROM feedback f JOIN feedback_tasks t ON t.id = f.task_id,
LATERAL (SELECT
    f.id,
    f.task_id,
    t.name AS task_name,
    f.task_version,
    f.json_values,
    f.comment,
    coalesce(f.completion_tags_selector, '[]'::jsonb) AS completion_tags_selector,
    coalesce((SELECT json_agg(l.completion_id ORDER BY l.completion_id)
              FROM feedback_completions l WHERE l.feedback_id = f.id),
             '[]'::json) AS matched_completion_ids,
    f.org_id AS organization_id,
    f.end_user_id,
    {_POSTGRES_ISO.format(c="f.created_at")} AS created_at,
    floor(extract(epoch FROM f.created_at) * 1000)::bigint AS created_at_ms,
    {_POSTGRES_ISO.format(c="f.updated_at")} AS updated_at) item
WHERE f.org_id = :org_id AND f.deleted_at IS NULL {{filters}}
ORDER BY f.created_at, f.id
"""

_BY_TASK = "AND f.task_id = :task_id"
_BY_COMPLETION = """AND f.id IN (
    SELECT l.feedback_id FROM feedback_completions l WHERE l.completion_id = :completion_id)"""


def iter_feedback_lines(
    session: Session, org_id: str, flt: FeedbackFilter, *, batch: int = FETCH_ROWS
) -> Iterator[bytes]:
    """Chunks of newline-terminated JSON lines, oldest item first, ``batch`` items a chunk."""
    statement = _export_statement(
        session.get_bind().dialect.name, bool(flt.task_id), bool(flt.completion_id)
    )
    params = {"org_id": org_id, "task_id": flt.task_id, "completion_id": flt.completion_id}
    result = session.execute(statement, params, execution_options={"yield_per": batch})
    for lines in result.scalars().partitions():
        yield ("\n".join(lines) + "\n").encode()


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
