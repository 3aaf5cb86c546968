"""Completions: upsert, list with filters, get, download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from plaudit.api.deps import CurrentPrincipal, SessionDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.api.routes.streaming import jsonl_response
from plaudit.core import completions
from plaudit.core.completions import CompletionFilter
from plaudit.core.tags import parse_selector
from plaudit.schemas.common import MAX_OFFSET, UTCTimestamp
from plaudit.schemas.completions import CompletionWrite, completion_dict, completions_dicts

router = APIRouter(prefix="/api/v1/completions", tags=["completions"], route_class=ORJSONRoute)

MAX_PAGE = 1000


def _filter(
    tags: list[str] | None, created_from: datetime | None, created_to: datetime | None,
    session_id: str | None,
) -> CompletionFilter:  # fmt: skip
    names = [t for value in tags or [] for t in parse_selector(value, field="tags")]
    return CompletionFilter(
        tags=names or None, created_from=created_from, created_to=created_to, session_id=session_id
    )


TagsQuery = Annotated[
    list[str] | None, Query(description="Tag names (AND); repeat or comma-separate.")
]
FromQuery = Annotated[UTCTimestamp | None, Query(alias="from")]
ToQuery = Annotated[UTCTimestamp | None, Query(alias="to")]


@router.post("")
def create_completion(
    body: CompletionWrite, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Log one completion (upsert when `id` is given)."""
    principal.require("ingest")
    completion = completions.upsert_completion(session, principal.org_id, body.id, body.fields())
    return completions_dicts(session, principal.org_id, [completion])[0]


@router.get("")
def list_completions(
    session: SessionDep,
    principal: CurrentPrincipal,
    tags: TagsQuery = None,
    created_from: FromQuery = None,
    created_to: ToQuery = None,
    session_id: str | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> dict[str, Any]:
    """Newest first. `total` counts every match."""
    principal.require()
    rows, total = completions.list_completions(
        session, principal.org_id, _filter(tags, created_from, created_to, session_id),
        offset=offset, limit=min(limit, MAX_PAGE),
    )  # fmt: skip
    return {"data": completions_dicts(session, principal.org_id, rows), "total": total}


@router.get("/download")
def download_completions(
    request: Request,
    principal: CurrentPrincipal,
    tags: TagsQuery = None,
    created_from: FromQuery = None,
    created_to: ToQuery = None,
    session_id: str | None = None,
) -> StreamingResponse:
    """Every match as JSON Lines, oldest first, streamed."""
    principal.require()
    flt = _filter(tags, created_from, created_to, session_id)

    def rows(session: Any) -> Any:
        for c in completions.iter_completions(session, principal.org_id, flt):
            yield completion_dict(c, [])

    return jsonl_response(request, rows, filename="completions.jsonl")


@router.get("/{completion_id}")
def get_completion(
    completion_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    principal.require()
    completion = completions.get_completion(session, principal.org_id, completion_id)
    return completions_dicts(session, principal.org_id, [completion])[0]


@router.put("/{completion_id}")
def put_completion(
    completion_id: str, body: CompletionWrite, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Upsert by client-chosen id: present fields overwrite, absent ones are kept."""
    principal.require("ingest")
    completion = completions.upsert_completion(
        session, principal.org_id, completion_id, body.fields()
    )
    return completions_dicts(session, principal.org_id, [completion])[0]
