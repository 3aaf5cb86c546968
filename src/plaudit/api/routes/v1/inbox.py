"""Reviewer inbox: what still needs feedback, claimed one item at a time under a lease."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from plaudit.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.core import completions, inbox, tasks
from plaudit.core import feedback as feedback_service
from plaudit.schemas.common import MAX_OFFSET
from plaudit.schemas.completions import completions_dicts
from plaudit.schemas.feedback import InboxSubmit

router = APIRouter(
    prefix="/api/v1/feedback_task/{task_id}/inbox", tags=["inbox"], route_class=ORJSONRoute
)


@router.get("")
def inbox_overview(
    task_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Counts of open/claimed/done review slots and a page of open completion ids."""
    principal.require("reviewer")
    task = tasks.get_task(session, principal.org_id, task_id)
    return {
        "task_id": task.id,
        "reviews_per_item": task.reviews_per_item,
        "counts": inbox.inbox_counts(session, task.id),
        "open": inbox.open_items(session, task.id, offset=offset, limit=limit),
    }


@router.post("/next")
def claim_next(
    task_id: str, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
) -> dict[str, Any]:
    """Claim the next item (or get back the one you hold). `item` is null when all are done."""
    principal.require("reviewer")
    task = tasks.get_task(session, principal.org_id, task_id)
    claim = inbox.claim_next(session, task, principal.actor_id, settings.inbox_lease_seconds)
    if claim is None:
        return {"item": None, "counts": inbox.inbox_counts(session, task.id)}
    completion = completions.get_completion(session, principal.org_id, claim.completion_id)
    return {
        "item": {
            "completion": completions_dicts(session, principal.org_id, [completion])[0],
            "slot": claim.slot,
            "lease_expires_at": claim.lease_expires_at.isoformat(),
        },
        "task": {"id": task.id, "name": task.name, "instruction": task.instruction,
                 "json_schema": task.json_schema, "version": task.version},
    }  # fmt: skip


@router.post("/{completion_id}/submit")
def submit(
    task_id: str, completion_id: str, body: InboxSubmit, session: SessionDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:  # fmt: skip
    """Give feedback on the item you claimed; its slot is closed and the lease released."""
    principal.require("reviewer")
    created = feedback_service.submit_inbox_review(
        session, principal, task_id, completion_id, body.json_values, body.comment
    )
    return feedback_service.feedback_dict(session, created)


@router.post("/{completion_id}/skip")
def skip(
    task_id: str, completion_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, str]:
    """Give the item back without feedback; you are not offered it again."""
    principal.require("reviewer")
    tasks.get_task(session, principal.org_id, task_id)
    inbox.release_claim(session, task_id, completion_id, principal.actor_id)
    return {"status": "released"}
