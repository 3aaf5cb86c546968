"""SDK fixtures: the fake model server and the SDK pointed at a real plaudit server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic  # noqa: F401  pre-imported: live_server's gateway warm-up is then instant
import openai  # noqa: F401
import pytest

import plaudit
from plaudit.gateway.fake import FakeModelServer
from plaudit.sdk import transport


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModelServer]:
    with FakeModelServer(latency_ms=0) as server:
        yield server


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def sdk(live_server: Any, org: Any, spool_dir: Path) -> Iterator[Any]:
    """plaudit's SDK configured for this test's server, org and spool directory."""
    plaudit.configure(url=live_server.url, api_key=org.api_key, spool_dir=spool_dir)
    yield plaudit
    transport.flush(10)
