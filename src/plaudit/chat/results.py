"""Results: one JSON document per judgment in seed 004's shape (made well-formed), plus the
expanded columns (``chat_0_prompt``, ``chat_0_model_18_completion``, …) when expanded-data is on.
``results.schema.json`` next to this module describes the document.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.chat import ontology as onto
from plaudit.chat.cml import ChatFeedbackConfig
from plaudit.db.models import ChatJob, ChatJudgment, ChatResponse, ChatTurn, ChatUnit

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


def results_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    return schema


def model_list_text(model_ids: list[int]) -> str:
    return "[" + ",".join(str(i) for i in model_ids) + "]"


def build_result(
    job: ChatJob,
    config: ChatFeedbackConfig,
    turns: list[tuple[ChatTurn, list[ChatResponse]]],
    unit_models: list[int],
    live_preamble: str | None,
) -> dict[str, Any]:
    enable_feedback = onto.has_questions(job.ontology)
    chat: dict[str, Any] = {}
    for turn, responses in turns:
        completion = []
        feedback: dict[str, list[dict[str, Any]]] = {}
        for response in responses:
            if response.state != "done":
                continue  # a response that never arrived is not part of the chat
            entry: dict[str, Any] = {
                "modelId": response.model_id,
                "completion": response.text or "",
                "selection": bool(response.selected),
            }
            if config.enhanced and response.selected and response.confidence:
                entry["confidence"] = response.confidence
            completion.append(entry)
            answers = response.answers if response.answers is not None else response.prior_answers
            feedback[str(response.model_id)] = onto.feedback_entries(job.ontology, answers)
        item: dict[str, Any] = {
            "id": str(turn.index),
            "prompt": turn.prompt,
            "completion": completion,
            "feedback": feedback,
            "enableFeedback": enable_feedback,
        }
        if turn.near_identical:
            item["nearIdentical"] = True
        if turn.custom_response:
            item["customResponse"] = turn.custom_response
        if turn.origin == "review":
            item["review"] = True
        chat[str(turn.index)] = item
    annotation: dict[str, Any] = {"chat": chat, "model": model_list_text(unit_models)}
    if live_preamble:
        annotation["livePreamble"] = live_preamble
    return {"ableToAnnotate": True, "annotation": annotation}


def expanded_columns(
    job: ChatJob, config: ChatFeedbackConfig, result: dict[str, Any]
) -> dict[str, Any] | None:
    """The flat per-turn columns (None when expanded-data is off)."""
    if not config.expanded_data:
        return None
    names = [q.name for q in onto.questions(job.ontology)]
    columns: dict[str, Any] = {}
    for index, turn in result["annotation"]["chat"].items():
        prefix = f"chat_{index}_"
        columns[prefix + "prompt"] = turn["prompt"]
        selected = None
        for completion in turn["completion"]:
            model = completion["modelId"]
            columns[f"{prefix}model_{model}_completion"] = completion["completion"]
            if completion["selection"]:
                selected = model
                if "confidence" in completion:
                    columns[prefix + "confidence"] = completion["confidence"]
            answers = {
                e["name"]: e["answer"]["values"] for e in turn["feedback"].get(str(model), [])
            }
            for name in names:
                if name in answers:
                    columns[f"{prefix}model_{model}_{name}"] = answers[name]
        columns[prefix + "selected_model"] = selected
        if turn.get("nearIdentical"):
            columns[prefix + "near_identical"] = True
        if "customResponse" in turn:
            columns[prefix + "custom_response"] = turn["customResponse"]
    return columns


def _rows(session: Session, job: ChatJob) -> Iterator[tuple[ChatJudgment, ChatUnit]]:
    query = (
        select(ChatJudgment, ChatUnit)
        .join(ChatUnit, ChatUnit.id == ChatJudgment.unit_id)
        .where(ChatJudgment.job_id == job.id)
        .order_by(ChatUnit.row_index, ChatJudgment.created_at, ChatJudgment.id)
        .execution_options(yield_per=500)
    )
    yield from session.execute(query)


def result_records(session: Session, job: ChatJob, name: str) -> Iterator[dict[str, Any]]:
    """One JSON line per judgment: ids, the unit's CSV data, the result, expanded columns."""
    for judgment, unit in _rows(session, job):
        record: dict[str, Any] = {
            "judgment_id": judgment.id,
            "unit_id": unit.id,
            "row_index": unit.row_index,
            "contributor_id": judgment.contributor_id,
            "created_at": judgment.created_at.isoformat(),
            "data": unit.data,
            name: judgment.result,
        }
        record.update(judgment.expanded or {})
        yield record


def csv_chunks(session: Session, job: ChatJob, name: str) -> Iterator[bytes]:
    """CSV: the unit's columns, the result as JSON, then every expanded column seen."""
    expanded: dict[str, None] = {}
    for judgment, _unit in _rows(session, job):  # first pass: the header must be known up front
        expanded.update(dict.fromkeys(judgment.expanded or {}))
    data_columns = list(job.columns or [])
    fixed = ["judgment_id", "unit_id", "row_index", "contributor_id", "created_at"]
    header = fixed + [c for c in data_columns if c not in fixed] + [name] + list(expanded)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for judgment, unit in _rows(session, job):
        values: dict[str, Any] = {
            "judgment_id": judgment.id,
            "unit_id": unit.id,
            "row_index": unit.row_index,
            "contributor_id": judgment.contributor_id,
            "created_at": judgment.created_at.isoformat(),
            **unit.data,
            name: orjson.dumps(judgment.result).decode(),
            **(judgment.expanded or {}),
        }
        writer.writerow([_cell(values.get(column)) for column in header])
        if buffer.tell() > 256 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()
