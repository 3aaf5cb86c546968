"""Claim: `feedback download` of 1,000,000 feedback rows streams at >= 100,000 rows/s with peak
RSS growth <= 100 MB, on SQLite and PostgreSQL.

Measures, each in a process of its own so its memory is its own:
  * baseline: a raw DB-API `SELECT` of the same rows + `orjson.dumps` of each row tuple,
  * direct: `plaudit.core.feedback_export.iter_feedback_lines` (what the route streams),
  * HTTP: `GET /api/v1/feedback/download` from a real `plaudit serve`, consumed by httpx; the
    RSS figure is the server process's.
Peak RSS growth = VmHWM at the end minus VmRSS at the start (the peak is reset first through
/proc/PID/clear_refs), read from /proc: no psutil.

    .venv/bin/python benchmarks/export.py [--quick] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from benchkit import (
    BenchDB,
    ServerProcess,
    backends,
    drop_postgres_database,
    fresh_database,
    print_table,
    proc_status,
    reset_peak_rss,
    seed_completions,
    seed_feedback,
    seed_org,
    table_count,
    verdict,
)

from plaudit.core import tasks
from plaudit.core.feedback import FeedbackFilter
from plaudit.core.feedback_export import iter_feedback_lines
from plaudit.db.session import make_engine, make_sessionmaker, session_scope

TARGET_ROWS_PER_S = 100_000
TARGET_RSS_MB = 100.0
CHUNK_BYTES = 256 * 1024  # as the streaming route buffers
RAW_SQL = (
    "SELECT id, task_id, task_version, json_values, comment, completion_tags_selector, "
    "matched_completion_ids, org_id, end_user_id, created_at, updated_at FROM feedback "
    "WHERE org_id = {p} AND deleted_at IS NULL ORDER BY created_at, id"
)


def _measure(fn: Any, *args: Any) -> dict[str, float]:
    """Run ``fn`` here (a child process): rows, seconds and peak RSS growth in MB."""
    pid = os.getpid()
    before = proc_status(pid)["VmRSS"]
    reset_peak_rss(pid)
    started = time.perf_counter()
    rows, nbytes = fn(*args)
    elapsed = time.perf_counter() - started
    peak = proc_status(pid)["VmHWM"]
    return {"rows": rows, "bytes": nbytes, "seconds": elapsed, "rss_mb": (peak - before) / 1024}


def _raw_dump(url: str, org_id: str) -> tuple[int, int]:
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            cursor = raw.dbapi_connection.cursor(name="raw_export")  # type: ignore[union-attr,call-arg]
            cursor.itersize = 2000
            cursor.execute(RAW_SQL.format(p="%s"), (org_id,))
        else:
            cursor = raw.cursor()
            cursor.execute(RAW_SQL.format(p="?"), (org_id,))
        rows = nbytes = 0
        buffer = bytearray()
        while batch := cursor.fetchmany(2000):
            for row in batch:
                buffer += orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
                rows += 1
            if len(buffer) >= CHUNK_BYTES:
                nbytes += len(buffer)
                buffer.clear()
        cursor.close()
        return rows, nbytes + len(buffer)
    finally:
        raw.close()
        engine.dispose()


def _direct_dump(url: str, org_id: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        rows = nbytes = 0
        buffer = bytearray()
        with session_scope(make_sessionmaker(engine)) as session:
            for chunk in iter_feedback_lines(session, org_id, FeedbackFilter()):
                buffer += chunk
                rows += chunk.count(b"\n")
                if len(buffer) >= CHUNK_BYTES:
                    nbytes += len(buffer)
                    buffer.clear()
        return rows, nbytes + len(buffer)
    finally:
        engine.dispose()


def _in_child(fn: Any, *args: Any) -> dict[str, float]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, float] = pool.apply(_measure, (fn, *args))
        return result


def _http_dump(db: BenchDB, api_key: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {api_key}"}
    with (
        ServerProcess(db.url, db.workdir) as server,
        httpx.Client(base_url=server.url, timeout=600, headers=headers) as client,
    ):
        assert client.get("/api/v1/feedback", params={"limit": 5}).status_code == 200  # warm up
        before = proc_status(server.pid)["VmRSS"]
        reset_peak_rss(server.pid)
        rows = nbytes = 0
        started = time.perf_counter()
        with client.stream("GET", "/api/v1/feedback/download") as response:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_bytes():
                rows += chunk.count(b"\n")
                nbytes += len(chunk)
        elapsed = time.perf_counter() - started
        peak = proc_status(server.pid)["VmHWM"]
    return {"rows": rows, "bytes": nbytes, "seconds": elapsed, "rss_mb": (peak - before) / 1024}


def run(backend: str, n: int, workdir: Path) -> list[list[Any]]:
    print(f"\n=== {backend}: seeding {n:,} feedback rows ===", flush=True)
    db = fresh_database(backend, workdir)
    try:
        org = seed_org(db.engine)
        with session_scope(make_sessionmaker(db.engine, write=True)) as session:
            task = tasks.create_task(session, org.id, name="export", json_schema={
                "type": "object", "properties": {"score": {"type": "integer"}}})  # fmt: skip
            task_id = task.id
        started = time.perf_counter()
        completions = seed_completions(db.engine, org.id, min(n, 10_000))
        seed_feedback(db.engine, org.id, task_id, n, completions.ids)
        print(f"seeded in {time.perf_counter() - started:.1f} s: "
              f"{table_count(db.engine, 'feedback'):,} feedback rows", flush=True)  # fmt: skip

        results = [
            ("baseline: raw SELECT + orjson", _in_child(_raw_dump, db.url, org.id)),
            ("iter_feedback_lines (direct)", _in_child(_direct_dump, db.url, org.id)),
            ("HTTP GET /api/v1/feedback/download", _http_dump(db, org.api_key)),
        ]
        base_rate = results[0][1]["rows"] / results[0][1]["seconds"]
        rows: list[list[Any]] = []
        for name, r in results:
            assert r["rows"] == n, f"{name}: {r['rows']:,} rows, expected {n:,}"
            rate = r["rows"] / r["seconds"]
            is_base = name.startswith("baseline")
            ok = rate >= TARGET_ROWS_PER_S and r["rss_mb"] <= TARGET_RSS_MB
            rows.append([
                backend, name, int(r["rows"]), r["seconds"], int(rate),
                r["bytes"] / r["seconds"] / 1e6, r["rss_mb"],
                "1.00" if is_base else f"{rate / base_rate:.2f}",
                "" if is_base else verdict(ok),
            ])  # fmt: skip
        return rows
    finally:
        db.dispose()
        if backend == "postgres":
            drop_postgres_database()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=None, help="override the row count")
    args = parser.parse_args(argv)
    n = args.rows or (50_000 if args.quick else 1_000_000)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    all_rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="plaudit-bench-") as tmp:
        for backend in backends(args.backend):
            all_rows += run(backend, n, Path(tmp))
    print_table(
        f"feedback export — {n:,} rows (target >= {TARGET_ROWS_PER_S:,} rows/s and peak RSS "
        f"growth <= {TARGET_RSS_MB:.0f} MB; ratio = rows/s / baseline rows/s)",
        ("backend", "path", "rows", "seconds", "rows/s", "MB/s", "RSS growth MB", "ratio",
         "target"),
        all_rows,
    )  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.2f} (2 cores)")
    return 1 if any(row[-1] == "FAIL" for row in all_rows) else 0


if __name__ == "__main__":
    sys.exit(main())
