"""Sending a turn: check the prompt, pick and order the models, stream their answers.

The models are called as soon as the turn is checked and planned, before its rows (turn + one
pending response per shown model) are written: writing and committing them overlaps the
models' wait instead of delaying it. The models run in a background task that belongs to the
server, not to the HTTP request: a client that disconnects mid-stream loses nothing, the
answers are stored as they finish, and a reload shows them. A model's result is stored only
after the turn's transaction has committed (if it fails, the calls are cancelled), and committed
before its ``done`` event is sent, so a client that reacts to ``done`` always finds the stored
state. These writes go through the gateway's group-commit writer; the calls' completions are
recorded a little later, in batches of their own, so that the turn's ``end`` does not wait for
them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import nh3
import orjson
from sqlalchemy import Table, Update, bindparam, insert, update
from sqlalchemy.orm import Session, sessionmaker

from plaudit.chat.conversation import (
    Chat,
    PastTurn,
    complete_turn,
    get_turn,
    history_of,
    label_for,
    model_messages,
    response_by_label,
    system_text,
)
from plaudit.chat.units import unit_model_ids
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import ChatResponse, ChatTurn
from plaudit.db.session import session_scope
from plaudit.errors import Conflict, Invalid
from plaudit.gateway import CallContext, Delta, Gateway, ModelSpec, spec_from_row
from plaudit.gateway.registry import models_by_ids
from plaudit.threads import run_write

log = logging.getLogger("plaudit.chat")
_shuffle = random.SystemRandom()
# A response still pending after this long lost its server (a crash or restart mid-stream):
# it may be retried like a failed one.
STALLED = timedelta(minutes=10)


@dataclass
class ShownResponse:
    response_id: str
    model_id: int
    label: str
    position: int


@dataclass
class TurnPlan:
    """Everything the background task needs; no ORM objects (they belong to a session)."""

    turn_id: str
    index: int
    shown: list[ShownResponse]  # in display order
    specs: list[ModelSpec]
    context: CallContext


def check_prompt(chat: Chat, prompt: str | None, first: bool) -> str:
    config = chat.config
    seed = chat.unit.data.get(config.seed, "").strip() if config.seed else None
    if first and seed:
        if prompt is not None and prompt.strip() != seed:
            raise Invalid(
                "prompt: the first prompt is the unit's seed and cannot be changed", path="prompt"
            )
        return seed
    if prompt is None or not prompt.strip():
        raise Invalid("prompt: must not be empty", path="prompt")
    text = nh3.clean(prompt).strip() if config.rich else prompt.strip()
    if config.min_length is not None and len(text) < config.min_length:
        raise Invalid(
            f"prompt: at least {config.min_length} characters (min-length), got {len(text)}",
            path="prompt",
        )
    if config.max_length is not None and len(text) > config.max_length:
        raise Invalid(
            f"prompt: at most {config.max_length} characters (max-length), got {len(text)}",
            path="prompt",
        )
    if config.regex is not None and re.search(config.regex, text) is None:
        raise Invalid(
            f"prompt: does not match the required pattern {config.regex!r} (regex)", path="prompt"
        )
    return text


_RESPONSES = cast(Table, ChatResponse.__table__)
# Built once: a turn's rows are plain inserts (the ORM's unit of work cost more than SQLite).
_NEW_TURN = insert(cast(Table, ChatTurn.__table__))
_NEW_RESPONSE = insert(_RESPONSES)


# Starts a plan's model calls (before the plan's rows are written; see TurnRunner.start).
StartCalls = Callable[[TurnPlan], None]


def start_turn(session: Session, chat: Chat, prompt: str | None, call: StartCalls) -> TurnPlan:
    """Validate and plan a new turn, hand the plan to ``call`` (the models are called while
    the rows are written and committed), then write the turn and its pending responses."""
    config = chat.config
    history = history_of(session, chat)
    past = history.turns()
    chat_turns = sum(1 for t in past if t.origin == "chat")
    if chat.is_qa and not config.allow_continue:
        raise Conflict("this QA job does not allow new messages (allow-continue is false)")
    if config.live_preamble and chat.conversation.live_preamble is None:
        raise Conflict(
            "provide the live preamble first: " + (config.live_preamble_instruction or "")
        )
    if config.max_turns is not None and chat_turns >= config.max_turns:
        raise Conflict(f"max-turns is {config.max_turns}: no more turns; submit your work")
    for turn, responses in history.open:
        complete_turn(chat, turn, responses)
    text = check_prompt(chat, prompt, first=not chat_turns)
    model_ids = unit_model_ids(config, chat.job, chat.unit.data)
    if config.num_responses is not None:  # a fresh random subset every round
        model_ids = _shuffle.sample(model_ids, min(config.num_responses, len(model_ids)))
    _shuffle.shuffle(model_ids)
    with session.no_autoflush:  # the completed turns are flushed with the new rows, once
        specs = [spec_from_row(m) for m in models_by_ids(session, chat.job.org_id, model_ids)]
    index = len(past)
    shown = [ShownResponse(new_id(), model_id, label_for(position), position)
             for position, model_id in enumerate(model_ids)]  # fmt: skip
    plan = TurnPlan(new_id(), index, shown, specs, _context(chat, past, text, index))
    call(plan)
    connection = session.connection()
    connection.execute(_NEW_TURN, {"id": plan.turn_id, "conversation_id": chat.conversation.id,
                                   "index": index, "origin": "chat", "prompt": text})  # fmt: skip
    connection.execute(_NEW_RESPONSE, [
        {"id": s.response_id, "turn_id": plan.turn_id, "job_id": chat.job.id,
         "model_id": s.model_id, "label": s.label, "position": s.position, "state": "pending"}
        for s in shown
    ])  # fmt: skip
    session.flush()  # the completed turns; an error here still cancels the calls
    chat.turns = chat.nearby = None  # the cached turns no longer hold every turn
    return plan


def retry_model(session: Session, chat: Chat, index: int, label: str, call: StartCalls) -> TurnPlan:
    """Call one model of a turn again after it failed (``call`` as for :func:`start_turn`)."""
    turn, responses = get_turn(session, chat, index)
    if turn.origin != "chat" or turn.completed:
        raise Conflict(f"turn {index} is complete: its responses can no longer be retried")
    response = response_by_label(responses, label)
    stalled = response.state == "pending" and response.updated_at < utcnow() - STALLED
    if response.state != "error" and not stalled:
        raise Conflict(
            f"{label} did not fail ({response.state}): only failed responses are retried"
        )
    history = [t for t in history_of(session, chat).turns() if t.index < index]
    specs = [spec_from_row(m) for m in models_by_ids(session, chat.job.org_id, [response.model_id])]
    context = _context(chat, history, turn.prompt, index)
    shown = [ShownResponse(response.id, response.model_id, response.label, response.position)]
    plan = TurnPlan(turn.id, index, shown, specs, context)
    call(plan)
    response.state, response.error, response.text = "pending", None, None
    response.attempts += 1
    response.updated_at = utcnow()
    session.flush()
    return plan


def _context(chat: Chat, history: Sequence[PastTurn], prompt: str, index: int) -> CallContext:
    system = system_text(chat)
    return CallContext(
        messages=model_messages(history, prompt),
        dynamic_attrs={"preamble": system or ""},
        tags=[
            f"job:{chat.job.id}",
            f"unit:{chat.unit.id}",
            f"turn:{index}",
            f"assignment:{chat.assignment.id}",
        ],
    )


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass
class TurnStream:
    """Events of one running turn, replayable, so any number of listeners can follow it."""

    events: list[bytes] = field(default_factory=list)
    finished: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, event: bytes) -> None:
        self.events.append(event)
        self.changed.set()
        self.changed = asyncio.Event()

    async def follow(self) -> AsyncIterator[bytes]:
        sent = 0
        while True:
            waiter = self.changed
            # Read ``finished`` before the events: the last events may be pushed (and the
            # stream finished) while this generator is suspended in ``yield``.
            finished = self.finished
            if sent < len(self.events):  # everything since the last write in one chunk
                end = len(self.events)
                yield b"".join(self.events[sent:end])
                sent = end
            if finished:
                return
            await waiter.wait()


class TurnRunner:
    """Runs turns in background tasks owned by the app (one per app, on ``app.state``)."""

    def __init__(self, gateway: Gateway, sessions: sessionmaker[Session]) -> None:
        """One per app; finished turns are drained at shutdown (see :func:`get_runner`)."""
        self.gateway = gateway
        self.sessions = sessions
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, plan: TurnPlan, committed: asyncio.Future[None] | None = None) -> TurnStream:
        """Call the plan's models; their events go to the returned stream. ``committed``: the
        transaction storing the plan's rows, when it has not committed yet. The results are
        stored once it has; if it fails (an exception or cancelled), the calls are cancelled."""
        stream = TurnStream()
        stream.push(
            sse(
                "turn",
                {
                    "turn": plan.index,
                    "responses": [{"label": s.label, "position": s.position} for s in plan.shown],
                },
            )
        )
        task = asyncio.create_task(self._run(plan, stream, committed))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if committed is not None:
            committed.add_done_callback(lambda done: _cancel_unless_committed(done, task))
        return stream

    async def _run(
        self, plan: TurnPlan, stream: TurnStream, committed: asyncio.Future[None] | None
    ) -> None:
        labels = {s.model_id: s for s in plan.shown}
        stores: dict[int, asyncio.Task[None]] = {}
        failure: Exception | None = None
        ended = False
        try:
            calls = self.gateway.stream_many(plan.specs, plan.context, defer_recording=True)
            async for delta in calls:
                shown = labels[delta.model_id]
                if delta.kind == "delta":
                    stream.push(sse("delta", {"label": shown.label, "text": delta.text}))
                    continue
                stores[delta.model_id] = asyncio.create_task(
                    self._finish(shown, delta, stream, committed)
                )
                if len(stores) == len(plan.shown):  # every answer is in: the turn ends now,
                    ended = True  # while the gateway goes on recording the calls
                    await self._end(plan, stream, stores)
        except Exception as exc:  # the gateway never raises; this guards the bookkeeping
            failure = exc
        finally:
            if not ended:
                await self._end(plan, stream, stores, failure)

    async def _end(
        self,
        plan: TurnPlan,
        stream: TurnStream,
        stores: dict[int, asyncio.Task[None]],
        failure: Exception | None = None,
    ) -> None:
        """Once the results are stored (or, after a ``failure``, the missing ones marked
        failed): ``end``."""
        if stores:
            await asyncio.shield(asyncio.gather(*stores.values(), return_exceptions=True))
        if failure is not None:
            log.error("turn %s: the model calls failed: %r", plan.turn_id, failure)
            for shown in plan.shown:
                if shown.model_id in stores:
                    continue
                await run_write(self.sessions, self._fail, shown.response_id, str(failure))
                stream.push(sse("error", {"label": shown.label, "message": "internal error"}))
        stream.push(sse("end", {"turn": plan.index}))
        stream.finished = True

    async def _finish(
        self,
        shown: ShownResponse,
        delta: Delta,
        stream: TurnStream,
        committed: asyncio.Future[None] | None,
    ) -> None:
        """Store one model's result once the turn's rows are committed, then announce it:
        ``done`` means committed. The write joins the gateway's next batch."""
        if committed is not None:
            try:
                await asyncio.shield(committed)
            except BaseException:
                if committed.done():  # the turn was never stored: nothing to store this in
                    return
                raise  # this task itself was cancelled
        try:
            await self.gateway.batch_writer(self.sessions).write(
                store_responses, (shown.response_id, delta)
            )
        except Exception:
            log.exception("could not store %s of turn response %s", shown.label, shown.response_id)
            stream.push(sse("error", {"label": shown.label, "message": "internal error"}))
            return
        if delta.kind == "done":
            stream.push(sse("done", {"label": shown.label, "text": delta.text}))
        else:
            stream.push(sse("error", {"label": shown.label, "message": _anonymous(delta, shown)}))

    def _fail(self, response_id: str, message: str) -> None:
        with session_scope(self.sessions) as session:
            session.execute(
                update(ChatResponse)
                .where(ChatResponse.id == response_id, ChatResponse.state == "pending")
                .values(state="error", error=message[:2000], updated_at=utcnow())
            )

    async def drain(self) -> None:
        """Wait for running turns (shutdown: answers already paid for are not thrown away)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=30)


def _store_as(state: str, **values: Any) -> Update:
    """The UPDATE that records a finished call on its still-pending response as ``state``."""
    return (
        update(_RESPONSES)
        .where(_RESPONSES.c.id == bindparam("_id"), _RESPONSES.c.state == "pending")
        .values(state=state, completion_id=bindparam("_completion_id"),
                latency_ms=bindparam("_latency_ms"), updated_at=bindparam("_now"), **values)
    )  # fmt: skip


# Built once (a BatchWriter write runs per finished model): the ORM-enabled UPDATE built per row
# cost several times what SQLite takes to run it. Error rows leave the text as streamed so far.
_STORE_DONE = _store_as("done", text=bindparam("_text"), error=None)
_STORE_ERROR = _store_as("error", error=bindparam("_error"))


def store_responses(session: Session, rows: Sequence[tuple[str, Delta]]) -> list[None]:
    """Record finished model calls on their pending responses (a BatchWriter write): one
    executemany per outcome."""
    now = utcnow()
    done, failed = [], []
    for response_id, delta in rows:
        params: dict[str, Any] = {
            "_id": response_id,
            "_now": now,
            "_completion_id": delta.completion_id,
            "_latency_ms": delta.latency_ms,
        }
        if delta.kind == "done":
            params["_text"] = delta.text
            done.append(params)
        else:
            params["_error"] = delta.error or "the model call failed"
            failed.append(params)
    connection = session.connection()
    for statement, params_list in ((_STORE_DONE, done), (_STORE_ERROR, failed)):
        if params_list:
            connection.execute(statement, params_list)
    return [None] * len(rows)


def _cancel_unless_committed(committed: asyncio.Future[None], task: asyncio.Task[None]) -> None:
    if committed.cancelled() or committed.exception() is not None:
        task.cancel()


def _anonymous(delta: Delta, shown: ShownResponse) -> str:
    """The gateway's message names the model; contributors must not learn which it is."""
    return f"{shown.label} failed; you can retry it"


def get_runner(state: Any) -> TurnRunner:
    runner = getattr(state, "chat_runner", None)
    if runner is None:
        from plaudit.gateway import get_gateway

        runner = TurnRunner(get_gateway(state), state.write_sessions)
        state.chat_runner = runner

        async def drain(_app: Any) -> None:  # runs before the gateway closes its clients
            await runner.drain()

        hooks = getattr(state, "shutdown_hooks", None)
        if hooks is not None:
            hooks.append(drain)
    assert isinstance(runner, TurnRunner)
    return runner
