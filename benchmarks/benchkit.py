"""Shared helpers for the benchmark scripts: fresh databases, bulk seeding, a real server,
percentiles and printed tables.

Seeding bypasses the ORM on purpose (executemany on SQLite, COPY on PostgreSQL): a million rows
through ``session.add`` would take longer than the benchmark itself. The schema still comes from
the real migrations and the organization from ``create_organization``.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import uuid_utils
from sqlalchemy import Engine, Table, create_engine, text
from sqlalchemy.engine import make_url

from plaudit.core.orgs import create_api_key, create_organization
from plaudit.db.base import Base
from plaudit.db.migrate import upgrade
from plaudit.db.models import Completion, CompletionTag, Feedback, FeedbackCompletion, Tag
from plaudit.db.session import make_engine, make_sessionmaker, session_scope

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/plaudit_bench"
BACKENDS = ("sqlite", "postgres")
COPY_BATCH = 50_000

# 10,000 tags: 10 "env" tags (10 % of rows each), 990 "model" tags (~0.1 %), 9,000 "user"
# tags (~0.011 %). Every completion carries one of each, so a user+env selector matches ~11.
ENV_TAGS = 10
MODEL_TAGS = 990
USER_TAGS = 9_000
TAG_COUNT = ENV_TAGS + MODEL_TAGS + USER_TAGS


def postgres_url() -> str:
    return os.environ.get("PLAUDIT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def backends(choice: str) -> list[str]:
    return list(BACKENDS) if choice == "both" else [choice]


# --- databases -------------------------------------------------------------------------------


@dataclass
class BenchDB:
    backend: str
    url: str
    engine: Engine
    workdir: Path

    def dispose(self) -> None:
        self.engine.dispose()


def fresh_database(backend: str, workdir: Path) -> BenchDB:
    """An empty, migrated database: a new SQLite file, or the PostgreSQL bench DB recreated."""
    if backend == "sqlite":
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = recreate_postgres_database(postgres_url())
    engine = make_engine(url)
    upgrade(engine)
    return BenchDB(backend, url, engine, workdir)


def recreate_postgres_database(url: str) -> str:
    """Drop and create the database ``url`` names (empty, unmigrated); return ``url``."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


def drop_postgres_database() -> None:
    parsed = make_url(postgres_url())
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class SeededOrg:
    id: str
    api_key: str
    reviewer_keys: list[str] = field(default_factory=list)


def seed_org(engine: Engine, name: str = "Bench", reviewers: int = 0) -> SeededOrg:
    """The organization through the real service, plus ``reviewers`` extra admin keys (each key
    is a distinct reviewer for the inbox)."""
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        created = create_organization(session, name)
        keys = [
            create_api_key(session, created.org.id, "admin", name=f"reviewer {i}")
            for i in range(reviewers)
        ]
        return SeededOrg(created.org.id, created.api_key, keys)


# --- bulk loading ----------------------------------------------------------------------------


def _sqlite_time(value: datetime) -> str:
    # The exact text SQLAlchemy's SQLite DateTime writes, so range comparisons stay correct.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bulk_insert(
    engine: Engine, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Load ``rows`` (JSON columns already serialised to text) with COPY or executemany.

    The table's secondary indexes are dropped for the load and rebuilt afterwards, which is
    several times faster than maintaining them row by row.
    """
    indexes = list(table.indexes)
    count = 0
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
        if engine.dialect.name == "postgresql":
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cursor:  # type: ignore[attr-defined]
                names = ", ".join(columns)
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
        else:
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(tuple(_sqlite_time(v) if isinstance(v, datetime) else v for v in row))
                if len(batch) >= COPY_BATCH:
                    conn.exec_driver_sql(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                conn.exec_driver_sql(sql, batch)
                count += len(batch)
        for index in indexes:
            index.create(conn)
    if engine.dialect.name == "postgresql":  # what autovacuum does shortly after a big load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {table.name}")
    return count


def tag_names() -> list[str]:
    return (
        [f"env-{i}" for i in range(ENV_TAGS)]
        + [f"model-{i:03d}" for i in range(MODEL_TAGS)]
        + [f"user-{i:04d}" for i in range(USER_TAGS)]
    )


def tags_of(i: int) -> list[str]:
    """The three tags completion number ``i`` carries (deterministic, roughly independent)."""
    return [
        f"env-{i % ENV_TAGS}",
        f"model-{(i // 7) % MODEL_TAGS:03d}",
        f"user-{(i // ENV_TAGS) % USER_TAGS:04d}",
    ]


def seed_tags(engine: Engine, org_id: str) -> dict[str, str]:
    now = datetime.now(UTC)
    ids = {name: str(uuid_utils.uuid7()) for name in tag_names()}
    rows = ((tag_id, org_id, name, now) for name, tag_id in ids.items())
    bulk_insert(engine, Tag.__table__, ("id", "org_id", "name", "created_at"), rows)  # type: ignore[arg-type]
    return ids


@dataclass
class SeededCompletions:
    ids: list[str]
    start: datetime
    step: timedelta


def seed_completions(
    engine: Engine, org_id: str, count: int, tag_ids: dict[str, str] | None = None
) -> SeededCompletions:
    """``count`` finished completions, one per ``step`` ending now, each with ``tags_of(i)``."""
    step = timedelta(milliseconds=50)
    start = datetime.now(UTC) - step * count
    ids = [str(uuid_utils.uuid7()) for _ in range(count)]
    columns = (
        "id", "org_id", "status", "kind", "model", "provider", "request", "response", "usage",
        "latency_ms", "tags", "extra", "created_at", "updated_at",
    )  # fmt: skip
    usage = '{"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}'

    def rows() -> Iterator[tuple[Any, ...]]:
        for i, cid in enumerate(ids):
            when = start + step * i
            request = orjson.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q {i}"}]}
            ).decode()
            response = orjson.dumps(
                {"choices": [{"message": {"role": "assistant", "content": f"answer {i}"}}]}
            ).decode()
            tags = orjson.dumps(tags_of(i)).decode() if tag_ids else "[]"
            yield (cid, org_id, "finished", "chat", "gpt-4o-mini", "openai", request, response,
                   usage, 120.0 + i % 50, tags, "{}", when, when)  # fmt: skip

    bulk_insert(engine, Completion.__table__, columns, rows())  # type: ignore[arg-type]
    if tag_ids:
        links = ((cid, tag_ids[t]) for i, cid in enumerate(ids) for t in tags_of(i))
        bulk_insert(engine, CompletionTag.__table__, ("completion_id", "tag_id"), links)  # type: ignore[arg-type]
    return SeededCompletions(ids, start, step)


def seed_feedback(
    engine: Engine, org_id: str, task_id: str, count: int, completion_ids: Sequence[str]
) -> int:
    """``count`` feedback items on ``task_id``, each linked to one of ``completion_ids``."""
    step = timedelta(milliseconds=10)
    start = datetime.now(UTC) - step * count
    ids = [str(uuid_utils.uuid7()) for _ in range(count)]
    columns = (
        "id", "org_id", "task_id", "task_version", "json_values", "comment",
        "completion_tags_selector", "matched_completion_ids", "end_user_id", "created_at",
        "updated_at",
    )  # fmt: skip

    def rows() -> Iterator[tuple[Any, ...]]:
        for i, fid in enumerate(ids):
            when = start + step * i
            values = orjson.dumps({"score": i % 5 + 1, "label": "good" if i % 3 else "bad"})
            comment = f"comment number {i}" if i % 4 == 0 else None
            matched = orjson.dumps([completion_ids[i % len(completion_ids)]]).decode()
            yield (fid, org_id, task_id, 1, values.decode(), comment, '["env-1"]', matched,
                   f"user-{i % 1000}", when, when)  # fmt: skip

    written = bulk_insert(engine, Feedback.__table__, columns, rows())  # type: ignore[arg-type]
    links = ((fid, completion_ids[i % len(completion_ids)]) for i, fid in enumerate(ids))
    bulk_insert(engine, FeedbackCompletion.__table__, ("feedback_id", "completion_id"), links)  # type: ignore[arg-type]
    return written


def table_count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


# --- measuring -------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``samples``."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Timing:
    name: str
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)


def time_calls(name: str, calls: int, fn: Callable[[int], Any]) -> Timing:
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(name, samples)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print(line)
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(row, widths, strict=True))))  # fmt: skip
        if n == 0:
            print(line)
    print(line)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- a real server in its own process --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) of a process, from /proc (no psutil needed)."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def reset_peak_rss(pid: int) -> None:
    """Start a new VmHWM measurement window (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class ServerProcess:
    """``plaudit serve`` on a free loopback port, as a separate process."""

    START_TIMEOUT_S = 60.0

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        env = {**os.environ, "PLAUDIT_DATABASE_URL": self.database_url,
               "PLAUDIT_DATA_DIR": str(self.workdir)}  # fmt: skip
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from plaudit.cli.main import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited: {self.log.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def all_tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables]
