"""The Starlette app of the fake model server: routing, fault injection and the request log.

The wire formats live in ``openai_format`` / ``anthropic_format``; this module only decides
*whether* and *how badly* to answer, so every fault works the same way for every API.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from plaudit.gateway.fake import anthropic_format, openai_format
from plaudit.gateway.fake.options import FakeOptions, header_options, parse_path_options
from plaudit.gateway.fake.replies import PERSONALITIES, make_reply, model_names
from plaudit.gateway.fake.wire import ApiFormat, InvalidRequest, JSONObject, SSEEvent

LOG_SIZE = 1000
REDACTED = "***"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"
_POLL_S = 0.05
# A body that starts like JSON and then is not: what a broken proxy or a cut buffer returns.
GARBAGE_JSON = b'{"id": "broken", "choices": [ <<this is not JSON>>'
GARBAGE_LINE = '{"choices": [{"delta": <<this is not JSON>>'


class AbortConnection(Exception):
    """Raised after a partial answer so uvicorn drops the connection (``truncate``, ``hang``)."""


class _QuietAborts(logging.Filter):
    """Keep deliberate connection drops out of uvicorn's error log; real errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, AbortConnection):
                return False
            group = getattr(exc, "exceptions", None)
            exc = group[0] if group else exc.__cause__ or exc.__context__
        return True


_uvicorn_log = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _QuietAborts) for f in _uvicorn_log.filters):
    _uvicorn_log.addFilter(_QuietAborts())


class FakeState:
    """Per-server mutable state: defaults, request log, seeded RNGs and fail_first counters.

    Written by the server's event loop, read from test threads, hence the lock.
    """

    def __init__(self, options: FakeOptions) -> None:
        self.options = options
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._rngs: dict[int, random.Random] = {}
        self._calls: Counter[FakeOptions] = Counter()
        self._ids = itertools.count(1)

    def options_for(self, request: Request) -> FakeOptions:
        """Server defaults, then ``/opts/...`` path options, then ``X-Fake-*`` headers."""
        path_text = request.path_params.get("opts", "")
        options = self.options.with_overrides(parse_path_options(path_text))
        return options.with_overrides(header_options(request.headers))

    def record(
        self, request: Request, body: object, options: FakeOptions | None, api: str | None
    ) -> dict[str, Any]:
        """Append a log entry (secrets redacted) and return it so the outcome can be added."""
        headers = {
            key: REDACTED if key in SECRET_HEADERS else value
            for key, value in request.headers.items()
        }
        with self._lock:
            entry: dict[str, Any] = {
                "id": f"req_fake_{next(self._ids):08d}",
                "time": time.time(),
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "api": api,
                "headers": headers,
                "body": body,
                "options": options.as_dict() if options else None,
                "status": None,
                "fault": None,
            }
            self._log.append(entry)
        return entry

    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of the log, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> int:
        """Empty the log; returns how many entries were dropped."""
        with self._lock:
            count = len(self._log)
            self._log.clear()
            return count

    def reset(self) -> None:
        """Forget the log, the RNG positions and the fail_first counters."""
        with self._lock:
            self._log.clear()
            self._rngs.clear()
            self._calls.clear()

    def decide_fault(self, options: FakeOptions) -> tuple[int, str] | None:
        """The injected error status and its reason for this call, or None to answer."""
        with self._lock:
            calls = self._calls[options]
            self._calls[options] += 1
            if options.fail_first:
                if calls < options.fail_first:
                    return options.status or options.error_status, "fail_first"
            elif options.status is not None and options.status >= 400:
                return options.status, "status"
            if options.error_rate > 0:
                rng = self._rngs.setdefault(options.seed, random.Random(options.seed))
                if rng.random() < options.error_rate:
                    return options.error_status, "error_rate"
        return None

    async def pause(self, milliseconds: float) -> None:
        """Sleep, but wake up early when the server is stopping so shutdown never stalls."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + milliseconds / 1000
        while not self.stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, _POLL_S))


class WrittenResponse(Response):
    """A response that writes its own body so faults can pace it, cut it or withhold it."""

    def __init__(
        self,
        state: FakeState,
        status_code: int,
        headers: dict[str, str],
        chunks: Sequence[bytes],
        *,
        delay_ms: float = 0.0,
        abort: bool = False,
    ) -> None:
        self.state = state
        self.status_code = status_code
        self.background = None
        self.body = b""
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.chunks = chunks
        self.delay_ms = delay_ms
        self.abort = abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for index, chunk in enumerate(self.chunks):
            if index and self.delay_ms:
                await self.state.pause(self.delay_ms)
            if self.state.stopping.is_set():
                raise AbortConnection("server stopping")
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if self.abort:
            raise AbortConnection("malformed=truncate")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class HangResponse(Response):
    """Accept the request and never answer, until the client gives up or the server stops."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.status_code = 200
        self.background = None
        self.body = b""
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiter = asyncio.ensure_future(until_disconnect())
        try:
            while not waiter.done() and not self.state.stopping.is_set():
                await asyncio.wait({waiter}, timeout=_POLL_S)
            hung_up = waiter.done()
        finally:
            waiter.cancel()
        if not hung_up:  # the server is stopping: drop the connection, still without answering
            raise AbortConnection("malformed=hang")


def _state(request: Request) -> FakeState:
    state: FakeState = request.app.state.fake
    return state


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _headers(entry: dict[str, Any], content_type: str) -> dict[str, str]:
    return {"content-type": content_type, "x-request-id": entry["id"], "request-id": entry["id"]}


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """An orjson-encoded response that always carries its content-type."""
    return Response(orjson.dumps(payload), status, headers, media_type=JSON_TYPE)


def _error(
    fmt: ApiFormat, entry: dict[str, Any], status: int, message: str, options: FakeOptions | None
) -> Response:
    headers = _headers(entry, JSON_TYPE)
    if status in (429, 503) and options is not None:
        headers["retry-after"] = _number_text(options.retry_after)
        headers["retry-after-ms"] = _number_text(options.retry_after * 1000)
    entry["status"] = status
    return json_response(fmt.error_body(status, message), status, headers)


def _body_of(raw: bytes) -> tuple[object, bool]:
    """Parsed JSON body (or the raw text when it is not JSON) and whether it parsed."""
    if not raw:
        return None, False
    try:
        return orjson.loads(raw), True
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace"), False


def _stream_chunks(fmt: ApiFormat, events: list[SSEEvent], options: FakeOptions) -> list[bytes]:
    """Encode events, applying the stream-level ``malformed`` kinds and the done marker."""
    kind = options.malformed
    garbage = SSEEvent(GARBAGE_LINE, event=fmt.garbage_event)
    if kind == "shape":
        events = [SSEEvent({"unexpected": "shape", "n": n}, e.event) for n, e in enumerate(events)]
    elif kind == "json":
        events = [garbage, *events]
    elif kind == "stream":
        middle = len(events) // 2
        events = [*events[:middle], garbage, *events[middle:]]
    elif kind == "truncate":
        events = events[: len(events) // 2]
    if options.done_marker and fmt.supports_done_marker and kind != "truncate":
        events = [*events, SSEEvent("[DONE]")]
    return [event.encode() for event in events]


async def _api_call(request: Request, fmt: ApiFormat) -> Response:
    state = _state(request)
    raw = await request.body()
    body, parsed = _body_of(raw)
    try:
        options = state.options_for(request)
    except ValueError as exc:
        entry = state.record(request, body, None, fmt.name)
        return _error(fmt, entry, 400, str(exc), None)
    entry = state.record(request, body, options, fmt.name)
    await state.pause(options.latency_ms)
    if options.malformed == "hang":
        entry["fault"] = "hang"
        return HangResponse(state)
    fault = state.decide_fault(options)
    if fault is not None:
        status, reason = fault
        entry["fault"] = reason
        message = f"Injected fault ({reason}): HTTP {status} from the plaudit fake model server"
        return _error(fmt, entry, status, message, options)
    if not parsed or not isinstance(body, dict):
        return _error(fmt, entry, 400, "The request body must be a JSON object.", options)
    try:
        conversation = fmt.parse(body)
    except InvalidRequest as exc:
        return _error(fmt, entry, 400, str(exc), options)
    reply = make_reply(conversation)
    status = options.status if options.status is not None and options.status < 400 else 200
    entry["status"] = status
    entry["fault"] = options.malformed
    if body.get("stream") is True:
        chunks = _stream_chunks(fmt, fmt.events(body, conversation, reply), options)
        headers = {**_headers(entry, SSE_TYPE), "cache-control": "no-cache"}
        return WrittenResponse(
            state,
            status,
            headers,
            chunks,
            delay_ms=options.chunk_delay_ms,
            abort=options.malformed == "truncate",
        )
    headers = _headers(entry, JSON_TYPE)
    if options.malformed in ("json", "stream"):
        return Response(GARBAGE_JSON, status, headers)
    if options.malformed == "shape":
        return json_response(fmt.wrong_shape(reply), status, headers)
    payload = orjson.dumps(fmt.complete(body, conversation, reply))
    if options.malformed == "truncate":
        headers["content-length"] = str(len(payload))
        half = payload[: len(payload) // 2]
        return WrittenResponse(state, status, headers, [half], abort=True)
    return Response(payload, status, headers)


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    return await _api_call(request, openai_format.CHAT)


async def responses(request: Request) -> Response:
    """``POST /v1/responses``."""
    return await _api_call(request, openai_format.RESPONSES)


async def messages(request: Request) -> Response:
    """``POST /v1/messages``."""
    return await _api_call(request, anthropic_format.MESSAGES)


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: one model per personality."""
    state = _state(request)
    try:
        options: FakeOptions | None = state.options_for(request)
    except ValueError as exc:
        entry = state.record(request, None, None, "models")
        return _error(openai_format.CHAT, entry, 400, str(exc), None)
    entry = state.record(request, None, options, "models")
    entry["status"] = 200
    descriptions = {f"fake-{p.name}": p.description for p in PERSONALITIES}
    body = openai_format.models_body(model_names(), descriptions)
    return json_response(body, 200, _headers(entry, JSON_TYPE))


async def healthz(request: Request) -> Response:
    """Liveness probe; not recorded so polling does not flood the log."""
    return json_response({"status": "ok"})


async def request_log(request: Request) -> Response:
    """``GET /_requests`` returns the log (newest last); ``DELETE`` clears it."""
    state = _state(request)
    if request.method == "DELETE":
        return json_response({"cleared": state.clear_requests()})
    return json_response(state.requests())


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"{request.method} {request.url.path}: {exc}"
    if request.url.path.endswith("/messages"):
        return json_response(anthropic_format.error_body(status, message), status)
    return json_response(openai_format.error_body(status, message), status)


def _routes() -> list[Route]:
    api = [
        ("/v1/chat/completions", chat_completions, ["POST"]),
        ("/v1/responses", responses, ["POST"]),
        ("/v1/messages", messages, ["POST"]),
        ("/v1/models", list_models, ["GET"]),
    ]
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/_requests", request_log, methods=["GET", "DELETE"]),
    ]
    for path, endpoint, methods in api:
        routes.append(Route(path, endpoint, methods=methods))
        routes.append(Route("/opts/{opts}" + path, endpoint, methods=methods))
    return routes


def create_fake_app(options: FakeOptions | None = None, **overrides: Any) -> Starlette:
    """Build the ASGI app; ``overrides`` are option names (see :class:`FakeOptions`).

    The per-server state is reachable as ``app.state.fake`` (a :class:`FakeState`).
    """
    resolved = (options or FakeOptions()).with_overrides(overrides)
    app = Starlette(routes=_routes(), exception_handlers={404: _http_error, 405: _http_error})
    app.state.fake = FakeState(resolved)
    return app


def state_of(app: Starlette) -> FakeState:
    """The :class:`FakeState` of an app made by :func:`create_fake_app`."""
    state: FakeState = app.state.fake
    return state


__all__ = ["AbortConnection", "FakeState", "JSONObject", "create_fake_app", "state_of"]
