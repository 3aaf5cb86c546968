"""One logged model call, and how streams report their end.

What the caller's thread hands to the transport is a handful of references and timestamps: a
tuple for a call that returned (:func:`log_result`, the hot path), a :class:`Call` for streams and
failures. Turning it into the JSON record (dumping pydantic models, assembling stream chunks,
cleaning the request) happens in :meth:`Call.to_record`, on the transport's worker thread.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from plaudit.sdk import context, ids, transport

Assemble = Callable[[list[Any]], dict[str, Any]]
_DROP_KWARGS = frozenset({"extra_headers", "extra_query", "timeout", "stream_options"})
_COPY_LISTS = ("messages", "input", "tools")
_current_tags = context.current_tags


def jsonable(value: Any) -> Any:
    """Plain JSON data from SDK objects (pydantic models, tuples, sentinels)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not _is_sentinel(v)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json", exclude_unset=True)
    return repr(value)


def _is_sentinel(value: Any) -> bool:
    return type(value).__name__ in ("NotGiven", "Omit", "NotGivenOr")


def copy_lists(kwargs: dict[str, Any]) -> None:
    """Copy the lists in a call's kwargs, so later appends to the caller's lists don't show.

    ``kwargs`` is always the wrapper's own ``**kwargs`` dict, new for this call: it is kept, not
    copied, and passing our list copies on to the SDK changes nothing for it.
    """
    for key in _COPY_LISTS:
        value = kwargs.get(key)
        if type(value) is list:
            kwargs[key] = value.copy()


def log_result(
    provider: str, kind: str, kwargs: dict[str, Any], client: Any, started_ns: int,
    started: float, response: Any,
) -> None:  # fmt: skip
    """Log a call that returned a (non-streamed) result: all the caller's thread does for it.

    It runs once per call with cold caches (the model call just evicted them), where every
    Python frame and object costs microseconds, so it is one flat function: take the end time,
    copy the kwargs' lists and queue a tuple, registered as the response's id entry (no weak
    reference: see ids.registry). The worker turns the tuple into a :class:`Call`
    (:func:`_returned`) and builds the record.
    """
    ended = perf_counter()
    # Copied after the call: the SDK does not change them, and a sync caller cannot before we
    # return (async wrappers also call copy_lists() before awaiting, for the other tasks).
    for key in _COPY_LISTS:
        value = kwargs.get(key)
        if type(value) is list:
            kwargs[key] = value.copy()
    seq = next(ids.sequence)
    # The client goes in as is: its tags never change (with_options() makes a new client).
    item = (_returned, response, started_ns, seq, provider, kind, kwargs, client, _current_tags(),
            started, ended)  # fmt: skip
    # completion_id(response) answers from now on. Stored before queueing: the worker replaces
    # the entry with a weak reference once it takes the item.
    ids.registry[id(response)] = item
    transport.enqueue(item)


def new_call(
    provider: str, kind: str, kwargs: dict[str, Any], client: Any, started_ns: int,
    started: float,
) -> Call:  # fmt: skip
    """A :class:`Call` for a stream or a failure (``started*``: time_ns() and perf_counter())."""
    copy_lists(kwargs)
    tags = (getattr(client, "_plaudit_tags", ()), _current_tags())
    return Call(provider, kind, kwargs, tags, started_ns, next(ids.sequence), started)


def _returned(
    response: Any, started_ns: int, seq: int, provider: str, kind: str, request: dict[str, Any],
    client: Any, context_tags: tuple[str, ...], started: float, ended: float,
) -> Call:  # fmt: skip
    """The worker's side of :func:`log_result`: the queued tuple becomes a Call. Every queued
    tuple passes here (delivered, spooled or dropped), which settles its registry entry."""
    ids.settle(response, started_ns, seq)
    tags = (getattr(client, "_plaudit_tags", ()), context_tags)
    call = Call(provider, kind, request, tags, started_ns, seq, started)
    call.ended = ended
    call.response = response
    call.finished = True
    return call


class Call:
    """Timings and references for one call; built into a record lazily, on the worker."""

    __slots__ = (
        "provider", "kind", "request", "tags", "started_ns", "seq", "started", "ended",
        "first_chunk", "response", "chunks", "assemble", "error", "stream", "finished", "clean",
        "__weakref__",
    )  # fmt: skip

    def __init__(
        self, provider: str, kind: str, request: dict[str, Any],
        tags: tuple[Iterable[str], ...], started_ns: int, seq: int, started: float,
    ) -> None:  # fmt: skip
        self.provider = provider
        self.kind = kind
        self.request = request
        self.tags = tags  # (the client's, the context's): merged on the worker
        self.started_ns = started_ns  # time.time_ns(): created_at, and the id with seq
        self.seq = seq
        self.started = started  # time.perf_counter(): latency and TTFT
        self.ended = self.first_chunk = 0.0
        self.response: Any = None
        self.chunks: list[Any] | None = None
        self.assemble: Assemble | None = None
        self.error: BaseException | None = None
        self.stream = self.finished = self.clean = False  # clean: a stream that ran to its end

    @property
    def completion_id(self) -> str:
        return ids.format_id(self.started_ns, self.seq)

    # -- called on the caller's thread -----------------------------------------------------

    def fail(self, error: BaseException) -> None:
        self.ended = perf_counter()
        self.error = error
        self._submit()

    def watch_stream(self, stream: Any, assemble: Assemble, aiterator: bool = False) -> Any:
        """Record a stream's items as they pass; log when it ends, is closed, or is dropped."""
        self.stream = True
        self.chunks = []
        self.assemble = assemble
        ids.remember(stream, self.started_ns, self.seq)
        inner = stream._iterator
        stream._iterator = _AsyncRecorder(inner, self) if aiterator else _Recorder(inner, self)
        original_close = stream.close

        if aiterator:

            async def close() -> None:
                self.end_stream()
                await original_close()

        else:

            def close() -> None:  # type: ignore[misc]
                self.end_stream()
                original_close()

        stream.close = close
        weakref.finalize(stream, self.end_stream)
        return stream

    def end_stream(self, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.ended = perf_counter()
        if error is not None:
            self.error = error
        self._submit()

    def _submit(self) -> None:
        if self.finished:
            return
        self.finished = True
        transport.enqueue(self)  # a disabled SDK's transport drops it

    # -- called on the worker thread -------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        request = {k: v for k, v in self.request.items() if k not in _DROP_KWARGS}
        request = jsonable(request)
        if self.stream and self.chunks is not None and self.assemble is not None:
            response = self.assemble(list(self.chunks))
        else:
            response = jsonable(self.response) if self.response is not None else {}
        if not isinstance(response, dict):
            response = {"value": response}
        record: dict[str, Any] = {
            "id": self.completion_id,
            "status": "failed" if self.error is not None else "finished",
            "kind": self.kind,
            "provider": self.provider,
            "model": response.get("model") or request.get("model"),
            "request": request,
            "response": response,
            "usage": response.get("usage") if isinstance(response.get("usage"), dict) else None,
            "latency_ms": round((self.ended - self.started) * 1000, 3),
            "tags": list(context.merge(*self.tags)),
            "created_at": datetime.fromtimestamp(self.started_ns / 1e9, UTC).isoformat(),
            "metadata": {"sdk": "plaudit-python", "stream": self.stream},
        }
        if self.first_chunk:
            record["ttft_ms"] = round((self.first_chunk - self.started) * 1000, 3)
        if self.error is not None:
            record["error"] = f"{type(self.error).__name__}: {self.error}"[:100_000]
            record["metadata"]["failure_kind"] = type(self.error).__name__
            status = getattr(self.error, "status_code", None)
            if isinstance(status, int):
                record["metadata"]["status_code"] = status
        if self.stream and not self.clean and self.error is None:
            record["metadata"]["stream_abandoned"] = True
        return record


class _Recorder:
    """Iterator proxy: yields the SDK's items unchanged, remembering each one."""

    __slots__ = ("_inner", "_call")

    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._call = call

    def __iter__(self) -> _Recorder:
        return self

    def __next__(self) -> Any:
        call = self._call
        try:
            item = next(self._inner)
        except StopIteration:
            call.clean = True
            call.end_stream()
            raise
        except BaseException as exc:
            call.end_stream(exc)
            raise
        if not call.first_chunk:
            call.first_chunk = perf_counter()
        chunks = call.chunks
        if chunks is not None:
            chunks.append(item)
        return item


class _AsyncRecorder:
    __slots__ = ("_inner", "_call")

    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._call = call

    def __aiter__(self) -> _AsyncRecorder:
        return self

    async def __anext__(self) -> Any:
        call = self._call
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            call.clean = True
            call.end_stream()
            raise
        except BaseException as exc:
            call.end_stream(exc)
            raise
        if not call.first_chunk:
            call.first_chunk = perf_counter()
        chunks = call.chunks
        if chunks is not None:
            chunks.append(item)
        return item
