"""Ingestion fixtures: a real ``plaudit serve`` subprocess on the test's database."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import anthropic  # noqa: F401  pre-imported: live_server's gateway warm-up is then instant
import httpx
import openai  # noqa: F401
import pytest
from sqlalchemy import Engine, text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def write_lock(engine: Engine) -> Callable[[], AbstractContextManager[None]]:
    """``with write_lock():`` another connection holds the database's write lock, so the
    ingest writer stalls behind it (and the jobs submitted meanwhile share its next group)."""

    @contextmanager
    def held() -> Iterator[None]:
        if engine.dialect.name == "sqlite":
            conn = sqlite3.connect(engine.url.database or "", isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")
                conn.close()
            return
        with engine.connect() as conn:
            conn.execute(text("LOCK TABLE completions IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                conn.rollback()

    return held


PLAUDIT = str(Path(sys.executable).with_name("plaudit"))


class ServeProcess:
    """``plaudit serve`` on a fixed free port; can be killed with SIGKILL and restarted."""

    def __init__(self, database_url: str, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PLAUDIT_DATABASE_URL": database_url,
                    "PLAUDIT_DATA_DIR": str(data_dir), **env}  # fmt: skip
        self.log = data_dir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [PLAUDIT, "serve", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 120  # a loaded CI box imports the SDKs slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"plaudit serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("plaudit serve did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing: what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@pytest.fixture
def serve(engine: Engine, tmp_path: Path) -> Iterator[ServeProcess]:
    """A not-yet-started server process on this test's database."""
    process = ServeProcess(engine.url.render_as_string(hide_password=False), tmp_path)
    yield process
    process.kill()
