"""What a contributor (or QA reviewer) sees of their conversation, and submitting it.

``conversation_state`` is enough to redraw the whole screen after a reload: every turn, every
response under its anonymous label, the answers given, what is still missing. ``turn_state``
answers an action on one turn (answers, selection, custom response): that turn and the
summary (assignment, limits), without loading or rendering the earlier turns, so its cost does
not grow with the conversation. Model ids are never included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from plaudit.chat import ontology as onto
from plaudit.chat.assignment import assign_next_unit, complete_assignment
from plaudit.chat.conversation import (
    CONFIDENCE,
    Chat,
    complete_turn,
    get_turn,
    is_open,
    load_chat,
    open_turns,
    start_conversation,
    turn_problems,
    turns_of,
)
from plaudit.chat.results import build_result, expanded_columns
from plaudit.chat.units import unit_model_ids
from plaudit.core.principal import Principal
from plaudit.db.models import ChatJob, ChatJudgment, ChatResponse, ChatTurn
from plaudit.errors import Conflict, Invalid


def _response_view(chat: Chat, turn: ChatTurn, response: ChatResponse) -> dict[str, Any]:
    show_prior = chat.config.show_feedback_answers
    view: dict[str, Any] = {
        "label": response.label,
        "position": response.position,
        "state": response.state,
        "text": response.text,
        "answers": response.answers or {},
        "attempts": response.attempts,
    }
    if response.state == "error":
        view["error"] = f"{response.label} failed; you can retry it"
    if turn.origin == "chat" or show_prior:
        view["selected"] = response.selected
    if turn.origin == "review" and show_prior:
        view["prior_answers"] = response.prior_answers or {}
    return view


def _turn_view(chat: Chat, turn: ChatTurn, responses: list[ChatResponse]) -> dict[str, Any]:
    show = turn.origin == "chat" or chat.config.show_feedback_answers
    selected = next((r.label for r in responses if r.selected), None)
    view: dict[str, Any] = {
        "index": turn.index,
        "origin": turn.origin,
        "greyed": turn.origin == "review",
        "prompt": turn.prompt,
        "responses": [_response_view(chat, turn, r) for r in responses],
        "selection": {
            "label": selected,
            "near_identical": turn.near_identical,
            "random_pick": turn.random_pick,
            "confidence": turn.confidence,
        }
        if show and selected
        else None,
        "custom_response": turn.custom_response,
        "completed": turn.completed,
        "problems": []
        if turn.completed and turn.origin == "chat"
        else _problems(chat, turn, responses),
    }
    if turn.origin == "review" and chat.config.allow_custom_response_edit and chat.is_qa:
        view["original_custom_response"] = turn.original_custom_response
    return view


@contextmanager
def _rendering(chat: Chat) -> Iterator[None]:
    """Only rendering from here on (nothing changes any more): each turn's problems are
    worked out once, however many parts of the answer (turn view, send and submit rules) ask."""
    chat.problems_seen = {}
    try:
        yield
    finally:
        chat.problems_seen = None


def conversation_state(session: Session, chat: Chat) -> dict[str, Any]:
    with _rendering(chat):
        return _conversation_view(session, chat)


def _conversation_view(session: Session, chat: Chat) -> dict[str, Any]:
    config = chat.config
    turns = turns_of(session, chat)
    progress = _progress_of(chat, turns)
    seed = chat.unit.data.get(config.seed) if config.seed and not progress.chat_turns else None
    return {
        "assignment": _assignment_view(chat),
        "job": {
            "name": chat.job.name,
            "kind": chat.job.kind,
            "label": config.label,
            "instructions": chat.job.instructions,
            "state": chat.job.state,
        },
        "input": {
            "rich": config.rich,
            "disable_paste": config.disable_paste,
            "regex": config.regex,
            "min_length": config.min_length,
            "max_length": config.max_length,
            "seed": seed,
            "prompt_editable": seed is None,
            "custom_response": config.custom_response,
            "enhanced": config.enhanced,
            "confidence_options": list(CONFIDENCE) if config.enhanced else [],
            "allow_continue": config.allow_continue if chat.is_qa else True,
            "allow_custom_response_edit": config.allow_custom_response_edit and chat.is_qa,
            "show_feedback_answers": config.show_feedback_answers,
        },
        "live_preamble": {
            "required": config.live_preamble,
            "instruction": config.live_preamble_instruction,
            "text": chat.conversation.live_preamble,
        },
        "ontology": chat.job.ontology,
        "questions": [
            {
                "questionId": q.id,
                "name": q.name,
                "type": q.type_name,
                "display": q.display,
                "title": q.title,
                "required": q.required,
            }
            for q in onto.questions(chat.job.ontology)
        ],
        "turns": [_turn_view(chat, t, r) for t, r in turns],
        "limits": _limits_view(chat, progress),
    }


# Built once (see conversation._LOAD_CHAT): every action on a turn runs it.
_TURN_COUNTS = select(func.count(), func.count(case((ChatTurn.origin == "chat", 1)))).where(
    ChatTurn.conversation_id == bindparam("conversation_id")
)


def turn_state(session: Session, chat: Chat, index: int) -> dict[str, Any]:
    """The answer to an action on turn ``index``: that turn as ``conversation_state`` shows it,
    plus ``assignment`` and ``limits``. Loads that turn, the open ones and two counters only."""
    with _rendering(chat):
        return _turn_answer(session, chat, index)


def _turn_answer(session: Session, chat: Chat, index: int) -> dict[str, Any]:
    turn, responses = get_turn(session, chat, index)
    total, chat_turns = session.execute(
        _TURN_COUNTS, {"conversation_id": chat.conversation.id}
    ).one()
    progress = Progress(total, chat_turns, open_turns(session, chat))
    return {
        "assignment": _assignment_view(chat),
        "turn": _turn_view(chat, turn, responses),
        "limits": _limits_view(chat, progress),
    }


@dataclass
class Progress:
    """What the send and submit rules need: the counters and the open turns (see ``is_open``);
    completed chat turns are settled and never re-checked."""

    turns: int  # review history included
    chat_turns: int
    open: list[tuple[ChatTurn, list[ChatResponse]]]


def _problems(chat: Chat, turn: ChatTurn, responses: list[ChatResponse]) -> list[str]:
    """``turn_problems``, once per turn while an answer is rendered (see ``_rendering``)."""
    seen = chat.problems_seen
    if seen is None:
        return turn_problems(chat, turn, responses)
    problems = seen.get(turn.id)
    if problems is None:
        problems = seen[turn.id] = turn_problems(chat, turn, responses)
    return problems


def _progress_of(chat: Chat, turns: list[tuple[ChatTurn, list[ChatResponse]]]) -> Progress:
    chat_turns = sum(1 for t, _ in turns if t.origin == "chat")
    return Progress(len(turns), chat_turns, [(t, r) for t, r in turns if is_open(chat, t)])


def _assignment_view(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.assignment.id,
        "state": chat.assignment.state,
        "job_id": chat.job.id,
        "unit_id": chat.unit.id,
        "lease_expires_at": chat.assignment.lease_expires_at.isoformat(),
    }


def _limits_view(chat: Chat, progress: Progress) -> dict[str, Any]:
    config = chat.config
    can_send, send_blocked = _send_state(chat, progress)
    can_submit, submit_blocked = _submit_state(chat, progress)
    return {
        "min_turns": config.min_turns,
        "max_turns": config.max_turns,
        "turns_done": progress.chat_turns,
        "turns_left": None
        if config.max_turns is None
        else max(config.max_turns - progress.chat_turns, 0),
        "can_send": can_send,
        "send_blocked": send_blocked,
        "can_submit": can_submit,
        "submit_blocked": submit_blocked,
    }


def _send_state(chat: Chat, progress: Progress) -> tuple[bool, str | None]:
    config = chat.config
    if chat.is_qa and not config.allow_continue:
        return False, "this QA job does not allow new messages"
    if config.live_preamble and chat.conversation.live_preamble is None:
        return False, "provide the live preamble first"
    if config.max_turns is not None and progress.chat_turns >= config.max_turns:
        return False, f"max-turns ({config.max_turns}) reached: submit your work"
    for turn, responses in progress.open:
        if turn.origin == "chat":
            problems = _problems(chat, turn, responses)
            if problems:
                return False, f"turn {turn.index}: " + "; ".join(problems)
    return True, None


def _submit_state(chat: Chat, progress: Progress) -> tuple[bool, str | None]:
    config = chat.config
    if progress.chat_turns < config.min_turns:
        return False, (
            f"min-turns is {config.min_turns}: complete at least {config.min_turns} "
            f"turn(s) before submitting (done: {progress.chat_turns})"
        )
    if config.required and not progress.turns:
        return False, "this chat is required: send at least one message before submitting"
    for turn, responses in progress.open:
        problems = _problems(chat, turn, responses)
        if problems:
            return False, f"turn {turn.index}: " + "; ".join(problems)
    return True, None


def submit_conversation(session: Session, chat: Chat) -> ChatJudgment:
    """Check every rule, store the judgment (result + expanded columns), close the slot."""
    turns = turns_of(session, chat)
    ok, reason = _submit_state(chat, _progress_of(chat, turns))
    if not ok:
        chat_turns = sum(1 for t, _ in turns if t.origin == "chat")
        if chat.config.min_turns and chat_turns < chat.config.min_turns:
            raise Invalid(reason or "", path="min-turns")
        raise Conflict(f"cannot submit yet: {reason}")
    for turn, responses in turns:
        complete_turn(chat, turn, responses)
    session.flush()
    models = unit_model_ids(chat.config, chat.job, chat.unit.data)
    result = build_result(chat.job, chat.config, turns, models, chat.conversation.live_preamble)
    judgment = ChatJudgment(
        org_id=chat.job.org_id,
        job_id=chat.job.id,
        unit_id=chat.unit.id,
        assignment_id=chat.assignment.id,
        contributor_id=chat.assignment.contributor_id,
        result=result,
        expanded=expanded_columns(chat.job, chat.config, result),
    )
    session.add(judgment)
    complete_assignment(session, chat.assignment)
    session.flush()
    return judgment


def require_role(principal: Principal, job: ChatJob) -> None:
    """QA jobs are for reviewers, chat jobs for contributors (admins may act as either)."""
    principal.require("reviewer" if job.kind == "qa" else "contributor")


def next_unit(
    session: Session, principal: Principal, job: ChatJob, contributor_id: str, lease_seconds: int
) -> dict[str, Any]:
    """Claim (or get back) a unit and return the conversation's full state."""
    require_role(principal, job)
    claimed = assign_next_unit(session, job, contributor_id, lease_seconds)
    if claimed is None:
        return {"assignment": None, "message": "no units left for you in this job"}
    assignment, created = claimed
    if created:
        start_conversation(session, job, assignment)
    chat = load_chat(session, job.org_id, assignment.id, contributor_id, lease_seconds, write=False)
    return conversation_state(session, chat)


def open_chat(
    session: Session,
    principal: Principal,
    assignment_id: str,
    contributor_id: str,
    lease_seconds: int,
    *,
    write: bool = True,
) -> Chat:
    chat = load_chat(
        session, principal.org_id, assignment_id, contributor_id, lease_seconds, write=write
    )
    require_role(principal, chat.job)
    return chat
