"""A contributor's conversation: state, live preamble, turns (SSE), answers, selection, submit.

Sending a prompt (or retrying a failed model) answers ``text/event-stream`` with events
``turn`` {turn, responses: [{label, position}]}, ``delta`` {label, text}, ``done`` {label, text},
``error`` {label, message} and ``end`` {turn}. The models keep running if the client goes away;
``GET /api/v1/assignments/{id}`` shows everything stored so far. Actions on one turn (answers,
selection, custom response) answer ``assignment``, that ``turn`` and ``limits`` only: their cost
does not grow with the conversation; the GET redraws the whole screen. The selection may carry
the turn's answers (``responses``), so finishing a turn is one call. Identify the contributor as
for ``next`` (signed-in person, or ``X-Plaudit-Contributor`` with an admin key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from plaudit.api.deps import authenticate
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
from plaudit.db.session import session_scope
from plaudit.errors import Invalid
from plaudit.schemas.jobs import (
    AnswersIn,
    CustomResponseIn,
    LivePreambleIn,
    PromptIn,
    RetryIn,
    SelectIn,
)
from plaudit.threads import run_blocking, run_write

router = APIRouter(
    prefix="/api/v1/assignments", tags=["chat conversations"], route_class=ORJSONRoute
)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
Body = TypeVar("Body", bound=BaseModel)
# (session, chat, the validated body or None) -> the answer
Action = Callable[[Session, Chat, Any], Any]


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that validates ``model`` itself (see ``in_own_chat``)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}  # fmt: skip


# A string in the path, read after the key check (as the body is): FastAPI validates typed path
# parameters before any code of the route runs, so a bad index would answer before a bad key.
TurnIndex = Annotated[str, Path(description="The turn's index: 0, 1, …")]


def turn_index(index: str) -> int:
    if not index.isascii() or not index.isdigit() or len(index) > 9:
        raise Invalid(f"index: turn index must be a whole number, got {index[:20]!r}", path="index")
    return int(index)


def _validated(model: type[Body], raw: Any) -> Body:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:  # the same 422 as FastAPI's own body validation
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None


def in_own_chat(
    request: Request,
    assignment_id: str,
    action: Action,
    model: type[BaseModel] | None = None,
    raw: Any = None,
    write: bool = True,
) -> Any:
    """Check the caller's key, validate the body against ``model``, open the caller's own
    conversation (for writing: with its lease kept fresh), run ``action`` and commit: blocking,
    in one transaction, in the one worker-thread call of the route.

    As sync routes with a principal dependency, FastAPI ran the key check, the route and the
    response's serialisation in three worker-thread calls, and the key check in a transaction
    of its own. The key is still checked before the body is validated (an unknown caller never
    learns what the body should look like); the body's JSON is parsed before, on the event
    loop, as ``organization_id`` claims in it are checked with the key.
    """
    state = request.app.state
    with session_scope(state.write_sessions if write else state.read_sessions) as session:
        principal = authenticate(request, session)
        body = _validated(model, raw) if model is not None else None
        who = contributor_of(request, principal)
        lease = state.settings.unit_lease_seconds
        chat = open_chat(session, principal, assignment_id, who, lease, write=write)
        return action(session, chat, body)


async def _run_in_own_chat(
    request: Request,
    assignment_id: str,
    action: Action,
    model: type[BaseModel] | None,
    write: bool = True,
) -> Any:
    """Parse the body's JSON here, then ``in_own_chat`` in a worker thread (writes on the pool
    for write transactions, see ``plaudit.threads``)."""
    raw = await _json_of(request) if model is not None else None
    args = (request, assignment_id, action, model, raw, write)
    if write:
        return await run_write(request.app.state.write_sessions, in_own_chat, *args)
    return await run_blocking(in_own_chat, *args)


async def _json_of(request: Request) -> Any:
    try:
        return await request.json()
    except orjson.JSONDecodeError:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                       "msg": "JSON decode error"}]) from None  # fmt: skip


async def _answer(
    request: Request,
    assignment_id: str,
    action: Action,
    model: type[BaseModel] | None = None,
    write: bool = True,
) -> Response:
    return ORJSONResponse(await _run_in_own_chat(request, assignment_id, action, model, write))


async def _on_turn(
    request: Request,
    assignment_id: str,
    index: str,
    model: type[BaseModel],
    change: Callable[[Session, Chat, int, Any], None],
) -> Response:
    """An action on one turn: ``change`` it, then answer that turn (see ``turn_state``)."""

    def action(session: Session, chat: Chat, body: Any) -> dict[str, Any]:
        turn = turn_index(index)
        change(session, chat, turn, body)
        return turn_state(session, chat, turn)

    return await _answer(request, assignment_id, action, model)


# (session, chat, body, a callback starting the plan's model calls) -> the plan
PlanAction = Callable[[Session, Chat, Any, turns.StartCalls], turns.TurnPlan]


async def _stream(
    request: Request, assignment_id: str, action: PlanAction, model: type[BaseModel]
) -> Response:
    """Store the turn, then follow the models' answers as server-sent events.

    ``action`` plans the turn and starts its model calls (from the worker thread, on the
    loop) before it writes the turn's rows: the writes and the commit overlap the models' wait.
    Their results are stored once the transaction has committed; if it fails, the calls are
    cancelled (``TurnRunner.start``). The answer starts only after the commit: an error is
    still a plain 4xx/5xx, and a reload sees the turn."""
    runner = turns.get_runner(request.app.state)
    loop = asyncio.get_running_loop()
    committed: asyncio.Future[None] = loop.create_future()
    started: asyncio.Future[turns.TurnStream] = loop.create_future()

    def start(plan: turns.TurnPlan) -> None:  # on the loop
        if not committed.done():  # else the transaction failed already: no calls
            started.set_result(runner.start(plan, committed))

    def start_soon(plan: turns.TurnPlan) -> None:  # in the worker thread
        loop.call_soon_threadsafe(start, plan)

    def plan_and_write(session: Session, chat: Chat, body: Any) -> None:  # in the thread
        action(session, chat, body, start_soon)

    try:
        await _run_in_own_chat(request, assignment_id, plan_and_write, model)
    except BaseException:
        committed.cancel()
        raise
    committed.set_result(None)
    stream = await started
    return EventStreamResponse(stream.follow(), headers=SSE_HEADERS)


@router.get("/{assignment_id}", response_model=None)
async def get_conversation(assignment_id: str, request: Request) -> Response:
    """Everything needed to continue exactly where you were (after a reload or a lost link)."""
    return await _answer(
        request, assignment_id, lambda s, c, _: conversation_state(s, c), write=False
    )


@router.put("/{assignment_id}/live-preamble", response_model=None,
            openapi_extra=json_body(LivePreambleIn))  # fmt: skip
async def set_live_preamble(assignment_id: str, request: Request) -> Response:
    """live-preamble: the context you give the model, before the first turn."""

    def action(session: Session, chat: Chat, body: LivePreambleIn) -> dict[str, Any]:
        conv.set_live_preamble(session, chat, body.text)
        return conversation_state(session, chat)

    return await _answer(request, assignment_id, action, LivePreambleIn)


@router.post("/{assignment_id}/turns", response_model=None, openapi_extra=json_body(PromptIn))
async def send_prompt(assignment_id: str, request: Request) -> Response:
    """Send the next prompt; the responses stream back as server-sent events."""

    def action(
        session: Session, chat: Chat, body: PromptIn, call: turns.StartCalls
    ) -> turns.TurnPlan:
        return turns.start_turn(session, chat, body.prompt, call)

    return await _stream(request, assignment_id, action, PromptIn)


@router.post("/{assignment_id}/turns/{index}/retry", response_model=None,
             openapi_extra=json_body(RetryIn))  # fmt: skip
async def retry_model(assignment_id: str, index: TurnIndex, request: Request) -> Response:
    """Call the model behind one failed response again (SSE, like sending a prompt)."""

    def action(
        session: Session, chat: Chat, body: RetryIn, call: turns.StartCalls
    ) -> turns.TurnPlan:
        return turns.retry_model(session, chat, turn_index(index), body.label, call)

    return await _stream(request, assignment_id, action, RetryIn)


@router.put("/{assignment_id}/turns/{index}/answers", response_model=None,
            openapi_extra=json_body(AnswersIn))  # fmt: skip
async def save_answers(assignment_id: str, index: TurnIndex, request: Request) -> Response:
    """Ontology answers for one response, or several (``responses``), merged with earlier ones."""

    def change(session: Session, chat: Chat, turn: int, body: AnswersIn) -> None:
        conv.save_answers(session, chat, turn, body.by_label())

    return await _on_turn(request, assignment_id, index, AnswersIn, change)


@router.post("/{assignment_id}/turns/{index}/select", response_model=None,
             openapi_extra=json_body(SelectIn))  # fmt: skip
async def select_response(assignment_id: str, index: TurnIndex, request: Request) -> Response:
    """Choose the response to continue with, or ``near_identical`` for a recorded random pick;
    with ``responses``, the answers are saved first, in the same transaction."""

    def change(session: Session, chat: Chat, turn: int, body: SelectIn) -> None:
        if body.responses:
            conv.save_answers(session, chat, turn, body.responses)
        conv.select_response(session, chat, turn, body.label, body.near_identical, body.confidence)

    return await _on_turn(request, assignment_id, index, SelectIn, change)


@router.put("/{assignment_id}/turns/{index}/custom-response", response_model=None,
            openapi_extra=json_body(CustomResponseIn))  # fmt: skip
async def set_custom_response(assignment_id: str, index: TurnIndex, request: Request) -> Response:
    """custom-response: your own reply replaces the selected one in the chat."""

    def change(session: Session, chat: Chat, turn: int, body: CustomResponseIn) -> None:
        conv.set_custom_response(session, chat, turn, body.text)

    return await _on_turn(request, assignment_id, index, CustomResponseIn, change)


@router.post("/{assignment_id}/submit", response_model=None)
async def submit(assignment_id: str, request: Request) -> Response:
    """Submit the judgment (422/409 naming the rule that is not met yet)."""

    def action(session: Session, chat: Chat, _: None) -> dict[str, Any]:
        judgment = submit_conversation(session, chat)
        return {"judgment_id": judgment.id, "assignment_id": assignment_id, "state": "submitted"}

    return await _answer(request, assignment_id, action)


@router.post("/{assignment_id}/abandon", response_model=None)
async def abandon(assignment_id: str, request: Request) -> Response:
    """Give the unit back without submitting (it returns to the queue)."""

    def action(session: Session, chat: Chat, _: None) -> dict[str, Any]:
        abandon_assignment(session, chat.assignment)
        return {"assignment_id": assignment_id, "state": "abandoned"}

    return await _answer(request, assignment_id, action)
