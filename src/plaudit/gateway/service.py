"""The gateway: call K models at once, stream their deltas as they arrive, record each call.

Each model runs in its own asyncio task and pushes deltas into one queue, so the caller sees
text in arrival order, tagged by model id. Per model: a concurrency limit (an asyncio
semaphore sized by ``concurrency``), an idle timeout (``timeout_s`` without a token), and
retries with exponential backoff (or the upstream's ``Retry-After``) on 429/5xx/connection
errors — only before the first token, since text already shown cannot be taken back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

import anyio.to_thread
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from plaudit.core.tags import CommittedTagIds, TagKey
from plaudit.db.base import new_id, utcnow
from plaudit.errors import PlauditError
from plaudit.gateway.adapters.base import Adapter, CallRecord
from plaudit.gateway.batch_writer import BatchWriter
from plaudit.gateway.errors import UpstreamError, scrub
from plaudit.gateway.plugins import adapter_class, adapter_classes
from plaudit.gateway.types import CallContext, Delta, ModelSpec

log = logging.getLogger("plaudit.gateway")

BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 8.0
RETRY_AFTER_MAX_S = 30.0  # an upstream asking for minutes is as good as down: fail clearly


class _LoopResources:
    """Adapters (with their HTTP clients), semaphores and batch writers belong to one loop."""

    def __init__(self) -> None:
        self.adapters: dict[str, Adapter] = {}
        self.limits: dict[tuple[int, int], asyncio.Semaphore] = {}
        self.writers: dict[sessionmaker[Session], BatchWriter] = {}

    async def adapter(self, name: str) -> Adapter:
        adapter = self.adapters.get(name)
        if adapter is None:
            cls = adapter_class(name)
            await anyio.to_thread.run_sync(cls.warm_up)
            if name not in self.adapters:  # another task may have made it meanwhile
                fresh = cls()
                await fresh.start()
                self.adapters.setdefault(name, fresh)
            adapter = self.adapters[name]
        return adapter

    def limit(self, spec: ModelSpec) -> asyncio.Semaphore:
        key = (spec.id, max(1, spec.concurrency))
        semaphore = self.limits.get(key)
        if semaphore is None:
            semaphore = self.limits[key] = asyncio.Semaphore(key[1])
        return semaphore


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``attempt + 1``."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_MAX_S)
    ceiling = min(BACKOFF_BASE_S * 2**attempt, BACKOFF_MAX_S)
    return ceiling * random.uniform(0.5, 1.0)  # jitter: K callers must not retry in lockstep


class Gateway:
    """Calls registered models; one per app (``app.state.gateway``)."""

    def __init__(self, sessions: sessionmaker[Session] | None = None) -> None:
        self.sessions = sessions  # write sessions to record completions; None: don't record
        self._resources: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopResources]
        self._resources = weakref.WeakKeyDictionary()
        self._write_completions = CompletionWriter()

    def _here(self) -> _LoopResources:
        loop = asyncio.get_running_loop()
        resources = self._resources.get(loop)
        if resources is None:
            resources = self._resources[loop] = _LoopResources()
        return resources

    def batch_writer(self, sessions: sessionmaker[Session]) -> BatchWriter:
        """The running loop's group-commit writer for ``sessions``. The gateway records calls
        through it; callers storing their own rows per call (the chat) share it: their rows
        share transactions, and completions recorded with ``defer_recording`` follow in
        batches of their own."""
        writers = self._here().writers
        writer = writers.get(sessions)
        if writer is None:
            writer = writers[sessions] = BatchWriter(sessions)
        return writer

    async def stream_many(
        self,
        specs: list[ModelSpec],
        ctx: CallContext | dict[int, CallContext],
        *,
        defer_recording: bool = False,
    ) -> AsyncGenerator[Delta, None]:
        """Run all models concurrently; yield deltas as they arrive, then one terminal
        ``done``/``error`` Delta per model. Closing the iterator early cancels the upstream
        calls; iterating to the end also waits until every call's completion is committed.
        ``defer_recording``: the completions are written a little later, in a batch of their
        own (see ``BatchWriter``), for callers that store rows of their own per call."""
        contexts = _contexts(specs, ctx)
        queue: asyncio.Queue[Delta] = asyncio.Queue()
        tasks = [
            asyncio.create_task(
                self._call(spec, contexts[spec.id], queue.put_nowait, defer_recording)
            )
            for spec in specs
        ]
        pending = len(tasks)
        try:
            while pending:
                delta = await queue.get()
                if delta.terminal:
                    pending -= 1
                yield delta
        finally:
            if pending:  # the caller left early: stop the upstream calls still running
                for task in tasks:
                    task.cancel()
            # Otherwise only recording is left; let it finish even if the caller is cancelled.
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))

    async def complete(self, spec: ModelSpec, ctx: CallContext) -> Delta:
        """Call one model and return its terminal Delta (``done`` with the text, or ``error``)
        once its completion row is committed."""
        final: Delta | None = None
        async for delta in self.stream_many([spec], ctx):
            if delta.terminal:
                final = delta
        if final is None:  # pragma: no cover - stream_many always ends with one
            raise AssertionError("stream_many ended without a terminal delta")
        return final

    async def aclose(self) -> None:
        """Close the adapters' clients of the running loop (the app's shutdown hook)."""
        resources = self._resources.pop(asyncio.get_running_loop(), None)
        if resources is not None:
            for adapter in resources.adapters.values():
                with contextlib.suppress(Exception):
                    await adapter.aclose()

    async def _call(
        self,
        spec: ModelSpec,
        ctx: CallContext,
        emit: Callable[[Delta], None],
        defer_recording: bool = False,
    ) -> None:
        """One model's call, start to recorded finish; never raises except on cancellation."""
        completion_id = new_id()
        record = CallRecord()
        parts: list[str] = []
        timing: dict[str, float | None] = {"start": None, "ttft": None}
        attempts = 0
        error: str | None = None
        try:
            resources = self._here()
            adapter = await resources.adapter(spec.adapter)
            async with resources.limit(spec):
                timing["start"] = time.perf_counter()
                for attempt in range(max(0, spec.max_retries) + 1):
                    attempts = attempt + 1
                    try:
                        await self._attempt(adapter, spec, ctx, record, parts, timing, emit)
                        error = None
                        break
                    except UpstreamError as exc:
                        error = exc.message
                        if parts or not exc.retryable or attempt >= spec.max_retries:
                            break
                        if exc.retry_after is not None and exc.retry_after > RETRY_AFTER_MAX_S:
                            error += f" (Retry-After {exc.retry_after:g}s is too long to wait)"
                            break
                        await asyncio.sleep(backoff_delay(attempt, exc.retry_after))
                if error is not None and attempts > 1:
                    error += f" (after {attempts} attempts)"
        except asyncio.CancelledError:
            raise
        except (UpstreamError, PlauditError) as exc:  # e.g. an unknown adapter name
            error = exc.message
        except Exception as exc:
            log.exception("model %s (id %s): unexpected failure", spec.name, spec.id)
            error = f"internal error in the '{spec.adapter}' adapter ({type(exc).__name__})"
        now = time.perf_counter()
        started = timing["start"] or now
        latency_ms = (now - started) * 1000
        ttft = timing["ttft"]
        ttft_ms = (ttft - started) * 1000 if ttft is not None else None
        text = "".join(parts)
        if error is not None:
            error = scrub(f"model '{spec.name}' (id {spec.id}): {error}", spec.secret)
            log.info("%s", error)
        # The answer goes out first and the row is written right after: the caller should
        # not wait for bookkeeping, and stream_many ends only once every row is committed.
        emit(
            Delta(
                spec.id,
                "error" if error is not None else "done",
                text=text,
                error=error,
                completion_id=completion_id if self.sessions is not None else None,
                latency_ms=latency_ms,
                ttft_ms=ttft_ms,
                usage=record.usage,
            )
        )
        await self._record(
            spec, ctx, completion_id, record, text, error, latency_ms, ttft_ms, attempts,
            defer=defer_recording,
        )  # fmt: skip

    async def _attempt(
        self,
        adapter: Adapter,
        spec: ModelSpec,
        ctx: CallContext,
        record: CallRecord,
        parts: list[str],
        timing: dict[str, float | None],
        emit: Callable[[Delta], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        timeout = max(0.001, spec.timeout_s)
        stream = adapter.stream(spec, ctx, record)
        try:
            async with asyncio.timeout(timeout) as deadline:
                async for piece in stream:
                    deadline.reschedule(loop.time() + timeout)
                    if not piece:
                        continue
                    if timing["ttft"] is None:
                        timing["ttft"] = time.perf_counter()
                    parts.append(piece)
                    # No yield to the loop per piece: the pieces of chunks that arrived
                    # together reach the consumer together (a chat turn then writes them in
                    # one server-sent-events write instead of three socket writes each).
                    emit(Delta(spec.id, "delta", text=piece))
        except TimeoutError:
            if parts:
                raise UpstreamError(
                    f"the stream stalled for more than {timeout:g}s (timeout)"
                ) from None
            raise UpstreamError(f"no answer within {timeout:g}s (timeout)") from None
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:  # stop the upstream request now, not at garbage collection
                await close()

    async def _record(
        self,
        spec: ModelSpec,
        ctx: CallContext,
        completion_id: str,
        record: CallRecord,
        text: str,
        error: str | None,
        latency_ms: float,
        ttft_ms: float | None,
        attempts: int,
        *,
        defer: bool = False,
    ) -> str | None:
        """Store the call as a completion (batched with other writes, off the event loop)."""
        if self.sessions is None:
            return None
        data = completion_data(spec, ctx, record, text, error, latency_ms, ttft_ms, attempts)
        try:
            await self.batch_writer(self.sessions).write(
                self._write_completions, (spec.org_id, completion_id, data), defer=defer
            )
        except Exception:
            log.exception("could not record the call to model %s (id %s)", spec.name, spec.id)
            return None
        return completion_id


class CompletionWriter:
    """Stores calls ``(org_id, completion_id, data)`` as completions (a BatchWriter write).

    The gateway makes a fresh id for every call, so there is no existing row to merge with
    (``upsert_completions`` reads them first) and the rows are plain inserts. A call's tags
    (job, unit, assignment, model) repeat call after call: their ids come from a cache of
    committed tags.
    """

    def __init__(self) -> None:
        self._tag_ids = CommittedTagIds()

    def __call__(
        self, session: Session, items: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> list[str]:
        from plaudit.core import inbox
        from plaudit.core.bulk import insert_new_completions, insert_tag_links
        from plaudit.core.completions import clean_fields

        by_org: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for org_id, completion_id, data in items:
            by_org.setdefault(org_id, []).append((completion_id, clean_fields(data)))
        now = utcnow()
        learned: dict[TagKey, str] = {}
        for org_id, rows in by_org.items():
            insert_new_completions(session, org_id, rows, now)
            tagged = {cid: fields.get("tags", []) for cid, fields in rows}
            names = (t for tags in tagged.values() for t in tags)
            ids = self._tag_ids.resolve(session, org_id, names, learned)
            insert_tag_links(session, [(cid, ids[t]) for cid, tags in tagged.items() for t in tags])
            inbox.match_completions(session, org_id, tagged, new=True)
        if learned:  # kept once this batch has committed
            event.listen(
                session, "after_commit", lambda _session: self._tag_ids.keep(learned), once=True
            )
        return [completion_id for _, completion_id, _ in items]


def completion_data(
    spec: ModelSpec,
    ctx: CallContext,
    record: CallRecord,
    text: str,
    error: str | None,
    latency_ms: float,
    ttft_ms: float | None,
    attempts: int,
) -> dict[str, Any]:
    """The completion row for one call, in log10's OpenAI-like request/response shape."""
    request = dict(record.request) or {"messages": ctx.messages}
    message = {"role": "assistant", "content": text}
    return {
        "status": "failed" if error is not None else "finished",
        "kind": "chat",
        "model": spec.name,
        "provider": spec.adapter,
        "request": request,
        "response": {
            "id": record.upstream_id,
            "object": "chat.completion",
            "model": spec.name,
            "choices": [{"index": 0, "message": message, "finish_reason": record.finish_reason}],
        },
        "usage": record.usage,
        "latency_ms": round(latency_ms, 3),
        "ttft_ms": round(ttft_ms, 3) if ttft_ms is not None else None,
        "error": error,
        "tags": [*ctx.tags, f"model:{spec.id}"],
        "extra": {"model_id": spec.id, "attempts": attempts, "dynamic_attrs": ctx.dynamic_attrs},
    }


def _contexts(
    specs: list[ModelSpec], ctx: CallContext | dict[int, CallContext]
) -> dict[int, CallContext]:
    ids = [spec.id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"stream_many got the same model twice: {ids}")
    if isinstance(ctx, CallContext):
        return dict.fromkeys(ids, ctx)
    missing = [model_id for model_id in ids if model_id not in ctx]
    if missing:
        raise ValueError(f"no CallContext for model ids {missing}")
    return ctx


def get_gateway(app_or_state: Any) -> Gateway:
    """The app's gateway (``app.state.gateway``), created on first use if startup did not."""
    state = getattr(app_or_state, "state", app_or_state)
    gateway = getattr(state, "gateway", None)
    if gateway is None:
        gateway = Gateway(getattr(state, "write_sessions", None))
        state.gateway = gateway
    if not isinstance(gateway, Gateway):
        raise TypeError("app.state.gateway is not a Gateway")
    return gateway


def warm_up_adapters() -> None:
    """Run every adapter's blocking preparation (SDK imports) once, e.g. at startup."""
    for cls in adapter_classes().values():
        cls.warm_up()


def install_gateway(app: Any) -> None:
    """Create the gateway at startup and close its clients at shutdown (call in create_app)."""

    async def start(app: Any) -> None:
        get_gateway(app)
        # The SDKs take long to import; do it off the event loop, before the first call.
        await anyio.to_thread.run_sync(warm_up_adapters)

    async def stop(app: Any) -> None:
        gateway = getattr(app.state, "gateway", None)
        if isinstance(gateway, Gateway):
            await gateway.aclose()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
