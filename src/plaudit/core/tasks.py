"""Feedback tasks: a JSON Schema, a completion tag selector and an instruction, versioned."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plaudit.core import inbox
from plaudit.core.forms import check_schema
from plaudit.core.tags import parse_selector
from plaudit.db.base import utcnow
from plaudit.db.models import FeedbackTask, FeedbackTaskVersion
from plaudit.errors import Conflict, Invalid, NotFound

MAX_REVIEWS_PER_ITEM = 20


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name must be a non-empty string", path="name")
    if len(name) > 200 or "\x00" in name:
        raise Invalid("name must be at most 200 characters, without NUL bytes", path="name")
    return name.strip()


def _check_instruction(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 100_000 or "\x00" in value:
        raise Invalid(
            "instruction must be a string of at most 100,000 characters, without NUL bytes",
            path="instruction",
        )
    return value


def _check_reviews(value: object) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not (1 <= value <= MAX_REVIEWS_PER_ITEM)
    ):
        raise Invalid(
            f"reviews_per_item must be an integer from 1 to {MAX_REVIEWS_PER_ITEM}",
            path="reviews_per_item",
        )
    return value


def create_task(
    session: Session,
    org_id: str,
    *,
    name: object,
    json_schema: object,
    completion_tags_selector: object = None,
    instruction: object = None,
    reviews_per_item: object = 1,
) -> FeedbackTask:
    task = FeedbackTask(
        org_id=org_id,
        name=_check_name(name),
        json_schema=check_schema(json_schema),
        completion_tags_selector=parse_selector(completion_tags_selector),
        instruction=_check_instruction(instruction),
        reviews_per_item=_check_reviews(reviews_per_item),
        version=1,
    )
    session.add(task)
    session.flush()
    session.add(FeedbackTaskVersion(task_id=task.id, version=1, json_schema=task.json_schema))
    inbox.backfill_task(session, task)
    return task


def get_task(session: Session, org_id: str, task_id: str) -> FeedbackTask:
    task = session.get(FeedbackTask, task_id) if isinstance(task_id, str) else None
    if task is None or task.org_id != org_id:
        raise NotFound(f"feedback task '{task_id}' not found", path="task_id")
    return task


def list_tasks(
    session: Session, org_id: str, *, offset: int = 0, limit: int = 50, archived: bool = False
) -> tuple[list[FeedbackTask], int]:
    query = select(FeedbackTask).where(FeedbackTask.org_id == org_id)
    if not archived:
        query = query.where(FeedbackTask.archived_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(FeedbackTask.created_at.desc(), FeedbackTask.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def update_task(session: Session, task: FeedbackTask, changes: dict[str, Any]) -> FeedbackTask:
    """Apply an edit; a changed schema becomes a new version, a changed selector re-matches."""
    if task.archived_at is not None:
        raise Conflict(f"feedback task '{task.id}' is archived and cannot be edited")
    if "name" in changes:
        task.name = _check_name(changes["name"])
    if "instruction" in changes:
        task.instruction = _check_instruction(changes["instruction"])
    if "json_schema" in changes:
        schema = check_schema(changes["json_schema"])
        if schema != task.json_schema:
            task.version += 1
            task.json_schema = schema
            session.add(
                FeedbackTaskVersion(task_id=task.id, version=task.version, json_schema=schema)
            )
    rematch = False
    if "completion_tags_selector" in changes:
        selector = parse_selector(changes["completion_tags_selector"])
        rematch = selector != task.completion_tags_selector
        task.completion_tags_selector = selector
    if "reviews_per_item" in changes:
        reviews = _check_reviews(changes["reviews_per_item"])
        rematch = rematch or reviews != task.reviews_per_item
        task.reviews_per_item = reviews
    task.updated_at = utcnow()
    session.flush()
    if rematch:
        inbox.backfill_task(session, task)
    return task


def archive_task(session: Session, task: FeedbackTask) -> FeedbackTask:
    if task.archived_at is None:
        task.archived_at = utcnow()
        session.flush()
        inbox.backfill_task(session, task)  # archived: its open slots are dropped
    return task


def schema_for_version(session: Session, task: FeedbackTask, version: int) -> dict[str, Any]:
    if version == task.version:
        return task.json_schema
    row = session.get(FeedbackTaskVersion, (task.id, version))
    if row is None:
        raise NotFound(f"task '{task.id}' has no version {version}")
    return row.json_schema
