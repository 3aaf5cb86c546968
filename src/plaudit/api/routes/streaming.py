"""Streaming responses: JSON Lines read in their own session in constant memory, and
server-sent events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from plaudit.core.sql import rechunked

CHUNK_BYTES = 256 * 1024


def jsonl_response(
    request: Request,
    rows: Callable[[Session], Iterable[Any]],
    *,
    filename: str,
) -> StreamingResponse:
    """Each row ``orjson``-encoded on a line of its own."""

    def lines(session: Session) -> Iterator[bytes]:
        for row in rows(session):
            yield orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)

    return jsonl_chunks_response(request, lines, filename=filename)


def jsonl_chunks_response(
    request: Request,
    chunks: Callable[[Session], Iterable[bytes]],
    *,
    filename: str,
) -> StreamingResponse:
    """Already-encoded, newline-terminated lines, sent ~``CHUNK_BYTES`` at a time."""
    factory = request.app.state.read_sessions

    def body() -> Iterator[bytes]:
        with factory() as session:
            yield from rechunked(chunks(session), CHUNK_BYTES)

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class EventStreamResponse(StreamingResponse):
    """``text/event-stream``: each chunk of ``content`` written straight to the ASGI ``send``.

    Starlette's StreamingResponse also runs a task group listening for the disconnect, which
    cost more than the events of a chat turn. It is not needed here: the events come from work
    that runs on whatever the client does, and uvicorn drops writes to a closed connection.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            if not isinstance(chunk, bytes | memoryview):
                chunk = chunk.encode(self.charset)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
