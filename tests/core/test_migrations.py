"""Migrations that move data: run them over rows written at the revision before."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, inspect, text

from plaudit.db.migrate import downgrade, upgrade


def test_0005_copies_each_items_links_onto_it_sorted(bare_engine: Engine) -> None:
    upgrade(bare_engine, "0004")
    with bare_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO organizations (id, name, slug, created_at)"
            " VALUES ('o', 'O', 'o', CURRENT_TIMESTAMP)"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO feedback_tasks (id, org_id, name, json_schema, completion_tags_selector,"
            " version, reviews_per_item, created_at, updated_at) VALUES ('t', 'o', 'T', '{}',"
            " '[]', 1, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))  # fmt: skip
        for fid in ("linked", "lonely"):
            conn.execute(text(
                "INSERT INTO feedback (id, org_id, task_id, task_version, json_values,"
                " completion_tags_selector, created_at, updated_at) VALUES"
                " (:id, 'o', 't', 1, '{}', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ), {"id": fid})  # fmt: skip
        for cid in ("c-b", "C-z", "c-a"):
            conn.execute(
                text("INSERT INTO feedback_completions VALUES ('linked', :cid)"), {"cid": cid}
            )
    upgrade(bare_engine)
    with bare_engine.connect() as conn:
        copied = dict(
            conn.execute(text("SELECT id, matched_completion_ids FROM feedback")).tuples().all()
        )
    as_list = {k: orjson.loads(v) if isinstance(v, str) else v for k, v in copied.items()}
    assert as_list == {"linked": sorted(["c-b", "C-z", "c-a"]), "lonely": []}
    downgrade(bare_engine, "0004")  # and back: the column goes, the links stay
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feedback_completions")).scalar_one() == 3


def _feedback_index_columns(engine: Engine) -> dict[str, list[str | None]]:
    indexes = inspect(engine).get_indexes("feedback")
    return {ix["name"]: ix["column_names"] for ix in indexes if ix["name"]}


def test_0007_ends_the_feedback_order_indexes_in_id_and_back(bare_engine: Engine) -> None:
    upgrade(bare_engine)
    assert _feedback_index_columns(bare_engine) == {
        "ix_feedback_org_created": ["org_id", "created_at", "id"],
        "ix_feedback_org_task_created": ["org_id", "task_id", "created_at", "id"],
    }
    downgrade(bare_engine, "0006")
    assert _feedback_index_columns(bare_engine) == {
        "ix_feedback_org_created": ["org_id", "created_at"],
        "ix_feedback_org_task_created": ["org_id", "task_id", "created_at"],
    }
