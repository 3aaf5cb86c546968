"""Gateway fixtures: one fake model server per session, write sessions, spec factories.

The fake server speaks OpenAI, Anthropic (SSE); ``jsonl_server`` is a small extra endpoint
for the http adapter's JSON-lines streaming mode, which the fake does not speak.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from gateway_helpers import SECRET
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from plaudit.db.session import make_sessionmaker
from plaudit.gateway import ModelSpec
from plaudit.gateway.fake import FakeModelServer
from plaudit.gateway.fake.replies import split_chunks
from plaudit.gateway.service import warm_up_adapters


@pytest.fixture(scope="session", autouse=True)
def _warm_adapters() -> None:
    """Import the SDKs once up front, as the app's startup hook does, so no timed call pays."""
    warm_up_adapters()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeModelServer) -> FakeModelServer:
    """The shared fake, with its log and fail_first counters reset for this test."""
    fake_server.reset()
    return fake_server


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine, write=True)


SpecFactory = Callable[..., ModelSpec]


@pytest.fixture
def make_spec(org: Any) -> SpecFactory:
    """``make_spec(id, adapter, endpoint, **fields)`` → a ModelSpec of the test org."""

    def build(model_id: int, adapter: str, endpoint: str | None, **fields: Any) -> ModelSpec:
        values: dict[str, Any] = {
            "id": model_id,
            "org_id": org.id,
            "name": f"model-{model_id}",
            "adapter": adapter,
            "endpoint": endpoint,
            "upstream_model": "fake-pirate",
            "secret": SECRET,
            "default_params": {},
            "input_template": None,
            "output_path": None,
            "stream_path": None,
            "timeout_s": 10.0,
            "max_retries": 2,
            "concurrency": 8,
        }
        values.update(fields)
        return ModelSpec(**values)

    return build


# --- a JSON-lines endpoint for the http adapter -----------------------------------------------


async def _generate(request: Request) -> StreamingResponse:
    body = orjson.loads(await request.body())
    text = f"Echo: {body.get('prompt', '')}"
    cut = int(request.query_params.get("cut", "0"))
    bad = request.query_params.get("bad") == "1"
    stall = int(request.query_params.get("stall", "0"))

    async def lines() -> AsyncIterator[bytes]:
        for index, piece in enumerate(split_chunks(text)):
            if cut and index == cut:
                raise RuntimeError("cut the stream (test)")
            if stall and index == stall:  # go quiet until the client hangs up
                while not await request.is_disconnected():
                    await asyncio.sleep(0.05)
                return
            if bad and index == 1:
                yield b'{"token": {"text": <<not json>>\n'
            yield orjson.dumps({"token": {"text": piece}, "index": index}) + b"\n"
            await asyncio.sleep(0.002)
        yield orjson.dumps({"done": True, "usage": {"completion_tokens": index + 1}}) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def _healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class ThreadServer:
    """An ASGI app on a free loopback port, served by uvicorn in a daemon thread."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.02)
        raise RuntimeError("test server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def jsonl_server() -> Iterator[ThreadServer]:
    """POST /generate streams ``{"token": {"text": ...}}`` lines; ``?cut=N&bad=1&stall=N``."""
    app = Starlette(
        routes=[
            Route("/generate", _generate, methods=["POST"]),
            Route("/healthz", _healthz, methods=["GET"]),
        ]
    )
    with ThreadServer(app) as server:
        yield server
