"""API test helpers: extra keys per scope, row counts, small factories over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from plaudit.core.orgs import create_api_key, revoke_api_key
from plaudit.db.base import Base
from plaudit.db.session import make_sessionmaker, session_scope

SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "label": {"type": "string", "enum": ["good", "bad"]},
        "notes": {"type": "string"},
    },
    "required": ["score"],
}


def error_of(response: Any) -> dict[str, Any]:
    """``{code, message, path}`` from either envelope (native, or log10's string ``error``)."""
    body = response.json()
    if isinstance(body.get("error"), dict):
        return dict(body["error"])
    return {"code": body.get("code"), "message": body.get("error"), "path": body.get("path")}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(engine: Engine, org_id: str, scope: str) -> str:
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        return create_api_key(session, org_id, scope, name=f"test {scope}")


def revoke_key(engine: Engine, key: str) -> None:
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        revoke_api_key(session, key)


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: a request that fails must leave every number unchanged."""
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2's production cost is ~0.8 s per hash on CI's 2 cores; every org fixture hashes an
    admin password. Tests keep argon2, at its minimum cost."""
    from argon2 import PasswordHasher

    from plaudit.core import security

    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    security._hasher = original


@dataclass
class Api:
    """Thin factories over the HTTP API (asserting success) for tests that need data."""

    client: TestClient
    engine: Engine

    def key(self, org_id: str, scope: str = "admin") -> dict[str, str]:
        return bearer(new_key(self.engine, org_id, scope))

    def raw_key(self, org_id: str, scope: str = "admin") -> str:
        return new_key(self.engine, org_id, scope)

    def revoke(self, key: str) -> None:
        revoke_key(self.engine, key)

    def task(self, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
        body = {"name": "task", "json_schema": SCHEMA, **fields}
        response = self.client.post("/api/v1/feedback_task", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def completion(
        self, headers: dict[str, str], completion_id: str, tags: list[str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:  # fmt: skip
        body = {"tags": tags or [], **fields}
        response = self.client.put(
            f"/api/v1/completions/{completion_id}", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def feedback(self, headers: dict[str, str], task_id: str, **fields: Any) -> dict[str, Any]:
        body = {"task_id": task_id, "json_values": {"score": 3}, **fields}
        response = self.client.post("/api/v1/feedback", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def counts(self) -> dict[str, int]:
        return row_counts(self.engine)


@pytest.fixture
def api(client: TestClient, engine: Engine) -> Iterator[Api]:
    yield Api(client, engine)
