"""Streaming JSON Lines downloads to a file (or stdout) with a progress bar, in constant memory."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from plaudit.cli.http import PlauditClient
from plaudit.cli.output import err_console, fail

CHUNK_BYTES = 256 * 1024


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Complete lines (with their newline) from a byte stream."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line:
                yield line + b"\n"
    if pending.strip():
        yield pending + b"\n"


def _plural(noun: str, count: int) -> str:
    return noun if count == 1 else noun + "s"


def _progress(noun: str) -> Progress:
    return Progress(
        TextColumn(f"Downloading {noun}s"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    )


def _copy(
    response: Any, out: IO[bytes], progress: Progress, task: Any, offset: int, limit: int | None
) -> int:
    """Write the stream to ``out``; returns the number of rows written."""
    rows = 0
    if offset == 0 and limit is None:
        # Pass bytes through untouched: no per-line work on the fast path.
        for chunk in response.iter_bytes(CHUNK_BYTES):
            out.write(chunk)
            count = chunk.count(b"\n")
            rows += count
            progress.update(task, advance=count)
        return rows
    skipped = 0
    for line in _lines(response.iter_bytes(CHUNK_BYTES)):
        if skipped < offset:
            skipped += 1
            continue
        if limit is not None and rows >= limit:
            break
        out.write(line)
        rows += 1
        progress.update(task, advance=1)
    return rows


def download_jsonl(
    api: PlauditClient,
    path: str,
    params: dict[str, Any],
    *,
    file: str | None,
    noun: str,
    total: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> int:
    """Stream ``GET path`` to ``file`` (``None``/``-`` = stdout); returns rows written.

    A file is written under ``<file>.part`` and renamed at the end, so a failed download never
    leaves a truncated file that looks complete.
    """
    if offset < 0 or (limit is not None and limit < 0):
        fail("--offset and --limit must not be negative")
    expected = None
    if total is not None:
        expected = max(total - offset, 0)
        if limit is not None:
            expected = min(expected, limit)
    to_stdout = file in (None, "-")
    target = Path(file) if file and not to_stdout else None
    partial = target.with_name(target.name + ".part") if target else None
    out: IO[bytes]
    if partial is not None:
        try:
            out = partial.open("wb")
        except OSError as exc:
            fail(f"cannot write {file}: {exc.strerror or exc}")
    else:
        out = sys.stdout.buffer
    done = False
    try:
        with api.stream(path, **params) as response, _progress(noun) as progress:
            task = progress.add_task("download", total=expected)
            rows = _copy(response, out, progress, task, offset, limit)
        out.flush()
        done = True
    finally:
        if partial is not None:
            out.close()
            if not done:
                partial.unlink(missing_ok=True)
    if partial is not None and target is not None:
        os.replace(partial, target)
        err_console.print(
            f"Downloaded {rows} {_plural(noun, rows)} to {target}", highlight=False, soft_wrap=True
        )
    else:
        err_console.print(
            f"Downloaded {rows} {_plural(noun, rows)}", highlight=False, soft_wrap=True
        )
    return rows
