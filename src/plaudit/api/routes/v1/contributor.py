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
from fastapi.responses import Response
from sqlalchemy.orm import Session

from plaudit.api.deps import CurrentPrincipal
from plaudit.api.jsonio import ORJSONResponse, ORJSONRoute
from plaudit.api.routes.streaming import EventStreamResponse
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
from plaudit.threads import run_blocking

router = APIRouter(
    prefix="/api/v1/assignments", tags=["chat conversations"], route_class=ORJSONRoute
)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
Action = Callable[[Session, Chat], Any]


def in_own_chat(
    request: Request, principal: Principal, assignment_id: str, action: Action, write: bool = True
) -> Any:
    """Open the caller's own conversation (for writing: with its lease kept fresh), run
    ``action`` and commit; blocking, in one transaction.

    The routes are ``async`` and run this in one worker-thread call. As sync routes, FastAPI
    ran the route and the response's serialisation in separate worker-thread calls, each
    waiting for a free thread; and a write transaction held across such waits (SQLite's single
    write lock) could not get a thread to commit while every thread was taken by writers queued
    behind it.
    """
    state = request.app.state
    who = contributor_of(request, principal)
    lease = state.settings.unit_lease_seconds
    with session_scope(state.write_sessions if write else state.read_sessions) as session:
        chat = open_chat(session, principal, assignment_id, who, lease, write=write)
        return action(session, chat)


async def _answer(
    request: Request, principal: Principal, assignment_id: str, action: Action, write: bool = True
) -> Response:
    answer = await run_blocking(in_own_chat, request, principal, assignment_id, action, write)
    return ORJSONResponse(answer)


async def _stream(
    request: Request, principal: Principal, assignment_id: str, action: Action
) -> Response:
    """Store the turn (committed before any model is called, so the stream's own writes and a
    reload see its rows), then follow the models' answers as server-sent events."""
    plan = await run_blocking(in_own_chat, request, principal, assignment_id, action)
    stream = turns.get_runner(request.app.state).start(plan)
    return EventStreamResponse(stream.follow(), headers=SSE_HEADERS)


@router.get("/{assignment_id}", response_model=None)
async def get_conversation(
    assignment_id: str, request: Request, principal: CurrentPrincipal
) -> Response:
    """Everything needed to continue exactly where you were (after a reload or a lost link)."""
    return await _answer(request, principal, assignment_id, conversation_state, write=False)


@router.put("/{assignment_id}/live-preamble", response_model=None)
async def set_live_preamble(
    assignment_id: str, body: LivePreambleIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """live-preamble: the context you give the model, before the first turn."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.set_live_preamble(session, chat, body.text)
        return conversation_state(session, chat)

    return await _answer(request, principal, assignment_id, action)


@router.post("/{assignment_id}/turns", response_model=None)
async def send_prompt(
    assignment_id: str, body: PromptIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Send the next prompt; the responses stream back as server-sent events."""
    return await _stream(
        request, principal, assignment_id, lambda s, c: turns.start_turn(s, c, body.prompt)
    )


@router.post("/{assignment_id}/turns/{index}/retry", response_model=None)
async def retry_model(
    assignment_id: str, index: int, body: RetryIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Call the model behind one failed response again (SSE, like sending a prompt)."""
    return await _stream(
        request, principal, assignment_id, lambda s, c: turns.retry_model(s, c, index, body.label)
    )


@router.put("/{assignment_id}/turns/{index}/answers", response_model=None)
async def save_answers(
    assignment_id: str, index: int, body: AnswersIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Ontology answers for one response, or several (``responses``), merged with earlier ones."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.save_answers(session, chat, index, body.by_label())
        return turn_state(session, chat, index)

    return await _answer(request, principal, assignment_id, action)


@router.post("/{assignment_id}/turns/{index}/select", response_model=None)
async def select_response(
    assignment_id: str, index: int, body: SelectIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Choose the response to continue with, or ``near_identical`` for a recorded random pick;
    with ``responses``, the answers are saved first, in the same transaction."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        if body.responses:
            conv.save_answers(session, chat, index, body.responses)
        conv.select_response(session, chat, index, body.label, body.near_identical, body.confidence)
        return turn_state(session, chat, index)

    return await _answer(request, principal, assignment_id, action)


@router.put("/{assignment_id}/turns/{index}/custom-response", response_model=None)
async def set_custom_response(
    assignment_id: str,
    index: int,
    body: CustomResponseIn,
    request: Request,
    principal: CurrentPrincipal,
) -> Response:
    """custom-response: your own reply replaces the selected one in the chat."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        conv.set_custom_response(session, chat, index, body.text)
        return turn_state(session, chat, index)

    return await _answer(request, principal, assignment_id, action)


@router.post("/{assignment_id}/submit", response_model=None)
async def submit(assignment_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """Submit the judgment (422/409 naming the rule that is not met yet)."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        judgment = submit_conversation(session, chat)
        return {"judgment_id": judgment.id, "assignment_id": assignment_id, "state": "submitted"}

    return await _answer(request, principal, assignment_id, action)


@router.post("/{assignment_id}/abandon", response_model=None)
async def abandon(assignment_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """Give the unit back without submitting (it returns to the queue)."""

    def action(session: Session, chat: Chat) -> dict[str, Any]:
        abandon_assignment(session, chat.assignment)
        return {"assignment_id": assignment_id, "state": "abandoned"}

    return await _answer(request, principal, assignment_id, action)
