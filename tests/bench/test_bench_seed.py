"""The benchmarks' bulk seeding writes what the real services would read back."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import orjson

# benchmarks/ is a folder of scripts, not a package; its helper module is imported from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from benchkit import (  # noqa: E402
    TAG_COUNT,
    percentile,
    print_table,
    seed_completions,
    seed_feedback,
    seed_org,
    seed_tags,
    table_count,
    tags_of,
)
from sqlalchemy import Engine

from plaudit.core import tasks
from plaudit.core.completions import get_completion
from plaudit.core.feedback import FeedbackFilter
from plaudit.core.feedback_export import iter_feedback
from plaudit.core.tags import completions_tagged_with_all, selector_tag_ids
from plaudit.db.session import make_sessionmaker, session_scope


def test_seeded_completions_and_tags_are_what_the_services_see(engine: Engine) -> None:
    org = seed_org(engine, reviewers=2)
    assert len(org.reviewer_keys) == 2
    tag_ids = seed_tags(engine, org.id)
    seeded = seed_completions(engine, org.id, 300, tag_ids)

    assert len(tag_ids) == TAG_COUNT == 10_000
    assert table_count(engine, "tags") == 10_000
    assert table_count(engine, "completions") == 300
    assert table_count(engine, "completion_tags") == 900  # three tags each
    with session_scope(make_sessionmaker(engine)) as session:
        one = get_completion(session, org.id, seeded.ids[42])
        assert one.tags == tags_of(42)
        assert one.created_at < get_completion(session, org.id, seeded.ids[43]).created_at
        selector = tags_of(42)[::2]  # env + user
        expected = [seeded.ids[i] for i in range(300) if set(selector) <= set(tags_of(i))]
        tag_list = selector_tag_ids(session, org.id, selector)
        assert tag_list is not None
        assert completions_tagged_with_all(session, org.id, tag_list, limit=100) == expected


def test_tags_of_spreads_rows_as_documented() -> None:
    env = Counter(tags_of(i)[0] for i in range(10_000))
    assert len(env) == 10 and set(env.values()) == {1_000}  # 10 % of rows each
    users = Counter(tuple(tags_of(i)[::2]) for i in range(100_000))
    assert max(users.values()) <= 2  # user + env: a handful per million, ~1 per 100k


def test_seeded_feedback_exports_every_row(engine: Engine) -> None:
    org = seed_org(engine)
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        task_id = tasks.create_task(session, org.id, name="t", json_schema={"type": "object"}).id
    completions = seed_completions(engine, org.id, 7)
    assert seed_feedback(engine, org.id, task_id, 50, completions.ids) == 50
    assert table_count(engine, "feedback_completions") == 50
    with session_scope(make_sessionmaker(engine)) as session:
        items = iter_feedback(session, org.id, FeedbackFilter())
        rows = [orjson.loads(orjson.dumps(item)) for item in items]
    assert len(rows) == 50
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert rows[3]["matched_completion_ids"] == [completions.ids[3]]
    assert rows[3]["json_values"] == {"score": 4, "label": "bad"}
    assert rows[0]["task_name"] == "t"


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile([3.0], 95) == 3.0


def test_print_table_aligns_columns(capsys: object) -> None:
    print_table("title", ("name", "ms"), [("a", 1.5), ("longer", 1234.0)])
    out = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    assert out[1] == "title"
    assert out[3].split() == ["name", "ms"]
    assert out[6].endswith("1,234.00")
    assert len({len(line) for line in out[2:]}) == 1
