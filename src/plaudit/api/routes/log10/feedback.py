"""log10 feedback: POST/GET /api/v1/feedback, GET /api/v1/feedback/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from plaudit.api.deps import CurrentPrincipal, SessionDep, check_org
from plaudit.api.routes.log10.base import MAX_PAGE, log10_router, remaining_total
from plaudit.core import feedback as feedback_service
from plaudit.core.feedback import FeedbackFilter
from plaudit.schemas.common import MAX_OFFSET
from plaudit.schemas.feedback import FeedbackCreate

router = log10_router(prefix="/api/v1/feedback", tags=["feedback"])


@router.post("")
def create_feedback(
    body: FeedbackCreate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Validate `json_values` against the task's schema and attach it to the matched completions
    (by `completion_ids`, or by `completion_tags_selector` with AND semantics)."""
    principal.require("feedback", "reviewer")
    check_org(principal, body.organization_id)
    created = feedback_service.create_feedback(session, principal, body.to_input())
    return feedback_service.feedback_dict(session, created)


@router.get("")
def list_feedback(
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=0)] = 50,
    task_id: str | None = None,
    completion_id: str | None = None,
) -> dict[str, Any]:
    """Newest first; `total` counts what is left from `offset`."""
    principal.require("reviewer")
    flt = FeedbackFilter(task_id=task_id or None, completion_id=completion_id or None)
    rows, count = feedback_service.list_feedback(
        session, principal.org_id, flt, offset=offset, limit=min(limit, MAX_PAGE)
    )
    return {"data": rows, "total": remaining_total(count, offset)}


@router.get("/{feedback_id}")
def get_feedback(
    feedback_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    principal.require("reviewer")
    item = feedback_service.get_feedback(session, principal.org_id, feedback_id)
    return feedback_service.feedback_dict(session, item)
