"""Shared fixtures: a migrated database per backend, the app, a real server, an org.

Every test that takes ``engine`` (directly or through ``client``/``org``) runs on SQLite and,
when ``PLAUDIT_TEST_POSTGRES_URL`` is set (CI sets it), on PostgreSQL too. Rows are deleted
after each test, so tests see a clean database without mocking any layer.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# anthropic/openai: the app imports the model SDKs at startup; importing them once here keeps the
# first live server of a busy CI worker from spending its start-up deadline on imports.
import anthropic  # noqa: F401
import httpx
import openai  # noqa: F401
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from plaudit.api.app import create_app
from plaudit.config import Settings
from plaudit.core import security
from plaudit.core.orgs import create_organization
from plaudit.db.base import Base
from plaudit.db.migrate import upgrade
from plaudit.db.session import make_engine, make_sessionmaker, session_scope

# Still real argon2, at its minimum cost: production parameters take ~0.8 s a hash on 2 cores,
# and every test creates an organization with an admin password.
security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

POSTGRES_URL = os.environ.get("PLAUDIT_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _postgres_database(base_url: str, purpose: str = "") -> str:
    """A database of this xdist worker's own (one per ``purpose``), created fresh for the run."""
    url = make_url(base_url)
    name = f"{url.database or 'plaudit'}_{_worker()}{purpose}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("PLAUDIT_TEST_POSTGRES_URL is not set (CI sets it)")
        return _postgres_database(POSTGRES_URL)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'plaudit.db'}"


@pytest.fixture(params=BACKENDS)
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, unmigrated database of its own (for tests that move between revisions)."""
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("PLAUDIT_TEST_POSTGRES_URL is not set (CI sets it)")
        url = _postgres_database(POSTGRES_URL, "_bare")
    else:
        url = f"sqlite:///{tmp_path / 'bare.db'}"
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _delete_all_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    yield migrated_engine
    _delete_all_rows(migrated_engine)


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False)
    )


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Org:
    id: str
    slug: str
    api_key: str
    admin_email: str
    admin_password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_org(engine: Engine, name: str) -> Org:
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        created = create_organization(session, name)
        return Org(
            created.org.id, created.org.slug, created.api_key, created.admin_email,
            created.admin_password,
        )  # fmt: skip


@pytest.fixture
def org(engine: Engine) -> Org:
    return make_org(engine, "Acme")


@pytest.fixture
def other_org(engine: Engine) -> Org:
    return make_org(engine, "Other Corp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app served by a real uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
