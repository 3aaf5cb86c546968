"""QA jobs: reviewers go through finished conversations and give per-response feedback.

A QA job is a chat job of kind ``qa`` whose units carry prior results in their ``review-data``
column. From a finished job, each judgment becomes one QA unit (its CSV data plus the result);
a QA job can also be created directly with ``kind="qa"`` from a CSV holding prior results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from plaudit.chat.cml_render import render_cml
from plaudit.chat.jobs import JobFields, create_job, get_job, job_config
from plaudit.core.sql import chunked
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import ChatJob, ChatJudgment, ChatUnit
from plaudit.errors import Conflict

REVIEW_COLUMN = "prior_result"


@dataclass
class QAOptions:
    name: str | None = None
    allow_continue: bool = False
    show_feedback_answers: bool = True
    allow_custom_response_edit: bool = False
    ontology: dict[str, Any] | None = None
    instructions: str | None = None
    judgments_per_unit: int = 1


def create_qa_job(
    session: Session, org_id: str, source_id: str, options: QAOptions, *, created_by: str | None
) -> ChatJob:
    source = get_job(session, org_id, source_id)
    if source.state != "finished":
        raise Conflict(f"job '{source.id}' is {source.state}: QA jobs are made from finished jobs")
    columns = list(source.columns or [])
    column = REVIEW_COLUMN
    while column in columns:
        column = "_" + column
    config = replace(
        job_config(source),
        review_data=column,
        seed=None,
        min_turns=0,
        allow_continue=options.allow_continue,
        show_feedback_answers=options.show_feedback_answers,
        allow_custom_response_edit=options.allow_custom_response_edit,
    )
    fields = JobFields(
        name=options.name or f"QA of {source.name}",
        cml=render_cml(config),
        ontology=options.ontology if options.ontology is not None else source.ontology,
        instructions=options.instructions
        if options.instructions is not None
        else source.instructions,
        model_ids=list(source.model_ids),
        judgments_per_unit=options.judgments_per_unit,
        kind="qa",
    )
    job = create_job(session, org_id, fields, created_by=created_by, qa_of=source.id)
    rows = session.execute(
        select(ChatJudgment.id, ChatJudgment.result, ChatUnit.data)
        .join(ChatUnit, ChatUnit.id == ChatJudgment.unit_id)
        .where(ChatJudgment.job_id == source.id)
        .order_by(ChatUnit.row_index, ChatJudgment.created_at)
    )
    now = utcnow()
    count = 0
    units = []
    for judgment_id, result, data in rows:
        units.append(
            {
                "id": new_id(),
                "job_id": job.id,
                "row_index": count,
                "state": "open",
                "data": {
                    **data,
                    column: orjson.dumps(result).decode(),
                    "source_judgment_id": judgment_id,
                },
                "created_at": now,
            }
        )
        count += 1
    for chunk in chunked(units, 2000):
        session.execute(insert(ChatUnit), chunk)
    job.columns = [*columns, column, "source_judgment_id"]
    job.unit_count = count
    return job
