"""The server-side state of one contributor's chat, and every action on it but sending.

Contributors see anonymous labels ("Response A", …) only, never model ids. Every rule of the
CML is enforced here: live preamble before the first turn, ontology answers for every shown
response, a selection (or "near identical" → random pick) before the next turn, confidence with
``enhanced``, custom responses only with ``custom-response`` (QA edits only with
``allow-custom-response-edit``), ``min-turns`` before submitting.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import nh3
from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, not_, or_, select
from sqlalchemy.orm import Session

from plaudit.chat import ontology as onto
from plaudit.chat.assignment import load_assignment
from plaudit.chat.cml import ChatFeedbackConfig, resolve_placeholders
from plaudit.chat.history import parse_review_data
from plaudit.chat.jobs import job_config, require_state
from plaudit.db.base import utcnow
from plaudit.db.models import (
    ChatAssignment,
    ChatConversation,
    ChatJob,
    ChatResponse,
    ChatSlot,
    ChatTurn,
    ChatUnit,
)
from plaudit.errors import Conflict, Invalid, NotFound

CONFIDENCE = ("much-better", "better", "slightly-better", "negligible")
_pick = random.SystemRandom()


def label_for(position: int) -> str:
    letters = ""
    n = position
    while True:
        letters = chr(ord("A") + n % 26) + letters
        n = n // 26 - 1
        if n < 0:
            return f"Response {letters}"


@dataclass
class Chat:
    """Everything one request about a conversation needs, loaded once."""

    job: ChatJob
    config: ChatFeedbackConfig
    assignment: ChatAssignment
    conversation: ChatConversation
    unit: ChatUnit
    turns: list[tuple[ChatTurn, list[ChatResponse]]] | None = None  # see turns_of
    # Only the turn acted on plus the open ones (see get_turn): enough for the turn rules.
    nearby: list[tuple[ChatTurn, list[ChatResponse]]] | None = None
    # While the answer is rendered (no more changes): each turn's problems by turn id, as the
    # turn view, the send rule and the submit rule all check the open turns' answers.
    problems_seen: dict[str, list[str]] | None = None

    @property
    def is_qa(self) -> bool:
        return self.job.kind == "qa"


def start_conversation(session: Session, job: ChatJob, assignment: ChatAssignment) -> None:
    """Create the conversation; review-data history becomes greyed prior turns."""
    unit = session.get(ChatUnit, assignment.unit_id)
    assert unit is not None
    conversation = ChatConversation(assignment_id=assignment.id, job_id=job.id, unit_id=unit.id)
    session.add(conversation)
    session.flush()
    config = job_config(job)
    if not config.review_data:
        return
    for index, prior in enumerate(parse_review_data(unit.data.get(config.review_data))):
        turn = ChatTurn(
            conversation_id=conversation.id,
            index=index,
            origin="review",
            prompt=prior.prompt,
            custom_response=prior.custom_response,
            original_custom_response=prior.custom_response,
            near_identical=prior.near_identical,
            continued_text=prior.continued_text,
            completed=True,
            prior=prior.raw,
            selected_model_id=next((c.model_id for c in prior.completions if c.selected), None),
            confidence=next((c.confidence for c in prior.completions if c.selected), None),
        )
        session.add(turn)
        session.flush()
        for position, completion in enumerate(prior.completions):
            session.add(
                ChatResponse(
                    turn_id=turn.id,
                    job_id=job.id,
                    model_id=completion.model_id,
                    label=label_for(position),
                    position=position,
                    state="done",
                    text=completion.text,
                    selected=completion.selected,
                    confidence=completion.confidence,
                    prior_answers=prior.answers.get(completion.model_id),
                )
            )
    session.flush()


# Hot-path statements are built once with bind parameters: building and cache-keying a fresh
# ORM statement cost several times what SQLite takes to run it, on every request.
_LOAD_CHAT = (
    select(ChatAssignment, ChatJob, ChatConversation, ChatUnit, ChatSlot.lease_expires_at)
    .join(ChatJob, ChatJob.id == ChatAssignment.job_id)
    .join(ChatConversation, ChatConversation.assignment_id == ChatAssignment.id)
    .join(ChatUnit, ChatUnit.id == ChatAssignment.unit_id)
    .outerjoin(  # the slot, while it is still this assignment's claim
        ChatSlot,
        and_(
            ChatSlot.job_id == ChatAssignment.job_id,
            ChatSlot.unit_id == ChatAssignment.unit_id,
            ChatSlot.slot == ChatAssignment.judgment_index,
            ChatSlot.assignment_id == ChatAssignment.id,
            ChatSlot.state == "claimed",
        ),
    )
    .where(ChatAssignment.id == bindparam("assignment_id"),
           ChatAssignment.org_id == bindparam("org_id"))
)  # fmt: skip


def load_chat(
    session: Session, org_id: str, assignment_id: str, contributor_id: str, lease_seconds: int,
    *, write: bool = True,
) -> Chat:  # fmt: skip
    """Load the contributor's own conversation (for changes, with its lease kept fresh) in one
    query; the slot's lease comes along, so a fresh lease needs no UPDATE."""
    row = session.execute(_LOAD_CHAT, {"assignment_id": assignment_id, "org_id": org_id}).first()
    if row is None:
        raise NotFound(f"assignment '{assignment_id}' not found")
    assignment, job, conversation, unit, held_until = row
    _, renewed = load_assignment(
        session, org_id, assignment_id, contributor_id, lease_seconds, renew=write,
        held_until=held_until,
    )  # fmt: skip
    if write:
        require_state(job, "running", "paused", action="change this conversation")
        if renewed:  # last activity, as precise as the lease
            conversation.updated_at = utcnow()
    return Chat(job, job_config(job), assignment, conversation, unit)


def is_open(chat: Chat, turn: ChatTurn) -> bool:
    """Whether ``turn``'s problems still count for sending and submitting: an unfinished chat
    turn, or review history in a QA job (a completed chat turn is settled for good)."""
    if turn.origin == "chat":
        return not turn.completed
    return chat.is_qa


def _open_clause(qa: bool) -> ColumnElement[bool]:
    """:func:`is_open` in SQL."""
    unfinished = and_(ChatTurn.origin == "chat", ChatTurn.completed.is_(False))
    return or_(unfinished, ChatTurn.origin == "review") if qa else unfinished


def _turns_where(*where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(ChatTurn)
        .where(ChatTurn.conversation_id == bindparam("conversation_id"), *where)
        .order_by(ChatTurn.index)
    )


_INDEX: BindParameter[int] = bindparam("index")
# Which turns to load (see _load_turns); the open clause differs between QA and chat jobs.
_ALL_TURNS = _turns_where()
_TURN_AT = _turns_where(ChatTurn.index == _INDEX)
_TURN_AND_OPEN = {qa: _turns_where(or_(ChatTurn.index == _INDEX, _open_clause(qa)))
                  for qa in (False, True)}  # fmt: skip
_OPEN_TURNS = {qa: _turns_where(_open_clause(qa)) for qa in (False, True)}
_RESPONSES_OF = (
    select(ChatResponse)
    .where(ChatResponse.turn_id.in_(bindparam("turn_ids", expanding=True)))
    .order_by(ChatResponse.position)
)


def _load_turns(
    session: Session, chat: Chat, which: Select[Any] = _ALL_TURNS, index: int | None = None
) -> list[tuple[ChatTurn, list[ChatResponse]]]:
    """The chat's turns selected by ``which`` (one of the statements above; ``index`` for
    those that take one) in order, each with its responses."""
    params: dict[str, Any] = {"conversation_id": chat.conversation.id}
    if index is not None:
        params["index"] = index
    turns: list[ChatTurn] = list(session.scalars(which, params))
    responses: dict[str, list[ChatResponse]] = {t.id: [] for t in turns}
    if responses:
        for response in session.scalars(_RESPONSES_OF, {"turn_ids": list(responses)}):
            responses[response.turn_id].append(response)
    return [(t, responses[t.id]) for t in turns]


def turns_of(session: Session, chat: Chat) -> list[tuple[ChatTurn, list[ChatResponse]]]:
    """The conversation's turns with their responses (loaded once per request)."""
    if chat.turns is None:
        chat.turns = _load_turns(session, chat)
    return chat.turns


class PastTurn(Protocol):
    """What the models see of an earlier turn (a ChatTurn, or a settled turn's row)."""

    index: int
    origin: str
    prompt: str
    continued_text: str | None


# The settled turns (see is_open) as plain rows: only what the models see of them.
_SETTLED_TURNS = {
    qa: select(ChatTurn.index, ChatTurn.origin, ChatTurn.prompt, ChatTurn.continued_text)
    .where(ChatTurn.conversation_id == bindparam("conversation_id"), not_(_open_clause(qa)))
    .order_by(ChatTurn.index)
    for qa in (False, True)
}


@dataclass
class History:
    """A conversation's turns before the next one: the settled turns as plain rows (a long
    conversation's earlier turns are never loaded as ORM objects with their responses on each
    prompt), the open ones with their responses, to be completed first."""

    settled: list[PastTurn]
    open: list[tuple[ChatTurn, list[ChatResponse]]]

    def turns(self) -> list[PastTurn]:
        """Every turn, in order."""
        return sorted([*self.settled, *(turn for turn, _ in self.open)], key=lambda t: t.index)


def history_of(session: Session, chat: Chat) -> History:
    """The conversation so far (see :class:`History`)."""
    params = {"conversation_id": chat.conversation.id}
    settled: list[Any] = list(session.execute(_SETTLED_TURNS[chat.is_qa], params))
    return History(settled, _load_turns(session, chat, _OPEN_TURNS[chat.is_qa]))


def get_turn(session: Session, chat: Chat, index: int) -> tuple[ChatTurn, list[ChatResponse]]:
    """One turn with its responses. Without the whole history at hand, this loads that turn
    and the open ones only (see :func:`open_turns`), not every earlier turn: the cost of acting
    on a turn must not grow with the length of the conversation."""
    if chat.turns is not None:
        candidates = chat.turns
    else:
        if chat.nearby is None:
            chat.nearby = _load_turns(session, chat, _TURN_AND_OPEN[chat.is_qa], index)
        candidates = chat.nearby
    for turn, responses in candidates:
        if turn.index == index:
            return turn, responses
    if chat.turns is None:  # another index than the one loaded: load it too
        found = _load_turns(session, chat, _TURN_AT, index)
        if found:
            assert chat.nearby is not None
            chat.nearby = sorted([*chat.nearby, *found], key=lambda tr: tr[0].index)
            return found[0]
    raise NotFound(f"turn {index} not found in this conversation")


def open_turns(session: Session, chat: Chat) -> list[tuple[ChatTurn, list[ChatResponse]]]:
    """The turns whose problems still count for sending and submitting (see :func:`is_open`),
    in order; completed chat turns are never loaded for this."""
    if chat.turns is None and chat.nearby is None:
        chat.nearby = _load_turns(session, chat, _OPEN_TURNS[chat.is_qa])
    loaded = chat.turns if chat.turns is not None else chat.nearby
    assert loaded is not None
    return [(t, r) for t, r in loaded if is_open(chat, t)]


def response_by_label(responses: list[ChatResponse], label: str) -> ChatResponse:
    for response in responses:
        if response.label == label:
            return response
    raise Invalid(f"label: no response labelled {label!r} in this turn", path="label")


def answers_required(chat: Chat, turn: ChatTurn) -> bool:
    """Chat turns always need answers; review history only in QA jobs."""
    return turn.origin == "chat" or chat.is_qa


def turn_problems(chat: Chat, turn: ChatTurn, responses: list[ChatResponse]) -> list[str]:
    """What stops ``turn`` from being complete; empty when it is."""
    problems: list[str] = []
    if turn.origin == "chat":
        pending = [r.label for r in responses if r.state == "pending"]
        if pending:
            problems.append(f"{', '.join(pending)} still streaming")
        if not any(r.state == "done" for r in responses):
            problems.append("no response arrived: retry the model(s)")
    if answers_required(chat, turn):
        for response in responses:
            if response.state != "done":
                continue
            for problem in onto.missing_answers(chat.job.ontology, response.answers):
                problems.append(f"{response.label}: answers {problem}")
    done = [r for r in responses if r.state == "done"]
    if turn.origin == "chat" and len(done) > 1 and turn.selected_model_id is None:
        problems.append("select the response to continue with (or 'near identical')")
    return problems


def complete_turn(chat: Chat, turn: ChatTurn, responses: list[ChatResponse]) -> None:
    """Close a finished turn before the next one (or submit); 409 naming what is missing."""
    if turn.completed and turn.origin == "chat":
        return
    problems = turn_problems(chat, turn, responses)
    if problems:
        raise Conflict(f"turn {turn.index} is not complete: " + "; ".join(problems))
    if turn.origin == "review":
        return
    done = [r for r in responses if r.state == "done"]
    if turn.selected_model_id is None:  # one response: it continues the chat by itself
        done[0].selected = True
        turn.selected_model_id = done[0].model_id
    selected = next(r for r in responses if r.model_id == turn.selected_model_id)
    turn.continued_text = turn.custom_response or selected.text
    turn.completed = True


def set_live_preamble(session: Session, chat: Chat, text: str) -> None:
    if not chat.config.live_preamble:
        raise Conflict("this job has no live-preamble")
    if any(t.origin == "chat" for t, _ in turns_of(session, chat)):
        raise Conflict("the live preamble can only be set before the first turn")
    clean = nh3.clean(text or "").strip()  # live preambles are always rich text
    if not clean:
        raise Invalid("text: the live preamble must not be empty", path="text")
    chat.conversation.live_preamble = clean


def save_answers(session: Session, chat: Chat, index: int, by_label: dict[str, Any]) -> None:
    """Ontology answers for one or more responses of a turn (merged with earlier ones)."""
    if not by_label:
        raise Invalid("answers: give label + answers, or responses by label", path="answers")
    turn, responses = get_turn(session, chat, index)
    if not answers_required(chat, turn):
        raise Conflict(f"turn {index} is review history: it takes no answers in this job")
    for label, answers in by_label.items():
        response = response_by_label(responses, label)
        if response.state != "done":
            raise Conflict(f"{label} has no completed response to answer about ({response.state})")
        onto.check_partial_answers(chat.job.ontology, answers)
        response.answers = {**(response.answers or {}), **answers}
        response.updated_at = utcnow()


def select_response(
    session: Session,
    chat: Chat,
    index: int,
    label: str | None,
    near_identical: bool,
    confidence: str | None,
) -> ChatResponse:
    turn, responses = get_turn(session, chat, index)
    if turn.origin != "chat":
        raise Conflict(f"turn {index} is review history: its selection cannot be changed")
    if turn.completed:
        raise Conflict(f"turn {index} is complete: a later turn was already sent")
    problems = [p for p in turn_problems(chat, turn, responses) if not p.startswith("select ")]
    if problems:
        raise Conflict(f"cannot select yet: {'; '.join(problems)}")
    done = [r for r in responses if r.state == "done"]
    if near_identical:
        if label is not None:
            raise Invalid("label: give a label or near_identical, not both", path="label")
        if len(done) < 2:
            raise Conflict("'near identical' needs at least two responses")
        chosen = _pick.choice(done)
    else:
        if label is None:
            raise Invalid("label: which response continues the chat?", path="label")
        chosen = response_by_label(responses, label)
        if chosen.state != "done":
            raise Conflict(
                f"{label} has no completed response ({chosen.state}): it cannot be selected"
            )
    if chat.config.enhanced and len(done) > 1 and not near_identical:
        if confidence is None:
            raise Invalid(
                "confidence: required (enhanced): one of " + ", ".join(CONFIDENCE),
                path="confidence",
            )
    if confidence is not None:
        if not chat.config.enhanced:
            raise Invalid("confidence: only asked in enhanced jobs", path="confidence")
        if confidence not in CONFIDENCE:
            raise Invalid(
                f"confidence: {confidence!r} is not one of " + ", ".join(CONFIDENCE),
                path="confidence",
            )
    for response in responses:
        response.selected = response is chosen
        response.confidence = confidence if response is chosen else None
    turn.selected_model_id = chosen.model_id
    turn.near_identical = near_identical
    turn.random_pick = near_identical
    turn.confidence = confidence
    return chosen


def set_custom_response(session: Session, chat: Chat, index: int, text: str) -> None:
    turn, responses = get_turn(session, chat, index)
    clean = nh3.clean(text or "").strip()  # custom responses are always rich text
    if not clean:
        raise Invalid("text: the custom response must not be empty", path="text")
    if turn.origin == "review":
        if not (chat.is_qa and chat.config.allow_custom_response_edit):
            raise Conflict("editing earlier responses needs allow-custom-response-edit")
        if turn.original_custom_response is None and turn.custom_response is None:
            turn.original_custom_response = turn.continued_text
        turn.custom_response = clean
        turn.continued_text = clean  # what the model sees next (with allow-continue)
        return
    if not chat.config.custom_response:
        raise Conflict("this job does not take custom responses (custom-response is false)")
    if turn.completed:
        raise Conflict(f"turn {index} is complete: a later turn was already sent")
    turn.custom_response = clean


def system_text(chat: Chat) -> str | None:
    parts = []
    if chat.config.preamble:
        parts.append(resolve_placeholders(chat.config.preamble, chat.unit.data))
    if chat.conversation.live_preamble:
        parts.append(chat.conversation.live_preamble)
    text = "\n\n".join(p for p in parts if p.strip())
    return text or None


def model_messages(history: Sequence[PastTurn], prompt: str) -> list[dict[str, Any]]:
    """What the models see: prior turns, then the new prompt.

    The preamble(s) travel as ``dynamic_attrs.preamble``: the gateway folds them into the
    system message for chat APIs and leaves them to ``${dynamic_attrs.preamble}`` in
    http-template models, so they are never sent twice.
    """
    messages: list[dict[str, Any]] = []
    for turn in history:
        messages.append({"role": "user", "content": turn.prompt})
        messages.append({"role": "assistant", "content": turn.continued_text or ""})
    messages.append({"role": "user", "content": prompt})
    return messages
