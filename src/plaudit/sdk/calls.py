"""One logged model call, and how streams report their end.

A :class:`Call` is what the caller's thread hands to the transport: a handful of references and
timestamps. Turning it into the JSON record (dumping pydantic models, assembling stream chunks,
cleaning the request) happens in :meth:`Call.to_record`, on the transport's worker thread.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter, time_ns
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


class Call:
    """Timings and references for one call; built into a record lazily.

    The caller's thread pays for ``__init__`` and ``succeed`` on every call, with cold caches
    (the model call in between evicts them), so they only take timestamps and references: no
    Python helpers, no formatting. Everything else happens in :meth:`to_record` on the worker.
    """

    __slots__ = (
        "provider", "kind", "request", "tags", "started_ns", "seq", "started", "ended",
        "first_chunk", "response", "chunks", "assemble", "error", "stream", "finished", "clean",
        "__weakref__",
    )  # fmt: skip

    def __init__(
        self, provider: str, kind: str, kwargs: dict[str, Any], client_tags: tuple[str, ...]
    ) -> None:
        # ``kwargs`` is the wrapper's own ``**kwargs`` dict, new for this call, so it is kept as
        # is; only the lists in it are copied, so later appends to the caller's lists don't show.
        for key in _COPY_LISTS:
            value = kwargs.get(key)
            if type(value) is list:
                kwargs[key] = value.copy()
        self.request = kwargs
        self.provider = provider
        self.kind = kind
        self.tags = (client_tags, _current_tags())
        self.started_ns = time_ns()
        self.seq = next(ids.sequence)
        self.started = perf_counter()
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

    def succeed(self, response: Any) -> None:
        self.ended = perf_counter()
        self.response = response
        ids.remember(response, self.started_ns, self.seq)
        self.finished = True
        transport.enqueue(self)

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
