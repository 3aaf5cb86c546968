"""Background delivery of logged completions.

The caller's thread only appends to a bounded deque (no JSON, no I/O, and no wake-up of the
worker unless it is idle or the batch is full: see :meth:`Transport.enqueue`). A daemon worker
builds the records, batches them (<= 500 items or <= 50 ms), gzips and POSTs them to
``/api/v1/completions/batch``, retrying connection errors, 429 and 5xx with backoff (honouring
``Retry-After``). A batch that cannot be delivered within the retry budget goes to
the local spool (fsync'd) and the worker stays "offline", spooling straight away and probing
the server now and then; once it answers, spooled files are replayed. Nothing is dropped and
nothing raises into the application: a full queue spills to the spool on the caller's thread.
"""

from __future__ import annotations

import atexit
import gzip
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpcore  # noqa: F401  imported here, not lazily in the worker: fork-safe imports
import httpx
import orjson

from plaudit.sdk import config as sdk_config
from plaudit.sdk.config import SDKConfig
from plaudit.sdk.spool import Spool, finish, read_records

log = logging.getLogger("plaudit.sdk")

_PROBE_INTERVAL_S = 2.0
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class Loggable(Protocol):
    def to_record(self) -> dict[str, Any]: ...


def _record_of(item: Any) -> dict[str, Any]:
    """A queued item's record. Items are dicts, Loggables, or ``(factory, *args)`` tuples: the
    cheapest thing the caller's thread can make; ``factory(*args)`` gives the Loggable."""
    if isinstance(item, dict):
        return item
    try:
        if type(item) is tuple:
            item = item[0](*item[1:])
        record: dict[str, Any] = item.to_record()
        return record
    except Exception as exc:  # a bug in record building must not lose the call
        log.warning("plaudit could not build a completion record: %r", exc)
        return {
            "id": getattr(item, "completion_id", None),
            "status": "failed",
            "error": f"plaudit SDK could not serialise this call: {exc!r}",
        }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class _Undeliverable(Exception):
    """The server stayed unreachable (or refused us) for the whole retry budget."""


class Transport:
    def __init__(self, cfg: SDKConfig) -> None:
        self.config = cfg
        self._queue: deque[Any] = deque()
        # Read on every enqueue: plain attributes, not the config's (cheaper, and fixed anyway).
        self._enabled = cfg.enabled
        self._queue_size = cfg.queue_size
        self._batch_size = cfg.batch_size
        self._wake = threading.Event()
        # True while the worker waits for the first item of a batch (or is not running yet):
        # only then, or when a batch fills up, does enqueue() wake it. Otherwise the worker
        # collects the batch on its own timer.
        self._waiting = True
        self._flush_requested = False
        self._idle = threading.Condition()
        self._inflight: list[Any] = []
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self._offline_until = 0.0
        self._replaying = True  # until the worker has replayed abandoned spool files once
        self.spool = Spool(cfg.spool_dir)
        self.delivered = 0

    # -- the caller's side (keep it cheap) -------------------------------------------------

    def enqueue(self, item: Any) -> None:
        """Hand an item to the worker. Never raises, never blocks on the network."""
        try:
            if not self._enabled:
                if type(item) is tuple:
                    item[0](*item[1:])  # dropped, but its factory must still release it
                return
            queue = self._queue
            if len(queue) >= self._queue_size:
                self._spill(item)
                return
            queue.append(item)
            # No lock: under the GIL the worker sets _waiting before its last look at the queue,
            # so either it sees this item or we see _waiting. We clear _waiting ourselves: the
            # worker may take a while to be scheduled, and the calls meanwhile must not pay for
            # waking it again. Two threads appending at once may step over the exact batch size;
            # the worker's timer then sends the batch.
            if self._waiting:
                self._waiting = False
                self._wake_worker()
            elif len(queue) == self._batch_size:
                self._wake_worker()
        except Exception as exc:  # pragma: no cover - logging must never break the app
            log.error("plaudit could not queue a completion: %r", exc)

    def _wake_worker(self) -> None:
        if self._worker is None:
            self._start()
        self._wake.set()

    def _spill(self, item: Any) -> None:
        try:
            self.spool.write([_record_of(item)])
        except Exception as exc:  # pragma: no cover - disk full and the like
            log.error("plaudit could not spool a completion: %r", exc)

    def _start(self) -> None:
        with self._start_lock:
            if self._worker is None and not self._stopped:
                self._worker = threading.Thread(
                    target=self._run, name="plaudit-transport", daemon=True
                )
                self._worker.start()

    # -- flushing --------------------------------------------------------------------------

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything queued is delivered or spooled; False on timeout."""
        self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        self._flush_requested = True
        self._wake.set()
        with self._idle:
            while self._queue or self._inflight or self._replaying:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def shutdown(self, timeout: float) -> None:
        """Bounded flush at exit; whatever is left is written to the spool."""
        if not self._queue and not self._inflight:
            self.spool.close()
            return
        delivered = self.flush(timeout)
        self._stopped = True
        if not delivered:
            left = list(self._inflight) + [self._queue.popleft() for _ in range(len(self._queue))]
            count = self.spool.write([_record_of(i) for i in left])
            log.warning("plaudit: %d completions spooled at exit (server slow or down)", count)
        self.spool.close()

    # -- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        client: httpx.Client | None = None
        try:
            try:
                client = httpx.Client(timeout=self.config.request_timeout_s)
                self._replay(client)
            finally:
                with self._idle:
                    self._replaying = False
                    self._idle.notify_all()
            while not self._stopped:
                if not self._queue:
                    self._flush_requested = False
                    self._notify_idle()
                    self._waiting = True
                    if not self._queue:  # after setting _waiting: see enqueue()
                        self._wake.wait(1.0)
                    self._waiting = False
                    self._wake.clear()
                    continue
                self._linger()
                batch = self._take_batch()
                try:
                    self._deliver(client, [_record_of(i) for i in batch])
                except Exception:
                    self.spool.write([_record_of(i) for i in batch])
                    raise
                finally:
                    batch = []  # don't keep the responses alive until the next batch
                    with self._idle:
                        self._inflight = []
                        self._idle.notify_all()
        except Exception:  # keep the app alive and the data safe; the next call restarts us
            log.exception("plaudit transport worker crashed; spooling what is queued")
            self._spool_queue()
            self._worker = None
            self._waiting = True
        finally:
            if client is not None:
                client.close()

    def _spool_queue(self) -> None:
        with self._idle:
            left = [self._queue.popleft() for _ in range(len(self._queue))]
            self._idle.notify_all()
        try:
            self.spool.write([_record_of(i) for i in left])
        except Exception:  # pragma: no cover - disk full and the like
            log.exception("plaudit could not spool %d completions", len(left))

    def _notify_idle(self) -> None:
        with self._idle:
            self._idle.notify_all()

    def _linger(self) -> None:
        """Let a batch fill: until it is full (enqueue wakes us), flush() asks, or time is up."""
        deadline = time.monotonic() + self.config.batch_interval_s
        while len(self._queue) < self._batch_size and not self._flush_requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(remaining)
            self._wake.clear()

    def _take_batch(self) -> list[Any]:
        with self._idle:
            size = min(len(self._queue), self.config.batch_size)
            batch = [self._queue.popleft() for _ in range(size)]
            self._inflight = batch
        return batch

    def _deliver(self, client: httpx.Client, records: list[dict[str, Any]]) -> None:
        offline = self._offline_until > 0
        if offline and time.monotonic() < self._offline_until:
            self.spool.write(records)
            return
        try:  # while offline, one attempt probes the server; online, the full retry budget
            self._post(client, records, budget=0.0 if offline else None)
        except _Undeliverable as exc:
            if not offline:
                log.warning("plaudit server unavailable (%s); spooling", exc)
            self.spool.write(records)
            self._offline_until = time.monotonic() + _PROBE_INTERVAL_S
            return
        self._offline_until = 0.0
        if self.spool.written:  # we spooled while offline: hand our file over to replay
            self.spool.close()
            self.spool.written = 0
            self._replay(client)

    def _post(
        self, client: httpx.Client, records: list[dict[str, Any]], budget: float | None = None
    ) -> None:
        cfg = self.config
        if not cfg.url:
            raise _Undeliverable("PLAUDIT_URL is not set")
        body = gzip.compress(orjson.dumps({"completions": records}, default=str), 5)
        headers = {
            "Authorization": f"Bearer {cfg.api_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        deadline = time.monotonic() + (cfg.retry_budget_s if budget is None else budget)
        delay = 0.1
        while True:
            reason: str
            wait = delay
            try:
                response = client.post(cfg.ingest_url, content=body, headers=headers)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}"
            else:
                if response.is_success:
                    self.delivered += len(records)
                    return
                if response.status_code not in _RETRYABLE:
                    self._refused(client, records, response)
                    return
                reason = f"HTTP {response.status_code}"
                wait = _retry_after(response) or delay
            if time.monotonic() + wait > deadline or self._stopped:
                raise _Undeliverable(reason)
            time.sleep(wait)
            delay = min(delay * 2, 2.0)

    def _refused(
        self, client: httpx.Client, records: list[dict[str, Any]], response: httpx.Response
    ) -> None:
        """A 4xx: split a too-large batch, set one bad record aside, keep data on auth errors."""
        status = response.status_code
        if status == 413 and len(records) > 1:
            half = len(records) // 2
            self._post(client, records[:half])
            self._post(client, records[half:])
            return
        if status in (401, 403):
            raise _Undeliverable(f"HTTP {status} (check PLAUDIT_API_KEY)")
        if status == 422 and len(records) > 1:
            index = _bad_index(response)
            if index is not None and 0 <= index < len(records):
                self.spool.write_rejected([records[index]], f"HTTP 422: {response.text[:500]}")
                self._post(client, records[:index] + records[index + 1 :])
                return
        self.spool.write_rejected(records, f"HTTP {status}: {response.text[:500]}")

    def _replay(self, client: httpx.Client) -> None:
        """Send every abandoned spool file (ours once closed, or a dead process's)."""
        for path, handle in self.spool.claim_abandoned():
            try:
                records = read_records(handle)
                for start in range(0, len(records), self.config.batch_size):
                    self._post(client, records[start : start + self.config.batch_size])
            except _Undeliverable:
                handle.close()  # still offline: leave the file for later
                self._offline_until = time.monotonic() + _PROBE_INTERVAL_S
                return
            finish(path, handle)


def _bad_index(response: httpx.Response) -> int | None:
    try:
        path = response.json()["error"]["path"]
        return int(str(path).split(".")[1])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


_transport: Transport | None = None
_transport_lock = threading.Lock()


def get() -> Transport:
    if _transport is None:
        with _transport_lock:
            if _transport is None:
                _install(Transport(sdk_config.current()))
    assert _transport is not None
    return _transport


def _first_enqueue(item: Any) -> None:
    get().enqueue(item)


# ``transport.enqueue(call)``: hand a call to the worker (dropped if the SDK is disabled); never
# raises. Once a transport exists this *is* its bound method, so the caller's thread does not
# pay for one more Python frame per call; _install() rebinds it on configure() and after fork.
enqueue: Callable[[Any], None] = _first_enqueue


def _install(transport: Transport | None) -> None:
    global _transport, enqueue
    _transport = transport
    enqueue = transport.enqueue if transport is not None else _first_enqueue


def flush(timeout: float | None = 10.0) -> bool:
    """Deliver (or spool) everything logged so far; True when nothing is left in memory."""
    return get().flush(timeout)


def reconfigure(cfg: SDKConfig) -> None:
    """New settings: flush what the old transport holds, then start afresh."""
    with _transport_lock:
        old = _transport
        _install(Transport(cfg))
    if old is not None:
        old.shutdown(cfg.exit_timeout_s)


def _at_exit() -> None:
    if _transport is not None:
        _transport.shutdown(_transport.config.exit_timeout_s)


def _after_fork_in_child() -> None:
    # The parent keeps delivering what it queued; the child starts empty with its own worker
    # and its own spool file (locks and threads do not survive fork).
    global _transport_lock
    _transport_lock = threading.Lock()
    if _transport is not None:
        _install(Transport(_transport.config))


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
