"""Database contention becomes a retryable 503 (and a unique clash a 409), never a 500."""

from __future__ import annotations

import sqlite3

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from plaudit.api.errors import add_exception_handlers


def _app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    add_exception_handlers(app)

    @app.post("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_sqlite_lock_timeout_is_503_with_retry_after():
    locked = OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
    answer = _app_raising(locked).post("/boom")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == "overloaded"


def test_unique_clash_is_409():
    clash = IntegrityError("INSERT …", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    answer = _app_raising(clash).post("/boom")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "conflict"


def test_other_database_errors_stay_500():
    broken = OperationalError("SELECT …", {}, sqlite3.OperationalError("no such table: x"))
    assert _app_raising(broken).post("/boom").status_code == 500
