"""Feedback: validated against the task's schema, matched to completions, edited with history."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import String, Table, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, make_transient_to_detached

from plaudit.core import inbox
from plaudit.core.forms import validate_values
from plaudit.core.principal import Principal
from plaudit.core.tags import completions_tagged_with_all, parse_selector, selector_tag_ids
from plaudit.core.tasks import get_task
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import (
    Completion,
    Feedback,
    FeedbackCompletion,
    FeedbackRevision,
    FeedbackTask,
)
from plaudit.errors import BadRequest, Conflict, Invalid, NotFound

_LINKS = typing.cast(Table, FeedbackCompletion.__table__)
_FEEDBACK = typing.cast(Table, Feedback.__table__)
# PostgreSQL: a feedback item's links as one INSERT … SELECT unnest(array) (executemany sends a
# statement per link).
_LINKS_FROM_ARRAY = insert(_LINKS).from_select(
    ["feedback_id", "completion_id"],
    select(
        bindparam("feedback_id", type_=String()),
        func.unnest(bindparam("ids", type_=ARRAY(String()))),
    ),
)
MAX_COMMENT = 100_000
MAX_MATCHED_LIMIT = 10_000


@dataclass
class FeedbackIn:
    task_id: str
    json_values: Any
    completion_tags_selector: Any = None
    completion_ids: list[str] | None = None
    comment: str | None = None
    allow_unmatched_feedback: bool = False
    max_matched_completions: int = 100
    end_user_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _check_comment(comment: object) -> str | None:
    if comment is None or comment == "":
        return None
    if not isinstance(comment, str):
        raise Invalid("comment must be a string", path="comment")
    if len(comment) > MAX_COMMENT or "\x00" in comment:
        raise Invalid(
            f"comment must be at most {MAX_COMMENT} characters, without NUL bytes", path="comment"
        )
    return comment


def _match(session: Session, org_id: str, data: FeedbackIn, selector: list[str]) -> list[str]:
    if not 1 <= data.max_matched_completions <= MAX_MATCHED_LIMIT:
        raise Invalid(
            f"max_matched_completions must be from 1 to {MAX_MATCHED_LIMIT}",
            path="max_matched_completions",
        )
    if data.completion_ids:
        ids = list(dict.fromkeys(data.completion_ids))
        found = set(
            session.scalars(
                select(Completion.id).where(Completion.org_id == org_id, Completion.id.in_(ids))
            )
        )
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"completion '{missing[0]}' not found", path="completion_ids")
        matched = ids
    elif selector:
        tag_ids = selector_tag_ids(session, org_id, selector)
        matched = []
        if tag_ids is not None:
            matched = completions_tagged_with_all(
                session, org_id, tag_ids, limit=data.max_matched_completions + 1
            )
    else:
        matched = []
    if len(matched) > data.max_matched_completions:
        field = "completion_ids" if data.completion_ids else "completion_tags_selector"
        raise BadRequest(
            f"{field} matches more than {data.max_matched_completions} completions; "
            "narrow it or raise max_matched_completions",
            path=field,
        )
    if not matched and not data.allow_unmatched_feedback:
        where = f"tags {selector}" if selector else "no completion_ids or completion_tags_selector"
        raise BadRequest(
            f"no completion matches {where}; pass allow_unmatched_feedback=true to store it anyway",
            path="completion_tags_selector",
        )
    return matched


def _check_end_user(end_user_id: object) -> str | None:
    if end_user_id is None or end_user_id == "":
        return None
    if not isinstance(end_user_id, str) or len(end_user_id) > 200 or "\x00" in end_user_id:
        raise Invalid("end_user_id must be a string of at most 200 characters", path="end_user_id")
    return end_user_id


def create_feedback(session: Session, principal: Principal, data: FeedbackIn) -> Feedback:
    """Validate everything first, then write feedback, its links and the inbox in one go."""
    feedback, _closed = _create(session, principal, data)
    return feedback


def _create(session: Session, principal: Principal, data: FeedbackIn) -> tuple[Feedback, list[str]]:
    task = get_task(session, principal.org_id, data.task_id)
    if task.archived_at is not None:
        raise Conflict(f"feedback task '{task.id}' is archived", path="task_id")
    if not isinstance(data.json_values, dict):
        raise Invalid("json_values must be a JSON object", path="json_values")
    validate_values(task.json_schema, data.json_values)
    selector = parse_selector(data.completion_tags_selector)
    comment = _check_comment(data.comment)
    end_user_id = _check_end_user(data.end_user_id)
    matched = _match(session, principal.org_id, data, selector)
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(), "org_id": principal.org_id, "task_id": task.id,
        "task_version": task.version, "json_values": data.json_values, "comment": comment,
        "completion_tags_selector": selector, "matched_completion_ids": sorted(matched),
        "author_user_id": principal.user_id, "author_key_id": principal.key_id,
        "end_user_id": end_user_id, "deleted_at": None, "created_at": now, "updated_at": now,
    }  # fmt: skip
    # INSERT … RETURNING the columns as ``feedback_dict`` renders them (the stored JSON as the
    # database gives it back, e.g. PostgreSQL's JSONB key order), so answering the create
    # needs no read-back query.
    returned = session.execute(_INSERT_RETURNING, values).one()
    _rendered(session)[values["id"]] = _row_dict((*returned[:2], task.name, *returned[2:]))
    feedback = Feedback(**values)
    make_transient_to_detached(feedback)  # the row exists: persistent without another INSERT
    session.add(feedback)
    closed: list[str] = []
    if matched:
        if session.get_bind().dialect.name == "postgresql":  # one statement, however many
            session.execute(_LINKS_FROM_ARRAY, {"feedback_id": feedback.id, "ids": matched})
        else:
            session.execute(  # the table, not the entity: no ORM bulk-insert bookkeeping
                insert(_LINKS),
                [{"feedback_id": feedback.id, "completion_id": cid} for cid in matched],
            )
        closed = inbox.mark_reviewed(session, task.id, matched, principal.actor_id, feedback.id)
    return feedback, closed


def submit_inbox_review(
    session: Session,
    principal: Principal,
    task_id: str,
    completion_id: str,
    json_values: Any,
    comment: str | None = None,
) -> Feedback:
    """Feedback on an item the reviewer claimed from the inbox; closes their slot."""
    task = get_task(session, principal.org_id, task_id)
    inbox.require_claim(session, task.id, completion_id, principal.actor_id)
    feedback, closed = _create(
        session,
        principal,
        FeedbackIn(task_id=task.id, json_values=json_values, comment=comment,
                   completion_ids=[completion_id]),
    )  # fmt: skip
    if completion_id not in closed:  # lost a race for a lapsed lease: store nothing
        raise Conflict(
            f"your claim on completion '{completion_id}' passed to another reviewer",
            path="completion_id",
        )
    return feedback


def get_feedback(session: Session, org_id: str, feedback_id: str) -> Feedback:
    feedback = session.get(Feedback, feedback_id) if isinstance(feedback_id, str) else None
    if feedback is None or feedback.org_id != org_id or feedback.deleted_at is not None:
        raise NotFound(f"feedback '{feedback_id}' not found")
    return feedback


def _remember(session: Session, feedback: Feedback, action: str, principal: Principal) -> None:
    session.add(
        FeedbackRevision(
            feedback_id=feedback.id,
            action=action,
            json_values=feedback.json_values,
            comment=feedback.comment,
            task_version=feedback.task_version,
            changed_by=principal.actor_id,
        )
    )


def update_feedback(
    session: Session, principal: Principal, feedback: Feedback, changes: dict[str, Any]
) -> Feedback:
    """Edit values and/or comment; the previous state is kept as a revision."""
    task = get_task(session, principal.org_id, feedback.task_id)
    values = changes.get("json_values", feedback.json_values)
    if not isinstance(values, dict):
        raise Invalid("json_values must be a JSON object", path="json_values")
    validate_values(task.json_schema, values)
    comment = _check_comment(changes["comment"]) if "comment" in changes else feedback.comment
    _rendered(session).pop(feedback.id, None)
    _remember(session, feedback, "edit", principal)
    feedback.json_values = values
    feedback.comment = comment
    feedback.task_version = task.version
    feedback.updated_at = utcnow()
    session.flush()
    return feedback


def delete_feedback(session: Session, principal: Principal, feedback: Feedback) -> None:
    """Soft delete: the item leaves lists and exports, its history stays, and the inbox slots
    it closed need a review again."""
    _rendered(session).pop(feedback.id, None)
    _remember(session, feedback, "delete", principal)
    feedback.deleted_at = utcnow()
    session.flush()
    inbox.reopen_for_feedback(session, get_task(session, feedback.org_id, feedback.task_id),
                              feedback.id)  # fmt: skip


def feedback_history(session: Session, feedback_id: str) -> list[FeedbackRevision]:
    return list(
        session.scalars(
            select(FeedbackRevision)
            .where(FeedbackRevision.feedback_id == feedback_id)
            .order_by(FeedbackRevision.changed_at, FeedbackRevision.id)
        )
    )


@dataclass
class FeedbackFilter:
    task_id: str | None = None
    completion_id: str | None = None


def _filtered(org_id: str, flt: FeedbackFilter) -> Any:
    query = select(Feedback.id).where(Feedback.org_id == org_id, Feedback.deleted_at.is_(None))
    if flt.task_id:
        query = query.where(Feedback.task_id == flt.task_id)
    if flt.completion_id:
        query = query.where(
            Feedback.id.in_(
                select(FeedbackCompletion.feedback_id).where(
                    FeedbackCompletion.completion_id == flt.completion_id
                )
            )
        )
    return query


_ROW_COLUMNS = (
    Feedback.id, Feedback.task_id, FeedbackTask.name, Feedback.task_version,
    cast(Feedback.json_values, String), Feedback.comment,
    cast(Feedback.completion_tags_selector, String), cast(Feedback.matched_completion_ids, String),
    Feedback.org_id, Feedback.end_user_id, Feedback.created_at, Feedback.updated_at,
)  # fmt: skip
# _ROW_COLUMNS without the task's name, which the creating caller has at hand.
_INSERT_RETURNING = insert(_FEEDBACK).returning(
    *(column for column in _ROW_COLUMNS if column is not FeedbackTask.name)
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def _rows(session: Session, ids: list[str]) -> list[dict[str, Any]]:
    """Dicts in log10's shape, in the order of ``ids`` (``feedback_export`` renders the same
    in SQL for downloads)."""
    if not ids:
        return []
    rows = session.execute(
        select(*_ROW_COLUMNS)
        .join(FeedbackTask, FeedbackTask.id == Feedback.task_id)
        .where(Feedback.id.in_(ids))
    ).all()
    by_id = {row[0]: _row_dict(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def _row_dict(row: Any) -> dict[str, Any]:
    fid, task_id, name, version, values, comment, selector, matched, org_id, user, made, changed = (
        row
    )
    return {
        "id": fid,
        "task_id": task_id,
        "task_name": name,
        "task_version": version,
        "json_values": orjson.loads(values),
        "comment": comment,
        "completion_tags_selector": orjson.loads(selector or "[]"),
        "matched_completion_ids": orjson.loads(matched or "[]"),
        "organization_id": org_id,
        "end_user_id": user,
        "created_at": made.isoformat(),
        "created_at_ms": (made - _EPOCH) // _ONE_MS,  # exact, as the export renders it
        "updated_at": changed.isoformat(),
    }


def list_feedback(
    session: Session, org_id: str, flt: FeedbackFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    query = _filtered(org_id, flt)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ids = list(
        session.scalars(
            query.order_by(Feedback.created_at.desc(), Feedback.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    return _rows(session, ids), total


def _rendered(session: Session) -> dict[str, dict[str, Any]]:
    """Feedback created in this session, as its INSERT … RETURNING rendered it (by id)."""
    rendered: dict[str, dict[str, Any]] = session.info.setdefault("plaudit.new_feedback", {})
    return rendered


def feedback_dict(session: Session, feedback: Feedback) -> dict[str, Any]:
    created = _rendered(session).pop(feedback.id, None)  # a new item, unchanged since
    return created if created is not None else _rows(session, [feedback.id])[0]
