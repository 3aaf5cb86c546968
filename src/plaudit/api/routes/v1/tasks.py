"""Feedback tasks: edit, archive, versions (create/list/get are the log10-compatible routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from plaudit.api.deps import CurrentPrincipal, SessionDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.core import tasks
from plaudit.schemas.tasks import TaskUpdate, task_dict

router = APIRouter(prefix="/api/v1/feedback_task", tags=["feedback tasks"], route_class=ORJSONRoute)


@router.patch("/{task_id}")
def update_task(
    task_id: str, body: TaskUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Edit a task. A changed `json_schema` makes a new version; old feedback keeps its own."""
    principal.require()
    task = tasks.get_task(session, principal.org_id, task_id)
    return task_dict(
        tasks.update_task(
            session, task, body.model_dump(exclude_unset=True, exclude={"organization_id"})
        )
    )


@router.post("/{task_id}/archive")
def archive_task(task_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Hide the task from lists and inboxes; its feedback stays."""
    principal.require()
    task = tasks.get_task(session, principal.org_id, task_id)
    return task_dict(tasks.archive_task(session, task))


@router.get("/{task_id}/versions")
def list_versions(task_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    principal.require("reviewer")
    task = tasks.get_task(session, principal.org_id, task_id)
    versions = [
        {"version": v, "json_schema": tasks.schema_for_version(session, task, v)}
        for v in range(1, task.version + 1)
    ]
    return {"data": versions, "total": len(versions)}
