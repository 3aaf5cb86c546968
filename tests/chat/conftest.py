"""Chat job fixtures: the fake model server, three registered models, an API driver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chathelp import Chat, register
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from plaudit.gateway.fake import FakeModelServer


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def model_ids(engine: Engine, org: Any, fake: FakeModelServer) -> list[int]:
    return [register(engine, org.id, n, fake.openai_base_url) for n in ("echo", "terse", "pirate")]


@pytest.fixture
def chat(client: TestClient, org: Any, model_ids: list[int]) -> Chat:
    return Chat(client, org, model_ids)
