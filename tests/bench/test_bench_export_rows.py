"""The export's inline fast path gives exactly the dicts the single-item path gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import Engine, text, update

from plaudit.core import tasks
from plaudit.core.completions import upsert_completions
from plaudit.core.feedback import (
    FeedbackFilter,
    FeedbackIn,
    create_feedback,
    feedback_dict,
    get_feedback,
)
from plaudit.core.feedback_export import _export_statement, iter_feedback
from plaudit.core.orgs import authenticate_key, create_organization
from plaudit.db.migrate import upgrade
from plaudit.db.models import Feedback
from plaudit.db.session import make_engine, make_sessionmaker, session_scope


def make_bench_org(engine: Engine) -> tuple[str, str]:
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        created = create_organization(session, "Export Shape")
        return created.org.id, created.api_key


def _plain(value: object) -> object:
    return orjson.loads(orjson.dumps(value))


# What the database's JSON rendering must spell exactly as orjson does.
HOSTILE = 'quote " back \\ slash\n tab\t ctl \x01 \x1f <b>é</b> 🎉 \u2028 </script>'
AWKWARD_VALUES = {
    "s": HOSTILE,
    "floats": [0.1, 1e-7, 1.5e300, -0.0, 3.0],
    "ints": [0, -1, 2**53 + 1, 9_223_372_036_854_775_807],
    "nested": {"ключ": [[], {}, [None, True, False]], "": "empty key"},
}


def test_iter_feedback_rows_equal_feedback_dict(engine: Engine) -> None:
    org_id, api_key = make_bench_org(engine)
    write = make_sessionmaker(engine, write=True)
    with session_scope(write) as session:
        principal = authenticate_key(session, api_key)
        task = tasks.create_task(session, org_id, name="rate", json_schema={"type": "object"})
        upsert_completions(session, org_id, [(f"c-{i}", {"tags": ["t"]}) for i in (3, 1, 2)])
        ids = [
            create_feedback(session, principal, FeedbackIn(
                task_id=task.id, json_values={"n": i, "s": "é<b>"}, comment=comment,
                completion_ids=cids, end_user_id=user,
            )).id
            for i, (comment, cids, user) in enumerate([
                ("first", ["c-2", "c-1"], None), (None, ["c-3"], "u-9"), (HOSTILE, ["c-1"], None),
            ])
        ]  # fmt: skip
        # A timestamp without a fraction: isoformat() leaves ".000000" out.
        session.execute(
            update(Feedback).where(Feedback.id == ids[1])
            .values(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        )  # fmt: skip
        # Whole milliseconds: float arithmetic on such a timestamp can land one millisecond low.
        session.execute(
            update(Feedback).where(Feedback.id == ids[2])
            .values(created_at=datetime(2027, 3, 4, 5, 6, 7, 513000, tzinfo=UTC),
                    json_values=AWKWARD_VALUES)
        )  # fmt: skip
    with session_scope(make_sessionmaker(engine)) as session:
        exported = [_plain(row) for row in iter_feedback(session, org_id, FeedbackFilter())]
        single = {i: _plain(feedback_dict(session, get_feedback(session, org_id, i))) for i in ids}
        by_task = list(iter_feedback(session, org_id, FeedbackFilter(task_id=task.id)))
        by_completion = list(iter_feedback(session, org_id, FeedbackFilter(completion_id="c-1")))
    assert [row["id"] for row in exported] == [ids[1], ids[0], ids[2]]  # oldest first
    for row in exported:
        assert row == single[row["id"]]
    assert exported[0]["created_at"] == "2026-01-02T03:04:05+00:00"
    assert exported[0]["created_at_ms"] == 1767323045000
    assert exported[1]["matched_completion_ids"] == ["c-1", "c-2"]
    assert exported[2]["created_at"] == "2027-03-04T05:06:07.513000+00:00"
    assert exported[2]["created_at_ms"] == 1804136767513
    assert exported[2]["json_values"] == AWKWARD_VALUES
    assert exported[2]["comment"] == HOSTILE
    assert len(by_task) == 3
    assert {row["id"] for row in by_completion} == {ids[0], ids[2]}


def test_sqlite_export_reads_in_index_order_without_sorting(tmp_path: Path) -> None:
    """(created_at, id) comes from the index (migration 0007): no temp b-tree re-sorts rows."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        for by_task in (False, True):
            statement = _export_statement("sqlite", by_task, False)
            plan = conn.execute(text(f"EXPLAIN QUERY PLAN {statement.text}"), {
                "org_id": "o", "task_id": "t"}).all()  # fmt: skip
            details = " / ".join(row[-1] for row in plan)
            assert "TEMP B-TREE" not in details, details
            assert "ix_feedback_org_" in details, details
    engine.dispose()
