"""Joining many small pieces (lines of a download) into few chunks."""

from __future__ import annotations

from plaudit.core.sql import rechunked


def test_pieces_are_joined_into_chunks_of_at_least_the_size_in_order():
    pieces = [f"line {i}\n".encode() for i in range(1000)]
    chunks = list(rechunked(pieces, 100))
    assert b"".join(chunks) == b"".join(pieces)
    assert all(len(chunk) >= 100 for chunk in chunks[:-1])
    assert all(len(chunk) < 100 + 10 for chunk in chunks)  # flushed as soon as it is reached
    assert 0 < len(chunks[-1])


def test_memoryviews_and_nothing():
    assert list(rechunked([memoryview(b"ab"), b"cd"], 3)) == [b"abcd"]
    assert list(rechunked([], 3)) == []
