"""ASGI middleware: request size limits and gzip-compressed request bodies.

Both work on the raw ASGI stream, so an oversize or zip-bomb body is refused after reading at
most ``limit`` bytes, before any parsing.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plaudit.api.jsonio import dumps

# Routes that legitimately take big uploads (CSV units) get a larger limit.
LARGE_UPLOAD_SUFFIXES = ("/units",)
LARGE_UPLOAD_BYTES = 512 * 1024 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if _has_nul(scope):  # PostgreSQL refuses NUL in text: stop it before any query runs
            await _send_error(
                send, 400, "bad_request", "NUL characters are not allowed in the URL or headers"
            )
            return
        limit = LARGE_UPLOAD_BYTES if path.endswith(LARGE_UPLOAD_SUFFIXES) else self.max_bytes
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _too_large(send, limit)
            return
        gzip = headers.get(b"content-encoding", b"").strip().lower() in (b"gzip", b"deflate")
        if gzip:
            scope = dict(scope)
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k.lower() not in (b"content-encoding", b"content-length")
            ]
        seen = 0
        inflater = zlib.decompressobj(wbits=47) if gzip else None  # 47: gzip or zlib header

        async def limited_receive() -> Message:
            # HTTPException raised here reaches the app's exception handlers (FastAPI re-raises
            # it from body parsing), so the client gets one clear JSON error.
            nonlocal seen
            message = await receive()
            if message["type"] != "http.request":
                return message
            body: bytes = message.get("body", b"")
            if inflater is not None:
                try:
                    body = inflater.decompress(body, limit + 1 - seen)
                    if not message.get("more_body", False):
                        body += inflater.flush()
                except zlib.error:
                    raise HTTPException(400, "request body is not valid gzip") from None
            seen += len(body)
            if seen > limit:
                raise HTTPException(413, f"request body exceeds {limit} bytes")
            return {**message, "body": body}

        await self.app(scope, limited_receive, send)


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return (
        "\x00" in scope.get("path", "")
        or b"\x00" in query
        or b"%00" in query
        or any(b"\x00" in value for _name, value in scope.get("headers", []))
    )


async def _too_large(send: Send, limit: int) -> None:
    await _send_error(send, 413, "payload_too_large", f"request body exceeds {limit} bytes")


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body: Any = {"error": {"code": code, "message": message}}
    payload = dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class CollapseSlashesMiddleware:
    """Serve ``//api/...`` as ``/api/...``: log10 builds URLs as ``f"{LOG10_URL}/api/…"``, so a
    LOG10_URL ending in ``/`` would otherwise 404 on every call (and redirects break its client)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and "//" in path:
            scope = dict(scope)
            scope["path"] = re.sub("/{2,}", "/", path)
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)
