"""Feedback: edit, delete, history, download (create/list/get are the log10-compatible routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from plaudit.api.deps import CurrentPrincipal, SessionDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.api.routes.streaming import jsonl_chunks_response
from plaudit.core import feedback as feedback_service
from plaudit.core.feedback import FeedbackFilter
from plaudit.core.feedback_export import iter_feedback_lines
from plaudit.schemas.feedback import FeedbackUpdate

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"], route_class=ORJSONRoute)


@router.get("/download")
def download_feedback(
    request: Request,
    principal: CurrentPrincipal,
    task_id: str | None = None,
    completion_id: str | None = None,
) -> StreamingResponse:
    """Every matching item as JSON Lines, oldest first, streamed in constant memory."""
    principal.require("reviewer")
    flt = FeedbackFilter(task_id=task_id or None, completion_id=completion_id or None)
    return jsonl_chunks_response(
        request,
        lambda session: iter_feedback_lines(session, principal.org_id, flt),
        filename="feedback.jsonl",
    )


@router.patch("/{feedback_id}")
def update_feedback(
    feedback_id: str, body: FeedbackUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Edit values and/or comment (re-validated); the previous state is kept in history."""
    principal.require("reviewer")
    item = feedback_service.get_feedback(session, principal.org_id, feedback_id)
    updated = feedback_service.update_feedback(
        session, principal, item, body.model_dump(exclude_unset=True, exclude={"organization_id"})
    )
    return feedback_service.feedback_dict(session, updated)


@router.delete("/{feedback_id}")
def delete_feedback(
    feedback_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, str]:
    principal.require()
    item = feedback_service.get_feedback(session, principal.org_id, feedback_id)
    feedback_service.delete_feedback(session, principal, item)
    return {"id": feedback_id, "status": "deleted"}


@router.get("/{feedback_id}/history")
def feedback_history(
    feedback_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Earlier states of the item, oldest first."""
    principal.require("reviewer")
    feedback_service.get_feedback(session, principal.org_id, feedback_id)
    revisions = [
        {"action": r.action, "json_values": r.json_values, "comment": r.comment,
         "task_version": r.task_version, "changed_by": r.changed_by,
         "changed_at": r.changed_at.isoformat()}
        for r in feedback_service.feedback_history(session, feedback_id)
    ]  # fmt: skip
    return {"data": revisions, "total": len(revisions)}
