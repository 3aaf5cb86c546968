"""Claim: with 1,000,000 completions and 10,000 tags, inbox `next` and selector matching answer
with p95 <= 20 ms on SQLite and PostgreSQL.

Seeds the data with a bulk path, creates tasks with selectors of 1-3 tags (timing the inbox
backfill of a selector that matches ~10 % of rows), then measures p50/p95 of
  * `claim_next` in a write session (claim + commit) for many reviewers, each item then submitted,
  * `POST /api/v1/feedback_task/{id}/inbox/next` on a real server,
  * `create_feedback` / `POST /api/v1/feedback` with a selector matching a handful of completions,
against baselines measured in the same run (a bare indexed `SELECT ... LIMIT 1` on the same table
in the same kind of session, and `GET /healthz` on the same server).

    .venv/bin/python benchmarks/inbox.py [--quick] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from benchkit import (
    ENV_TAGS,
    TAG_COUNT,
    BenchDB,
    ServerProcess,
    Timing,
    backends,
    drop_postgres_database,
    fresh_database,
    print_table,
    seed_completions,
    seed_org,
    seed_tags,
    table_count,
    tags_of,
    time_calls,
    verdict,
)
from sqlalchemy import text

from plaudit.core import inbox, tasks
from plaudit.core.feedback import FeedbackIn, create_feedback
from plaudit.core.orgs import authenticate_key
from plaudit.db.models import FeedbackTask
from plaudit.db.session import make_sessionmaker, session_scope

TARGET_P95_MS = 20.0
SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["score"],
}
REVIEWERS = 50
HEADER = ("backend", "operation", "calls", "p50 ms", "p95 ms", "ratio", "target")


def _create_task(db: BenchDB, org_id: str, name: str, selector: list[str], reviews: int = 1):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with session_scope(make_sessionmaker(db.engine, write=True)) as session:
        task = tasks.create_task(
            session, org_id, name=name, json_schema=SCHEMA,
            completion_tags_selector=selector, reviews_per_item=reviews,
        )  # fmt: skip
        task_id = task.id
    elapsed = (time.perf_counter() - started) * 1000
    counts = _slot_count(db, task_id)
    return task_id, elapsed, counts


def _slot_count(db: BenchDB, task_id: str) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM inbox_slots WHERE task_id = :t"), {"t": task_id}
            ).scalar_one()
        )


def _claim_loop(db: BenchDB, task_id: str, calls: int) -> Timing:
    """Reviewers take turns: claim + commit (timed), then submit or, every 10th, skip (not
    timed: the HTTP row likewise times ``next`` alone)."""
    write = make_sessionmaker(db.engine, write=True)
    samples = []
    for i in range(calls):
        reviewer = f"bench-reviewer-{i % REVIEWERS}"
        started = time.perf_counter()
        with session_scope(write) as session:
            task = session.get(FeedbackTask, task_id)
            assert task is not None
            got = inbox.claim_next(session, task, reviewer, 600)
        samples.append((time.perf_counter() - started) * 1000)
        assert got is not None, "inbox ran dry"
        with session_scope(write) as session:
            if i % 10 == 9:
                inbox.release_claim(session, task_id, got.completion_id, reviewer)
            else:
                inbox.mark_reviewed(session, task_id, [got.completion_id], reviewer, "bench")
    return Timing(f"claim_next (slots of task {task_id[:8]}…)", samples)


def _bare_select(db: BenchDB, task_id: str, calls: int) -> Timing:
    write = make_sessionmaker(db.engine, write=True)
    query = text(
        "SELECT completion_id FROM inbox_slots WHERE task_id = :t AND state = 'open' "
        "ORDER BY seq LIMIT 1"
    )

    def select_one(_i: int) -> None:
        with session_scope(write) as session:
            assert session.execute(query, {"t": task_id}).first() is not None

    return time_calls("baseline: bare indexed SELECT … LIMIT 1 (write session)", calls, select_one)


def _bare_tag_select(db: BenchDB, tag_id: str, calls: int) -> Timing:
    write = make_sessionmaker(db.engine, write=True)
    query = text("SELECT completion_id FROM completion_tags WHERE tag_id = :t LIMIT 1")

    def select_one(_i: int) -> None:
        with session_scope(write) as session:
            assert session.execute(query, {"t": tag_id}).first() is not None

    return time_calls("baseline: bare indexed SELECT … LIMIT 1 on completion_tags", calls,
                      select_one)  # fmt: skip


def _selectors(n: int, calls: int, width: int) -> list[list[str]]:
    """Selectors taken from real rows, so each matches at least one completion. The commonest
    tag comes first: matching must not depend on the caller's order."""
    stride = max(1, n // (calls + 1))
    chosen = []
    for k in range(calls):
        env, model, user = tags_of((k * stride * 7 + 3) % n)
        chosen.append([env, user] if width == 2 else [env, model, user])
    return chosen


def _feedback_loop(db: BenchDB, api_key: str, task_id: str, selectors: list[list[str]]) -> Timing:
    write = make_sessionmaker(db.engine, write=True)

    def give(i: int) -> None:
        with session_scope(write) as session:
            principal = authenticate_key(session, api_key)
            create_feedback(session, principal, FeedbackIn(
                task_id=task_id, json_values={"score": 4}, completion_tags_selector=selectors[i],
            ))  # fmt: skip

    return time_calls(f"create_feedback, {len(selectors[0])}-tag selector", len(selectors), give)


def _http(
    db: BenchDB, org_keys: list[str], admin_key: str, task_id: str, fb_task: str,
    selectors: list[list[str]], calls: int,
) -> list[Timing]:  # fmt: skip
    with (
        ServerProcess(db.url, db.workdir) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        headers = [{"Authorization": f"Bearer {k}"} for k in org_keys]
        base = f"/api/v1/feedback_task/{task_id}/inbox"

        def health(_i: int) -> None:
            assert client.get("/healthz").status_code == 200

        def next_item(i: int) -> None:
            response = client.post(f"{base}/next", headers=headers[i % len(headers)])
            assert response.status_code == 200, response.text
            item = response.json()["item"]
            assert item is not None, "inbox ran dry"
            next_item.last = item["completion"]["id"]  # type: ignore[attr-defined]

        samples = []
        for i in range(calls):
            started = time.perf_counter()
            next_item(i)
            samples.append((time.perf_counter() - started) * 1000)
            done = client.post(
                f"{base}/{next_item.last}/submit",  # type: ignore[attr-defined]
                headers=headers[i % len(headers)], json={"json_values": {"score": 3}},
            )  # fmt: skip
            assert done.status_code == 200, done.text

        admin = {"Authorization": f"Bearer {admin_key}"}

        def post_feedback(i: int) -> None:
            response = client.post("/api/v1/feedback", headers=admin, json={
                "task_id": fb_task, "json_values": {"score": 2},
                "completion_tags_selector": selectors[i],
            })  # fmt: skip
            assert response.status_code == 200, response.text

        for i in range(5):  # warm the connection pool and caches
            health(i)
        return [
            time_calls("HTTP GET /healthz (baseline)", calls, health),
            Timing("HTTP POST …/inbox/next", samples),
            time_calls(
                f"HTTP POST /api/v1/feedback, {len(selectors[0])}-tag selector",
                len(selectors),
                post_feedback,
            ),  # fmt: skip
        ]


def run(backend: str, n: int, calls: int, workdir: Path) -> list[list[Any]]:
    print(f"\n=== {backend}: seeding {n:,} completions, {TAG_COUNT:,} tags ===", flush=True)
    db = fresh_database(backend, workdir)
    try:
        org = seed_org(db.engine, reviewers=REVIEWERS)
        started = time.perf_counter()
        tag_ids = seed_tags(db.engine, org.id)
        seed_completions(db.engine, org.id, n, tag_ids)
        seeded = time.perf_counter() - started
        print(f"seeded in {seeded:.1f} s: {table_count(db.engine, 'completions'):,} completions, "
              f"{table_count(db.engine, 'tags'):,} tags, "
              f"{table_count(db.engine, 'completion_tags'):,} tag links", flush=True)  # fmt: skip

        made = [
            ("1 tag, ~10 % of rows", *_create_task(db, org.id, "ten percent", ["env-3"])),
            ("2 tags", *_create_task(db, org.id, "two tags", ["env-5", "model-012"])),
            ("3 tags", *_create_task(db, org.id, "three tags", tags_of(12_345 % n))),
            ("1 tag, 3 reviews/item", *_create_task(db, org.id, "triple", ["model-007"], 3)),
            ("no selector (feedback)", *_create_task(db, org.id, "feedback only", [])),
        ]
        print_table(
            f"{backend}: task creation (inbox backfill)",
            ("task", "slots opened", "create + backfill ms"),
            [(name, slots, ms) for name, _id, ms, slots in made],
        )
        big, multi, fb_task = made[0][1], made[3][1], made[4][1]

        rows: list[list[Any]] = []
        claim_base = _bare_select(db, big, calls)
        multi_calls = max(1, min(calls, made[3][3] // 2))  # the quick run's task is small
        claims = [_claim_loop(db, big, calls), _claim_loop(db, multi, multi_calls)]
        claims[0].name = "claim_next + commit, 1-tag task (~10 % of rows)"
        claims[1].name = "claim_next + commit, 3 reviews/item task"
        env_tag = tag_ids[f"env-{ENV_TAGS - 1}"]
        tag_base = _bare_tag_select(db, env_tag, calls)
        two, three = _selectors(n, calls, 2), _selectors(n, calls, 3)
        matching = [
            _feedback_loop(db, org.api_key, fb_task, two),
            _feedback_loop(db, org.api_key, fb_task, three),
        ]
        http = _http(db, org.reviewer_keys, org.api_key, big, fb_task, two, calls)
        for timing, base in (
            [(claim_base, claim_base)] + [(c, claim_base) for c in claims]
            + [(tag_base, tag_base)] + [(m, tag_base) for m in matching]
            + [(http[0], http[0]), (http[1], http[0]), (http[2], http[0])]
        ):  # fmt: skip
            is_base = timing is base
            rows.append([
                backend, timing.name, len(timing.samples_ms), timing.p50, timing.p95,
                "1.00" if is_base else f"{timing.p95 / base.p95:.2f}",
                "" if is_base else verdict(timing.p95 <= TARGET_P95_MS),
            ])  # fmt: skip
        rows.append([backend, f"task create + backfill, {made[0][3]:,} slots (report only)", 1,
                     made[0][2], made[0][2], "", ""])  # fmt: skip
        return rows
    finally:
        db.dispose()
        if backend == "postgres":
            drop_postgres_database()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 completions, fewer calls")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--completions", type=int, default=None, help="override the row count")
    parser.add_argument("--calls", type=int, default=None, help="timed calls per operation")
    args = parser.parse_args(argv)
    n = args.completions or (50_000 if args.quick else 1_000_000)
    calls = args.calls or (200 if args.quick else 1000)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    all_rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="plaudit-bench-") as tmp:
        for backend in backends(args.backend):
            rows = run(backend, n, calls, Path(tmp))
            print_table(f"{backend}: done", HEADER, rows)  # kept even if a later backend fails
            all_rows += rows
    print_table(
        f"inbox next & selector matching — {n:,} completions, {TAG_COUNT:,} tags "
        f"(target p95 <= {TARGET_P95_MS:.0f} ms; ratio = p95 / baseline p95)",
        HEADER,
        all_rows,
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f} (2 cores)")
    failed = any(row[-1] == "FAIL" for row in all_rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
