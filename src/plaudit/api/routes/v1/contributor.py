"""A contributor's conversation: state, live preamble, turns (SSE), answers, selection, submit.

Sending a prompt (or retrying a failed model) answers ``text/event-stream`` with events
``turn`` {turn, responses: [{label, position}]}, ``delta`` {label, text}, ``done`` {label, text},
``error`` {label, message} and ``end`` {turn}. The models keep running if the client goes away;
``GET /api/v1/assignments/{id}`` shows everything stored so far. Actions on one turn (answers,
selection, custom response) answer ``assignment``, that ``turn`` and ``limits`` only: their cost
does not grow with the conversation; the GET redraws the whole screen. Identify the contributor as
for ``next`` (signed-in person, or ``X-Plaudit-Contributor`` with an admin key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plaudit.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.api.routes.v1.jobs import contributor_of
from plaudit.chat import conversation as conv
from plaudit.chat import turns
from plaudit.chat.assignment import abandon_assignment
from plaudit.chat.state import (
    Chat,
    conversation_state,
    open_chat,
    submit_conversation,
    turn_state,
)
from plaudit.core.principal import Principal
from plaudit.db.session import session_scope
from plaudit.schemas.jobs import (
    AnswersIn,
    CustomResponseIn,
    LivePreambleIn,
    PromptIn,
    RetryIn,
    SelectIn,
)

router = APIRouter(
    prefix="/api/v1/assignments", tags=["chat conversations"], route_class=ORJSONRoute
)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def in_own_chat(
    request: Request,
    principal: Principal,
    assignment_id: str,
    action: Callable[[Session, Chat], Any],
) -> Any:
    """Open the caller's own conversation (locked for writing; renews the unit's lease), run
    ``action`` and commit, all in the one worker thread that runs the route.

    Not a session dependency: FastAPI runs a dependency, the route and the dependency's exit
    (the commit) in separate worker-thread calls, holding the write transaction (SQLite's
    single write lock) while each waits for a free thread. With every thread taken by writers
    queued behind that lock, the holder could not get one to commit.
    """
    state = request.app.state
    who = contributor_of(request, principal)
    with session_scope(state.write_sessions) as session:
        chat = open_chat(session, principal, assignment_id, who, state.settings.unit_lease_seconds)
        return action(session, chat)


@router.get("/{assignment_id}")
def get_conversation(
    assignment_id: str,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Everything needed to continue exactly where you were (after a reload or a lost link)."""
    who = contributor_of(request, principal)
    chat = open_chat(
        session, principal, assignment_id, who, settings.unit_lease_seconds, write=False
    )
    return conversation_state(session, chat)


@router.put("/{assignment_id}/live-preamble")
def set_live_preamble(
    assignment_id: str, body: LivePreambleIn, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """live-preamble: the context you give the model, before the first turn."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.set_live_preamble(session, chat, body.text)
        return conversation_state(session, chat)

    result: dict[str, Any] = in_own_chat(request, principal, assignment_id, action)
    return result


async def _stream(
    request: Request, principal: Any, assignment_id: str, action: Any
) -> StreamingResponse:
    state = request.app.state
    plan = await run_in_threadpool(
        turns.begin_stream,
        state.write_sessions,
        principal,
        assignment_id,
        contributor_of(request, principal),
        state.settings.unit_lease_seconds,
        action,
    )
    stream = turns.get_runner(state).start(plan)
    return StreamingResponse(stream.follow(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/{assignment_id}/turns", response_model=None)
async def send_prompt(
    assignment_id: str, body: PromptIn, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    """Send the next prompt; the responses stream back as server-sent events."""
    return await _stream(
        request, principal, assignment_id, lambda s, c: turns.start_turn(s, c, body.prompt)
    )


@router.post("/{assignment_id}/turns/{index}/retry", response_model=None)
async def retry_model(
    assignment_id: str, index: int, body: RetryIn, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    """Call the model behind one failed response again (SSE, like sending a prompt)."""
    return await _stream(
        request, principal, assignment_id, lambda s, c: turns.retry_model(s, c, index, body.label)
    )


@router.put("/{assignment_id}/turns/{index}/answers")
def save_answers(
    assignment_id: str, index: int, body: AnswersIn, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Ontology answers for one response, or several (``responses``), merged with earlier ones."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.save_answers(session, chat, index, body.by_label())
        return turn_state(session, chat, index)

    result: dict[str, Any] = in_own_chat(request, principal, assignment_id, action)
    return result


@router.post("/{assignment_id}/turns/{index}/select")
def select_response(
    assignment_id: str, index: int, body: SelectIn, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Choose the response to continue with, or ``near_identical`` for a recorded random pick."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.select_response(session, chat, index, body.label, body.near_identical, body.confidence)
        return turn_state(session, chat, index)

    result: dict[str, Any] = in_own_chat(request, principal, assignment_id, action)
    return result


@router.put("/{assignment_id}/turns/{index}/custom-response")
def set_custom_response(
    assignment_id: str,
    index: int,
    body: CustomResponseIn,
    request: Request,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """custom-response: your own reply replaces the selected one in the chat."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.set_custom_response(session, chat, index, body.text)
        return turn_state(session, chat, index)

    result: dict[str, Any] = in_own_chat(request, principal, assignment_id, action)
    return result


@router.post("/{assignment_id}/submit")
def submit(assignment_id: str, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Submit the judgment (422/409 naming the rule that is not met yet)."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        judgment = submit_conversation(session, chat)
        return {"judgment_id": judgment.id, "assignment_id": assignment_id, "state": "submitted"}

    result: dict[str, Any] = in_own_chat(request, principal, assignment_id, action)
    return result


@router.post("/{assignment_id}/abandon")
def abandon(assignment_id: str, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Give the unit back without submitting (it returns to the queue)."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        abandon_assignment(session, chat.assignment)
        return {"assignment_id": assignment_id, "state": "abandoned"}

    result: dict[str, Any] = in_own_chat(request, principal, assignment_id, action)
    return result
