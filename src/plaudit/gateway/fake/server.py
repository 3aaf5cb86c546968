"""Running the fake: in a background thread for tests/benchmarks, or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from types import TracebackType
from typing import Any

import uvicorn

from plaudit.gateway.fake.app import FakeState, create_fake_app, state_of
from plaudit.gateway.fake.options import FakeOptions, format_path_options

_START_TIMEOUT_S = 10.0


class FakeModelServer:
    """The fake model on a free loopback port, served by uvicorn in a daemon thread.

    Use it as a context manager: ``with FakeModelServer(latency_ms=0) as fake: ...``. The
    server is real HTTP, so the official SDKs, log10 and plaudit's gateway can all talk to it.
    """

    def __init__(
        self,
        options: FakeOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **overrides: Any,
    ) -> None:
        self.app = create_fake_app(options, **overrides)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def state(self) -> FakeState:
        """Live server state (defaults, log, counters)."""
        return state_of(self.app)

    @property
    def options(self) -> FakeOptions:
        """The server-wide default options."""
        return self.state.options

    @property
    def port(self) -> int:
        """The bound TCP port (only known once started)."""
        if self._port is None:
            raise RuntimeError("FakeModelServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321``; also the Anthropic SDK ``base_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for the openai SDK."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for the anthropic SDK (it appends ``/v1/messages`` itself)."""
        return self.url

    def url_with(self, **options: Any) -> str:
        """Root URL carrying options in an ``/opts/...`` prefix; append ``/v1`` for OpenAI."""
        return f"{self.url}/opts/{format_path_options(**options)}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (same data as ``GET /_requests``)."""
        return self.state.requests()

    def clear_requests(self) -> None:
        """Empty the request log (``DELETE /_requests``)."""
        self.state.clear_requests()

    def reset(self) -> None:
        """Empty the log and restart the error RNGs and ``fail_first`` counters."""
        self.state.reset()

    def start(self) -> FakeModelServer:
        """Bind, serve in a thread and return once ``/healthz`` answers."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self.state.stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"fake-model-{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                break
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError as exc:
                last_error = exc
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"fake model server did not become healthy: {last_error}")

    def stop(self) -> None:
        """Stop serving; hanging and slow answers are woken so this returns quickly."""
        self.state.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_fake_model(host: str = "127.0.0.1", port: int = 9100, **options: Any) -> None:
    """Serve the fake in the foreground until interrupted (``plaudit fake-model``)."""
    app = create_fake_app(**options)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2)
