"""The HTTP client behind every client-side command.

It reads ``PLAUDIT_URL`` / ``PLAUDIT_API_KEY`` (falling back to log10's ``LOG10_URL`` /
``LOG10_TOKEN`` so pasted log10 setups work), or the root ``--url`` / ``--api-key`` options. Any
failure — an error response in either envelope, a refused connection, a timeout — ends the
command through :func:`plaudit.cli.output.fail` with one line naming the problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import httpx
import orjson

from plaudit import __version__
from plaudit.cli.output import fail

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 30.0

# Set by the root command's --url / --api-key; None means "use the environment".
_overrides: dict[str, str | None] = {"url": None, "api_key": None}


def configure(url: str | None = None, api_key: str | None = None) -> None:
    _overrides["url"] = url
    _overrides["api_key"] = api_key


def base_url() -> str:
    url = _overrides["url"] or os.environ.get("PLAUDIT_URL") or os.environ.get("LOG10_URL")
    return (url or DEFAULT_URL).rstrip("/")


def api_key() -> str:
    key = (
        _overrides["api_key"] or os.environ.get("PLAUDIT_API_KEY") or os.environ.get("LOG10_TOKEN")
    )
    if not key:
        fail("no API key: set PLAUDIT_API_KEY (or pass --api-key before the command)")
    return key


def error_message(response: httpx.Response) -> str:
    """One line from either envelope: ``{"error": {"message", "path"}}`` or ``{"error": "msg"}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("code") or "request failed")
        path = error.get("path")
        if path and str(path) not in message:
            message = f"{message} (at {path})"
    elif isinstance(error, str) and error:
        message = error
    elif isinstance(body, dict) and isinstance(body.get("detail"), str):
        message = body["detail"]
    else:
        text = " ".join(response.text.split())[:200]
        message = text or response.reason_phrase or "request failed"
    return f"HTTP {response.status_code}: {message}"


def _connection_failure(exc: httpx.HTTPError) -> NoReturn:
    url = base_url()
    if isinstance(exc, httpx.TimeoutException):
        fail(f"plaudit at {url} did not answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        fail(f"cannot reach plaudit at {url} ({exc or type(exc).__name__}); is it running? "
             "Set PLAUDIT_URL to its address")  # fmt: skip
    fail(f"request to {url} failed: {exc}")


class PlauditClient:
    """A thin httpx wrapper: JSON in, JSON out, one-line failure on any error."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = base_url()
        self._client = httpx.Client(
            base_url=self.url,
            # Loading the CA bundle costs ~0.1 s per command; plain http never needs it.
            verify=self.url.startswith("https:"),
            headers={
                "Authorization": f"Bearer {api_key()}",
                "User-Agent": f"plaudit-cli/{__version__}",
            },
            timeout=timeout,
        )

    def __enter__(self) -> PlauditClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        content = None if json is None else orjson.dumps(json)
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = self._client.request(
                method, path, params=clean, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            _connection_failure(exc)
        if response.status_code >= 400:
            fail(error_message(response))
        try:
            return response.json()
        except ValueError:
            fail(f"plaudit at {self.url} sent a response that is not JSON ({path})")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json={} if json is None else json)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    @contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        """A streamed GET; error statuses fail before the body is read further."""
        clean = {k: v for k, v in params.items() if v is not None and v != ""}
        try:
            with self._client.stream("GET", path, params=clean) as response:
                if response.status_code >= 400:
                    response.read()
                    fail(error_message(response))
                yield response
        except httpx.HTTPError as exc:
            _connection_failure(exc)


def client(timeout: float = DEFAULT_TIMEOUT_S) -> PlauditClient:
    return PlauditClient(timeout=timeout)
