"""How an upstream call failed, in words a person can act on, and whether to try again.

Adapters turn SDK/HTTP exceptions into :class:`UpstreamError`; the gateway decides on retries
(only before the first token) and prefixes the model name. Secrets are scrubbed from every
message here, whatever the upstream echoed back.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

from plaudit.errors import PlauditError

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BODY_CHARS = 300


class UpstreamError(Exception):
    """A failed model call: ``message`` is user-facing, ``retryable`` says whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class WrongShape(UpstreamError):
    """The answer parsed but did not contain what the model's configuration says it should."""


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (and its common 'Bearer' form) masked."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (delta seconds or an HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS] + "…"


def body_message(body: bytes | str) -> str:
    """The most useful line of an error body: ``error.message`` when it is JSON, else its text."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(raw)
    except ValueError:
        return _short(raw)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _short(error["message"])
        if isinstance(error, str):
            return _short(error)
        if isinstance(data.get("message"), str):
            return _short(data["message"])
    return _short(raw)


def status_error(status: int, body: bytes | str, headers: Any) -> UpstreamError:
    """An HTTP error answer: retryable for 429/5xx, honouring ``Retry-After``."""
    detail = body_message(body) if body else ""
    label = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
    message = f"upstream answered {label}" + (f": {detail}" if detail else "")
    return UpstreamError(
        message,
        retryable=status in RETRYABLE_STATUSES or status >= 500,
        retry_after=retry_after_seconds(headers),
        status=status,
    )


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def transport_error(exc: BaseException) -> UpstreamError | None:
    """Classify transport failures of aiohttp (the adapters' own pool) and of httpx/httpx2
    (what the SDKs use); None if not one.

    Matched by class name because the SDKs ship their own fork of httpx.
    """
    names = _names(exc)
    if names & {"ConnectError", "ConnectTimeout", "ClientConnectorError", "ConnectionTimeoutError"}:
        return UpstreamError(f"could not connect to the endpoint ({_kind(exc)})", retryable=True)
    if names & {"TimeoutException", "TimeoutError"}:
        return UpstreamError("upstream timed out")
    if names & {"RemoteProtocolError", "ReadError", "WriteError", "CloseError",
                "ServerDisconnectedError", "ClientPayloadError", "ClientOSError"}:  # fmt: skip
        return UpstreamError(
            f"the connection closed before the answer was complete ({_kind(exc)})",
            retryable=True,
        )
    if names & {"TransportError", "NetworkError", "ProtocolError", "ClientError"}:
        return UpstreamError(f"transport error ({_kind(exc)})", retryable=True)
    return None


def _kind(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {_short(text)}" if text else name


def malformed(exc: BaseException | None = None, what: str = "the answer") -> UpstreamError:
    """Upstream sent something that is not valid JSON."""
    detail = f" ({_kind(exc)})" if exc is not None else ""
    return UpstreamError(f"malformed JSON in {what}{detail}")


class UpstreamFailed(PlauditError):
    """A call through plaudit's own endpoints failed upstream (HTTP 502, message names why)."""

    code = "upstream_error"
    status = 502
