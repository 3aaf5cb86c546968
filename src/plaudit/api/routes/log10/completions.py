"""log10 completion logging and reading: /api/completions*, /api/v1/completions/{id}, tags."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Body, Query

from plaudit.api.deps import CurrentPrincipal, SessionDep, check_org
from plaudit.api.routes.log10.base import MAX_PAGE, log10_router
from plaudit.api.routes.log10.translate import log10_fields
from plaudit.core import completions
from plaudit.core.completions import CompletionFilter
from plaudit.core.tags import search_tags
from plaudit.errors import Invalid
from plaudit.schemas.common import MAX_OFFSET, as_utc
from plaudit.schemas.completions import completions_dicts

router = log10_router(tags=["log10 compatibility"])

LooseBody = Annotated[dict[str, Any], Body(default_factory=dict)]


@router.post("/api/completions")
def start_completion(
    body: LooseBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, str]:
    """Reserve a completion id (log10's sync OpenAI wrapper calls this first)."""
    principal.require("ingest")
    check_org(principal, body.get("organization_id"))
    completion_id = str(uuid.uuid4())
    completions.upsert_completion(session, principal.org_id, completion_id, {"status": "started"})
    return {"completionID": completion_id, "organizationSlug": principal.org_slug}


def _upsert(session: Any, principal: Any, completion_id: str, body: dict[str, Any]) -> None:
    principal.require("ingest")
    check_org(principal, body.get("organization_id"))
    completions.check_id(completion_id)
    fields = log10_fields(body)
    # Serialise concurrent posts for one id (log10's async started/finished race each other).
    completions.lock_completion_id(session, principal.org_id, completion_id, fields.get("status"))
    completions.upsert_completions(session, principal.org_id, [(completion_id, fields)])


@router.post("/api/completions/{completion_id}")
def upsert_completion(
    completion_id: str, body: LooseBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, str]:
    """Upsert (the id may be client-made); a late "started" never undoes "finished"."""
    _upsert(session, principal, completion_id, body)
    return {"id": completion_id}


@router.post("/api/v1/completions/{completion_id}")
def upsert_completion_v1(
    completion_id: str, body: LooseBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, str]:
    """One-shot completion log (log10's `Completions().mock_chat_completions`)."""
    _upsert(session, principal, completion_id, body)
    return {"id": completion_id}


def _created_filter(raw: str | None) -> tuple[datetime | None, datetime | None]:
    if not raw:
        return None, None
    try:
        value = orjson.loads(raw)
        bounds = [value.get(k) for k in ("from", "to")] if isinstance(value, dict) else [None] * 2
        return tuple(  # type: ignore[return-value]
            as_utc(datetime.fromisoformat(b.replace("Z", "+00:00"))) if b else None for b in bounds
        )
    except (orjson.JSONDecodeError, ValueError, AttributeError, TypeError):
        raise Invalid(
            'createdFilter must be JSON like {"from": ISO-8601, "to": ISO-8601}',
            path="createdFilter",
        ) from None


@router.get("/api/completions")
def list_completions(
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=0)] = 25,
    tag_filter: Annotated[str | None, Query(alias="tagFilter")] = None,
    created_filter: Annotated[str | None, Query(alias="createdFilter")] = None,
    ids: str | None = None,
) -> dict[str, Any]:
    """Newest first; `tagFilter` holds comma-separated tag ids (AND)."""
    principal.require()
    created_from, created_to = _created_filter(created_filter)
    flt = CompletionFilter(
        tag_ids=[t for t in (tag_filter or "").split(",") if t] or None,
        created_from=created_from,
        created_to=created_to,
        ids=[i for i in (ids or "").split(",") if i] or None,
    )
    rows, total = completions.list_completions(
        session, principal.org_id, flt, offset=offset, limit=min(limit, MAX_PAGE)
    )
    return {"data": completions_dicts(session, principal.org_id, rows), "total": total}


@router.get("/api/completions/{completion_id}")
def get_completion(
    completion_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    principal.require()
    completion = completions.get_completion(session, principal.org_id, completion_id)
    return {"data": completions_dicts(session, principal.org_id, [completion])[0]}


@router.get("/api/tags/search")
def tags_search(
    session: SessionDep, principal: CurrentPrincipal, query: str = ""
) -> dict[str, Any]:
    """Exact match first, else prefix matches."""
    principal.require()
    found = search_tags(session, principal.org_id, query) if query else []
    return {"data": [{"id": t.id, "name": t.name} for t in found]}


@router.post("/api/sessions")
def create_session(body: LooseBody, principal: CurrentPrincipal) -> dict[str, str]:
    """Sessions are implicit in plaudit; hand out an id for clients that ask."""
    principal.require("ingest")
    check_org(principal, body.get("organization_id"))
    return {"sessionID": str(uuid.uuid4())}
