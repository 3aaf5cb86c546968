"""Streaming JSON Lines responses that read in their own session, in constant memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

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
        buffer = bytearray()
        with factory() as session:
            for chunk in chunks(session):
                buffer += chunk
                if len(buffer) >= CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
        if buffer:
            yield bytes(buffer)

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
