"""Chat jobs: create, edit (draft only), launch, pause, resume, finish, status."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from plaudit.chat.cml import ChatFeedbackConfig, check_header, parse_cml
from plaudit.chat.ontology import normalise_ontology
from plaudit.db.base import utcnow
from plaudit.db.models import ChatAssignment, ChatJob, ChatJudgment, ChatSlot, ChatUnit, Model
from plaudit.errors import Conflict, Invalid, NotFound

STATES = ("draft", "running", "paused", "finished")
KINDS = ("chat", "qa")
# state → the states it may move to, and the verb that does it
TRANSITIONS = {
    "launch": ({"draft"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "finish": ({"running", "paused"}, "finished"),
}


@dataclass
class JobFields:
    name: str
    cml: str
    ontology: dict[str, Any] | None = None
    instructions: str = ""
    model_ids: list[int] | None = None
    judgments_per_unit: int = 1
    kind: str = "chat"


def configured_model_ids(session: Session, org_id: str) -> set[int]:
    rows = session.scalars(
        select(Model.id).where(Model.org_id == org_id, Model.archived_at.is_(None))
    )
    return set(rows)


def _checked(
    session: Session, org_id: str, fields: JobFields
) -> tuple[ChatFeedbackConfig, list[int]]:
    if not fields.name or not fields.name.strip():
        raise Invalid("name must not be empty", path="name")
    if fields.kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", path="kind")
    if not 1 <= fields.judgments_per_unit <= 100:
        raise Invalid("judgments_per_unit must be within 1..100", path="judgments_per_unit")
    configured = configured_model_ids(session, org_id)
    config = parse_cml(fields.cml, configured_model_ids=configured)
    model_ids = list(dict.fromkeys(fields.model_ids or ()))
    for model_id in model_ids:
        if model_id not in configured:
            raise Invalid(
                f"model_ids: model {model_id} is not configured in this organization",
                path="model_ids",
            )
    if config.source_model_ids is not None:
        if model_ids and not set(config.source_model_ids) <= set(model_ids):
            extra = sorted(set(config.source_model_ids) - set(model_ids))[0]
            raise Invalid(
                f"source-data: model {extra} is not one of the job's models", path="source-data"
            )
        model_ids = model_ids or list(config.source_model_ids)
    if config.num_responses is not None and model_ids and config.num_responses > len(model_ids):
        raise Invalid(
            f"num-responses: {config.num_responses} is more than the "
            f"{len(model_ids)} configured model(s)",
            path="num-responses",
        )
    if fields.kind == "qa" and not config.review_data:
        raise Invalid(
            "review-data: a QA job needs the column holding the prior results", path="review-data"
        )
    return config, model_ids


def create_job(
    session: Session,
    org_id: str,
    fields: JobFields,
    *,
    created_by: str | None,
    qa_of: str | None = None,
) -> ChatJob:
    config, model_ids = _checked(session, org_id, fields)
    job = ChatJob(
        org_id=org_id,
        name=fields.name.strip(),
        kind=fields.kind,
        cml=fields.cml,
        config=config.to_dict(),
        ontology=normalise_ontology(fields.ontology),
        instructions=fields.instructions or "",
        model_ids=model_ids,
        judgments_per_unit=fields.judgments_per_unit,
        state="draft",
        qa_of=qa_of,
        created_by=created_by,
    )
    session.add(job)
    session.flush()
    return job


def update_job(session: Session, org_id: str, job_id: str, changes: dict[str, Any]) -> ChatJob:
    """Edit a draft job; ontology question ids are kept for questions of the same name."""
    job = get_job(session, org_id, job_id, for_update=True)
    if job.state != "draft":
        raise Conflict(f"job '{job.id}' is {job.state}: only draft jobs can be edited")
    fields = JobFields(
        name=changes.get("name", job.name),
        cml=changes.get("cml", job.cml),
        ontology=changes.get("ontology", job.ontology),
        instructions=changes.get("instructions", job.instructions),
        model_ids=changes.get("model_ids", job.model_ids),
        judgments_per_unit=changes.get("judgments_per_unit", job.judgments_per_unit),
        kind=job.kind,
    )
    config, model_ids = _checked(session, org_id, fields)
    if job.columns is not None:
        check_header(config, job.columns)
    job.name, job.cml, job.config = fields.name.strip(), fields.cml, config.to_dict()
    job.ontology = normalise_ontology(fields.ontology, previous=job.ontology)
    job.instructions, job.model_ids = fields.instructions, model_ids
    job.judgments_per_unit = fields.judgments_per_unit
    job.updated_at = utcnow()
    return job


def delete_job(session: Session, org_id: str, job_id: str) -> None:
    """Delete a draft job and its units (launched jobs hold people's work: finish them)."""
    job = get_job(session, org_id, job_id, for_update=True)
    if job.state != "draft":
        raise Conflict(f"job '{job.id}' is {job.state}: only draft jobs can be deleted")
    if session.scalar(select(ChatJob.id).where(ChatJob.qa_of == job.id).limit(1)):
        raise Conflict(f"job '{job.id}' has QA jobs: delete them first")
    session.execute(delete(ChatUnit).where(ChatUnit.job_id == job.id))
    session.delete(job)


def get_job(session: Session, org_id: str, job_id: str, *, for_update: bool = False) -> ChatJob:
    query = select(ChatJob).where(ChatJob.id == job_id, ChatJob.org_id == org_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    job = session.scalar(query)
    if job is None:
        raise NotFound(f"job '{job_id}' not found")
    return job


def list_jobs(session: Session, org_id: str) -> list[ChatJob]:
    return list(
        session.scalars(select(ChatJob).where(ChatJob.org_id == org_id).order_by(ChatJob.id))
    )


def job_config(job: ChatJob) -> ChatFeedbackConfig:
    return _config_from_json(orjson.dumps(job.config, option=orjson.OPT_SORT_KEYS))


@lru_cache(maxsize=256)
def _config_from_json(data: bytes) -> ChatFeedbackConfig:
    return ChatFeedbackConfig.from_dict(orjson.loads(data))


def change_state(session: Session, org_id: str, job_id: str, verb: str) -> ChatJob:
    from plaudit.chat.units import open_slots_for_job

    allowed, target = TRANSITIONS[verb]
    job = get_job(session, org_id, job_id, for_update=True)
    if job.state not in allowed:
        raise Conflict(
            f"cannot {verb} job '{job.id}': it is {job.state} (only "
            f"{' or '.join(sorted(allowed))} jobs can be {verb}ed)"
        )
    if verb == "launch":
        if job.unit_count == 0:
            raise Conflict(f"cannot launch job '{job.id}': upload units (a CSV) first")
        open_slots_for_job(session, job)
        job.launched_at = utcnow()
    if verb == "finish":
        job.finished_at = utcnow()
    job.state = target
    job.updated_at = utcnow()
    return job


def require_state(job: ChatJob, *states: str, action: str) -> None:
    if job.state not in states:
        raise Conflict(f"cannot {action}: job '{job.id}' is {job.state}")


def job_status(session: Session, job: ChatJob) -> dict[str, Any]:
    now = utcnow()
    slots = dict(
        session.execute(
            select(ChatSlot.state, func.count())
            .where(ChatSlot.job_id == job.id)
            .group_by(ChatSlot.state)
        ).all()
    )
    expired = (
        session.scalar(
            select(func.count()).where(
                ChatSlot.job_id == job.id,
                ChatSlot.state == "claimed",
                ChatSlot.lease_expires_at <= now,
            )
        )
        or 0
    )
    judgments = session.scalar(select(func.count()).where(ChatJudgment.job_id == job.id)) or 0
    contributors = (
        session.scalar(
            select(func.count(func.distinct(ChatAssignment.contributor_id))).where(
                ChatAssignment.job_id == job.id
            )
        )
        or 0
    )
    return {
        "job_id": job.id,
        "state": job.state,
        "units": job.unit_count,
        "judgments_per_unit": job.judgments_per_unit,
        "judgments_expected": job.unit_count * job.judgments_per_unit,
        "judgments": int(judgments),
        "slots": {
            "open": int(slots.get("open", 0)) + int(expired),
            "claimed": int(slots.get("claimed", 0)) - int(expired),
            "done": int(slots.get("done", 0)),
        },
        "contributors": int(contributors),
    }


def job_dict(job: ChatJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "state": job.state,
        "cml": job.cml,
        "config": job.config,
        "ontology": job.ontology,
        "instructions": job.instructions,
        "model_ids": job.model_ids,
        "judgments_per_unit": job.judgments_per_unit,
        "qa_of": job.qa_of,
        "columns": job.columns,
        "units": job.unit_count,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "launched_at": job.launched_at.isoformat() if job.launched_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
