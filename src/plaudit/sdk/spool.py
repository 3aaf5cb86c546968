"""The local spool: records the server could not take yet, one JSONL file per process.

A file is held under an exclusive ``flock`` by the process writing it, so "lock is free" means
"its writer is gone or has closed it": exactly the files a (new) process may replay. Writes are
flushed and fsync'd before ``write`` returns, so a spooled record survives a crash of the app.
Replaying is idempotent (the server upserts by completion id), so a file replayed twice after
a crash at the wrong moment creates no duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process locking, replay by name
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("plaudit.sdk")

SUFFIX = ".jsonl"
REJECTED_PREFIX = "rejected-"  # records the server refused as invalid: kept, never replayed


def _lock(handle: IO[bytes], blocking: bool = False) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


class Spool:
    """This process's spool file (opened lazily) plus replay of abandoned ones."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._handle: IO[bytes] | None = None
        self._path: Path | None = None
        self._lock = threading.Lock()
        self.written = 0

    def _open(self) -> IO[bytes]:
        if self._handle is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
            # Lock under a name replayers ignore, then rename: no replayer can grab (and
            # delete) a file between its creation and our lock.
            temporary = self.directory / (name + ".new")
            handle = open(temporary, "ab")  # noqa: SIM115 - held open for the process
            _lock(handle, blocking=True)
            self._path = self.directory / name
            os.rename(temporary, self._path)
            self._handle = handle
        return self._handle

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        """Append records durably (flush + fsync). Returns how many were written."""
        lines = b"".join(orjson.dumps(r, default=str) + b"\n" for r in records)
        if not lines:
            return 0
        with self._lock:
            handle = self._open()
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
            count = lines.count(b"\n")
            self.written += count
        return count

    def close(self) -> None:
        """Close (and so unlock) this process's file; it becomes replayable."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
            self._handle = None
            self._path = None

    def write_rejected(self, records: Iterable[dict[str, Any]], reason: str) -> None:
        """Keep records the server refused (4xx) next to the spool, for a human to look at."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{REJECTED_PREFIX}{os.getpid()}.jsonl.txt"
        with open(path, "ab") as handle:
            for record in records:
                handle.write(orjson.dumps({"reason": reason, "record": record}, default=str))
                handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        log.warning("plaudit refused %s; kept in %s", reason, path)

    def claim_abandoned(self) -> Iterator[tuple[Path, IO[bytes]]]:
        """Spool files nobody holds, each locked by us while the caller replays it."""
        if not self.directory.is_dir():
            return
        own = self._path
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path == own or path.name.startswith(REJECTED_PREFIX):
                continue
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed by release()
            except OSError:
                continue
            if not _lock(handle) or os.fstat(handle.fileno()).st_nlink == 0:
                handle.close()  # its writer is alive, or another replayer just finished it
                continue
            yield path, handle


def read_records(handle: IO[bytes]) -> list[dict[str, Any]]:
    """Every complete line; a torn last line (crash mid-write) is skipped."""
    handle.seek(0)
    records = []
    for line in handle.read().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def finish(path: Path, handle: IO[bytes]) -> None:
    """Delete a fully replayed file (while still holding its lock), then release it."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    handle.close()
