"""Batch ingestion: ``POST /api/v1/completions/batch`` through the group-commit writer."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from plaudit.api.deps import CurrentPrincipal
from plaudit.api.jsonio import ORJSONRoute
from plaudit.core.ingest import Batch, IngestWriter
from plaudit.core.ingest_items import parse_batch_body
from plaudit.threads import run_blocking

router = APIRouter(prefix="/api/v1/completions", tags=["completions"], route_class=ORJSONRoute)

_INLINE_PARSE_BYTES = 64 * 1024  # bigger bodies are parsed (and made rows) off the event loop


@router.post("/batch")
async def ingest_batch(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Log up to 5,000 completions in one call (upsert by `id`; retries create no duplicates).

    Body: `{"completions": [{id, status, kind, model, provider, request, response, usage,
    latency_ms, ttft_ms, error, session_id, tags, metadata, created_at}, ...]}`, optionally
    gzip-encoded. Answers `{"accepted": n}` only after the rows are committed; 422 names the
    first bad item's index and field (nothing is written); 503 with `Retry-After` when the
    server's ingest queue is full.
    """
    principal.require("ingest")
    body = await request.body()
    writer: IngestWriter = request.app.state.ingest

    def prepare() -> Batch:
        return writer.prepare(principal.org_id, parse_batch_body(body))

    batch = await run_blocking(prepare) if len(body) > _INLINE_PARSE_BYTES else prepare()
    accepted = await asyncio.wrap_future(writer.submit(batch))
    return {"accepted": accepted}
