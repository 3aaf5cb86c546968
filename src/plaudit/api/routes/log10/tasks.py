"""log10 feedback tasks: POST/GET /api/v1/feedback_task, GET /api/v1/feedback_task/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from plaudit.api.deps import CurrentPrincipal, SessionDep, check_org
from plaudit.api.routes.log10.base import MAX_PAGE, log10_router, remaining_total
from plaudit.core import tasks
from plaudit.schemas.common import MAX_OFFSET
from plaudit.schemas.tasks import TaskCreate, task_dict

router = log10_router(prefix="/api/v1/feedback_task", tags=["feedback tasks"])


@router.post("")
def create_task(body: TaskCreate, session: SessionDep, principal: CurrentPrincipal) -> dict:
    """Create a task: a JSON Schema, a completion tag selector (AND) and an instruction."""
    principal.require()
    check_org(principal, body.organization_id)
    task = tasks.create_task(
        session,
        principal.org_id,
        name=body.name,
        json_schema=body.json_schema,
        completion_tags_selector=body.completion_tags_selector,
        instruction=body.instruction,
        reviews_per_item=body.reviews_per_item,
    )
    return task_dict(task)


@router.get("")
def list_tasks(
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=0)] = 25,
    archived: bool = False,
) -> dict[str, Any]:
    """Newest first; `total` counts what is left from `offset`."""
    principal.require("reviewer")
    rows, count = tasks.list_tasks(
        session, principal.org_id, offset=offset, limit=min(limit, MAX_PAGE), archived=archived
    )
    return {"data": [task_dict(t) for t in rows], "total": remaining_total(count, offset)}


@router.get("/{task_id}")
def get_task(task_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    principal.require("reviewer")
    return task_dict(tasks.get_task(session, principal.org_id, task_id))
