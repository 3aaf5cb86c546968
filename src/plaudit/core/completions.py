"""Completions: upsert (single and bulk), get, list with tag/time filters.

Upserts merge shallowly: keys present overwrite, absent keys are kept, tags are replaced when
given, and a finished/failed completion is never downgraded back to started (log10 clients send
their started/finished posts concurrently, so they may arrive out of order).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from plaudit.core import inbox
from plaudit.core.bulk import insert_new_completions, insert_tag_links
from plaudit.core.sql import chunked, insert_ignore
from plaudit.core.tags import ensure_tags, normalise_tags, selector_tag_ids, tagged_with_all
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import Completion, CompletionTag, Tag
from plaudit.errors import Forbidden, Invalid, NotFound

STATUSES = ("started", "finished", "failed")
# A latency beyond this (about 31 years) is an error in the caller, and log10's integer
# ``duration`` read back from one would not fit in 64 bits.
MAX_LATENCY_MS = 1e12
_FINAL = {"finished", "failed"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
COLUMNS = (
    "status", "kind", "model", "provider", "request", "response", "usage",
    "latency_ms", "ttft_ms", "error", "session_id",
)  # fmt: skip


def check_latency(field: str, value: float) -> None:
    if not 0 <= value <= MAX_LATENCY_MS:
        raise Invalid(f"{field} must be between 0 and {MAX_LATENCY_MS:.0e} ms", path=field)


def check_id(completion_id: str) -> str:
    if not ID_PATTERN.match(completion_id):
        raise Invalid(
            "completion id must be 1-64 characters of letters, digits, '_', '.', ':' or '-'",
            path="id",
        )
    return completion_id


def _as_object(value: Any, field: str) -> dict[str, Any]:
    """log10 sends request/response as JSON strings; plaudit stores objects."""
    if value is None or value == "":
        return {}
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise Invalid(f"{field} is a string but not valid JSON", path=field) from None
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be a JSON object", path=field)
    return value


def clean_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate one completion payload into column values (only the keys present)."""
    out: dict[str, Any] = {}
    for key in COLUMNS:
        if key in data:
            out[key] = data[key]
    if "status" in out and out["status"] not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", path="status")
    for field in ("request", "response"):
        if field in out:
            out[field] = _as_object(out[field], field)
    if "tags" in data:
        tags = data["tags"]
        if tags is None:
            tags = []
        if not isinstance(tags, list):
            raise Invalid("tags must be a list of strings", path="tags")
        out["tags"] = normalise_tags(tags)
    if data.get("extra"):
        out["extra"] = data["extra"]
    if data.get("created_at") is not None:
        out["created_at"] = data["created_at"]
    return out


def _merge(row: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The changes to apply to an existing row for an upsert of ``fields``."""
    changes = {k: v for k, v in fields.items() if k not in ("extra", "created_at")}
    if row["status"] in _FINAL and changes.get("status") == "started":
        # A late "started" post must not undo a recorded result.
        changes = {k: v for k, v in changes.items() if k in ("tags",) or row.get(k) in (None, {})}
        changes.pop("status", None)
    if fields.get("extra"):
        changes["extra"] = {**(row.get("extra") or {}), **fields["extra"]}
    return changes


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int


def upsert_completions(
    session: Session, org_id: str, items: Sequence[tuple[str, dict[str, Any]]]
) -> UpsertResult:
    """Upsert many ``(id, fields)`` pairs in the caller's transaction (the bulk path)."""
    if not items:
        return UpsertResult(0, 0)
    merged: dict[str, dict[str, Any]] = {}
    for completion_id, fields in items:  # a batch may carry the same id twice: fold in order
        merged[completion_id] = (
            {**merged[completion_id], **fields} if completion_id in merged else dict(fields)
        )
    ids = list(merged)
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 5000):
        for row in session.execute(
            select(Completion.id, Completion.org_id, Completion.status, Completion.request,
                   Completion.response, Completion.extra, Completion.error)
            .where(Completion.id.in_(ids[start:start + 5000]))
        ).mappings():  # fmt: skip
            if row["org_id"] != org_id:
                # 403, like any other organization's resource (the id space is global).
                raise Forbidden(
                    f"completion id '{row['id']}' belongs to another organization", path="id"
                )
            existing[row["id"]] = dict(row)

    all_tags = {t for f in merged.values() for t in f.get("tags", ())}
    tag_ids = ensure_tags(session, org_id, all_tags)
    now = utcnow()
    new_rows = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    retagged: dict[str, list[str]] = {}
    for completion_id, fields in merged.items():
        if "tags" in fields:
            retagged[completion_id] = fields["tags"]
        if completion_id in existing:
            changes = _merge(existing[completion_id], fields)
            if changes:
                changes["updated_at"] = now
                updates.setdefault(tuple(sorted(changes)), []).append(
                    {"_id": completion_id, **changes}
                )
            continue
        new_rows.append((completion_id, fields))
    insert_new_completions(session, org_id, new_rows, now)
    table = cast(Table, Completion.__table__)
    for keys, rows in updates.items():  # one executemany per shape of change
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({k: bindparam(k) for k in keys})
        )
        session.connection().execute(statement, rows)
    replaced = [cid for cid in retagged if cid in existing]
    if replaced:
        for chunk in chunked(replaced, 5000):
            session.execute(delete(CompletionTag).where(CompletionTag.completion_id.in_(chunk)))
    insert_tag_links(session, [(cid, tag_ids[t]) for cid, tags in retagged.items() for t in tags])
    if retagged:
        inbox.match_completions(session, org_id, retagged)
    return UpsertResult(created=len(new_rows), updated=len(merged) - len(new_rows))


def _new_row(org_id: str, completion_id: str, fields: dict[str, Any], now: datetime) -> dict:
    row: dict[str, Any] = {
        "id": completion_id, "org_id": org_id, "status": "finished", "kind": "chat",
        "model": None, "provider": None, "request": {}, "response": {}, "usage": None,
        "latency_ms": None, "ttft_ms": None, "error": None, "session_id": None, "tags": [],
        "extra": {}, "created_at": now, "updated_at": now,
    }  # fmt: skip
    row.update(fields)
    return row


def lock_completion_id(
    session: Session, org_id: str, completion_id: str, status: str | None
) -> None:
    """Make sure ``completion_id`` has a row and hold its row lock until commit.

    log10's async clients post "started" and "finished" for a fresh client-made id at the same
    moment. Without this, on PostgreSQL both transactions insert the id and one fails; with it
    the second waits for the first, then merges into its row (no status downgrade). The
    placeholder carries the incoming status so the caller's own upsert merges into it as is.
    """
    placeholder = _new_row(org_id, completion_id, {"status": status or "finished"}, utcnow())
    insert_ignore(session, Completion, [placeholder])
    session.execute(select(Completion.id).where(Completion.id == completion_id).with_for_update())


def upsert_completion(
    session: Session, org_id: str, completion_id: str | None, data: dict[str, Any]
) -> Completion:
    completion_id = check_id(completion_id) if completion_id else new_id()
    upsert_completions(session, org_id, [(completion_id, clean_fields(data))])
    session.flush()
    return get_completion(session, org_id, completion_id)


def get_completion(session: Session, org_id: str, completion_id: str) -> Completion:
    completion = session.get(Completion, completion_id, populate_existing=True)
    if completion is None or completion.org_id != org_id:
        raise NotFound(f"completion '{completion_id}' not found")
    return completion


@dataclass
class CompletionFilter:
    tags: list[str] | None = None  # names, AND
    tag_ids: list[str] | None = None  # ids, AND (the log10 CLI sends ids)
    created_from: datetime | None = None
    created_to: datetime | None = None
    session_id: str | None = None
    ids: list[str] | None = None


def _filtered(session: Session, org_id: str, flt: CompletionFilter) -> Any:
    query = select(Completion).where(Completion.org_id == org_id)
    tag_ids = list(flt.tag_ids or [])
    if flt.tags:
        resolved = selector_tag_ids(session, org_id, flt.tags)
        if resolved is None:
            return None
        tag_ids += resolved
    if tag_ids:
        query = query.where(Completion.id.in_(tagged_with_all(tag_ids)))
    if flt.created_from is not None:
        query = query.where(Completion.created_at >= flt.created_from)
    if flt.created_to is not None:
        query = query.where(Completion.created_at <= flt.created_to)
    if flt.session_id:
        query = query.where(Completion.session_id == flt.session_id)
    if flt.ids:
        query = query.where(Completion.id.in_(flt.ids))
    return query


def list_completions(
    session: Session, org_id: str, flt: CompletionFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[Completion], int]:
    query = _filtered(session, org_id, flt)
    if query is None:
        return [], 0
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Completion.created_at.desc(), Completion.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(page), total


def iter_completions(
    session: Session, org_id: str, flt: CompletionFilter, *, batch: int = 1000
) -> Iterator[Completion]:
    """Every matching completion, oldest first, in constant memory (keyset pagination)."""
    query = _filtered(session, org_id, flt)
    if query is None:
        return
    last: tuple[datetime, str] | None = None
    while True:
        page_query = query.order_by(Completion.created_at, Completion.id).limit(batch)
        if last is not None:
            page_query = page_query.where(
                (Completion.created_at > last[0])
                | ((Completion.created_at == last[0]) & (Completion.id > last[1]))
            )
        page = list(session.scalars(page_query))
        yield from page
        if len(page) < batch:
            return
        last = (page[-1].created_at, page[-1].id)
        session.expunge_all()


def tag_objects(session: Session, org_id: str, names: list[str]) -> list[dict[str, str]]:
    """``[{id, name}]`` for a completion's tags (log10's ``tagResolved``)."""
    if not names:
        return []
    rows = session.execute(
        select(Tag.name, Tag.id).where(Tag.org_id == org_id, Tag.name.in_(names))
    )
    ids = dict(rows.tuples().all())
    return [{"id": ids[n], "name": n} for n in names if n in ids]
