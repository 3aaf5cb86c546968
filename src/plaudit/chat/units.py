"""Units: one CSV row = one conversation to collect.

The CSV is read line by line from a binary stream (constant memory; UTF-8 with or without BOM;
quoted fields may span lines). Every row is checked before anything is kept: the first bad row
is reported by its line number and the whole upload is rolled back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from sqlalchemy import literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plaudit.chat.cml import ChatFeedbackConfig, check_header, parse_model_ids
from plaudit.chat.history import parse_review_data
from plaudit.chat.jobs import configured_model_ids, job_config
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import ChatJob, ChatSlot, ChatUnit
from plaudit.errors import Conflict, Invalid

BATCH_ROWS = 5000
csv.field_size_limit(64 * 1024 * 1024)


class _Lines:
    """Decode physical lines one at a time, remembering the line number for errors."""

    def __init__(self, raw_lines: Iterable[bytes]) -> None:
        self.raw = iter(raw_lines)
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.raw:
            self.number += 1
            if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Invalid(
                    f"line {self.number}: not valid UTF-8 (byte {exc.start + 1})",
                    path=f"line {self.number}",
                ) from None


def upload_units(session: Session, job: ChatJob, raw_lines: Iterable[bytes]) -> dict[str, Any]:
    """Import every row of the CSV, or nothing."""
    if job.state == "finished":
        raise Conflict(f"job '{job.id}' is finished: no more units can be added")
    config = job_config(job)
    lines = _Lines(raw_lines)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise Invalid("the CSV is empty: it needs a header row", path="line 1") from None
    except csv.Error as exc:
        raise Invalid(f"line {lines.number}: {exc}", path=f"line {lines.number}") from None
    header = [h.strip() for h in header]
    _check_header(job, config, header)
    allowed = _allowed_models(session, job)
    start = job.unit_count
    count = 0
    batch: list[tuple[Any, ...]] = []
    now = utcnow()
    # UTCDateTime keeps naive UTC text on SQLite (SQLAlchemy's format), aware values elsewhere
    sqlite_db = session.get_bind().dialect.name == "sqlite"
    stamp: Any = now.replace(tzinfo=None).isoformat(sep=" ") if sqlite_db else now
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise Invalid(f"line {lines.number}: {exc}", path=f"line {lines.number}") from None
        if not row or row == [""]:
            continue  # blank line
        if len(row) != len(header):
            raise Invalid(
                f"line {lines.number}: {len(row)} fields, but the header has {len(header)}",
                path=f"line {lines.number}",
            )
        data = dict(zip(header, row, strict=True))
        _check_row(config, data, allowed, lines.number)
        batch.append((new_id(), job.id, start + count, orjson.dumps(data).decode(), "open", stamp))
        count += 1
        if len(batch) >= BATCH_ROWS:
            _insert_units(session, job, batch)
            batch = []
    if batch:
        _insert_units(session, job, batch)
    if count == 0:
        raise Invalid("the CSV has a header but no rows", path="line 2")
    job.columns = job.columns or header
    job.unit_count = start + count
    job.updated_at = now
    return {"job_id": job.id, "imported": count, "units": job.unit_count, "columns": header}


def _check_header(job: ChatJob, config: ChatFeedbackConfig, header: list[str]) -> None:
    if not any(header):
        raise Invalid("line 1: the header row is empty", path="line 1")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise Invalid(f"line 1: column {duplicates[0]!r} appears twice", path="line 1")
    check_header(config, header)
    if job.columns is not None:
        missing = [c for c in job.columns if c not in header]
        if missing:
            raise Invalid(
                f"line 1: column {missing[0]!r} of earlier uploads is missing", path="line 1"
            )


def _allowed_models(session: Session, job: ChatJob) -> set[int]:
    configured = configured_model_ids(session, job.org_id)
    return configured & set(job.model_ids) if job.model_ids else configured


def _check_row(
    config: ChatFeedbackConfig, data: dict[str, str], allowed: set[int], line: int
) -> None:
    where = f"line {line}"
    if config.source_column:
        value = data[config.source_column]
        try:
            ids = parse_model_ids(value)
        except ValueError as exc:
            raise Invalid(f"{where}: column {config.source_column!r}: {exc}", path=where) from None
        for model_id in ids:
            if model_id not in allowed:
                raise Invalid(
                    f"{where}: column {config.source_column!r}: model {model_id} is not "
                    "configured for this job",
                    path=where,
                )
        if config.num_responses is not None and config.num_responses > len(ids):
            raise Invalid(
                f"{where}: num-responses is {config.num_responses} but the row names "
                f"only {len(ids)} model(s)",
                path=where,
            )
    if config.review_data:
        try:
            parse_review_data(data[config.review_data])
        except ValueError as exc:
            raise Invalid(f"{where}: column {config.review_data!r}: {exc}", path=where) from None
    if config.seed and not data[config.seed].strip():
        raise Invalid(f"{where}: the seed column {config.seed!r} is empty", path=where)


UNIT_COLUMNS = ("id", "job_id", "row_index", "data", "state", "created_at")
SLOT_COLUMNS = ("job_id", "unit_id", "slot", "seq", "state")


def bulk_insert(
    session: Session, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Rows straight to the driver (COPY on PostgreSQL, executemany on SQLite), in the session's
    transaction: the ORM's per-row bookkeeping would make 100,000-row uploads slow."""
    if not rows:
        return
    raw: Any = session.connection().connection.dbapi_connection
    assert raw is not None
    names = ", ".join(columns)
    if session.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def _insert_units(session: Session, job: ChatJob, rows: list[tuple[Any, ...]]) -> None:
    bulk_insert(session, "chat_units", UNIT_COLUMNS, rows)
    if job.state in ("running", "paused"):  # later uploads join the queue at once
        slots = [
            (job.id, row[0], slot, row[2], "open")
            for row in rows
            for slot in range(job.judgments_per_unit)
        ]
        bulk_insert(session, "chat_slots", SLOT_COLUMNS, slots)


def open_slots_for_job(session: Session, job: ChatJob) -> None:
    """At launch: one open slot per unit and judgment (INSERT … SELECT, no round trips)."""
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for slot in range(job.judgments_per_unit):
        source = select(
            literal(job.id), ChatUnit.id, literal(slot), ChatUnit.row_index, literal("open")
        ).where(ChatUnit.job_id == job.id)
        session.execute(
            insert_(ChatSlot)
            .from_select(["job_id", "unit_id", "slot", "seq", "state"], source)
            .on_conflict_do_nothing()
        )


def get_unit(session: Session, unit_id: str) -> ChatUnit:
    unit = session.get(ChatUnit, unit_id)
    assert unit is not None
    return unit


def unit_model_ids(config: ChatFeedbackConfig, job: ChatJob, data: dict[str, Any]) -> list[int]:
    """The models configured for this unit (literal source-data or its model column)."""
    if config.source_column:
        return list(parse_model_ids(str(data.get(config.source_column, ""))))
    return list(config.source_model_ids or job.model_ids)
