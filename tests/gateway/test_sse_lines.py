"""Splitting a streamed body into lines, however the chunks fall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from plaudit.gateway.adapters.base import lines_of


def _body(chunks: list[bytes]) -> Any:
    async def iter_any() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return SimpleNamespace(content=SimpleNamespace(iter_any=iter_any))


async def _lines(chunks: list[bytes]) -> list[bytes]:
    return [line async for line in lines_of(_body(chunks))]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_lines_are_the_same_whatever_the_chunk_size(size):
    body = b"data: one\r\n\r\ndata: two\n\n: comment\r\ndata: last without end"
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    got = asyncio.run(_lines(chunks))
    assert got == [b"data: one", b"", b"data: two", b"", b": comment", b"data: last without end"]


def test_a_long_line_in_many_chunks_comes_whole():
    line = b"x" * 300_000
    chunks = [line[i : i + 1000] for i in range(0, len(line), 1000)] + [b"\n", b"after\n"]
    assert asyncio.run(_lines(chunks)) == [line, b"after"]
