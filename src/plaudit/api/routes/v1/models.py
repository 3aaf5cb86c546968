"""The model registry (admin): CRUD and a one-click test call. Secrets are write-only."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from plaudit.api.deps import CurrentPrincipal, SessionDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.gateway import CallContext, get_gateway
from plaudit.gateway import registry as models
from plaudit.schemas.models import ModelCreate, ModelRead, ModelTest, ModelTestResult, ModelUpdate

router = APIRouter(prefix="/api/v1/models", tags=["models"], route_class=ORJSONRoute)


@router.post("", status_code=201, response_model=ModelRead)
def create_model(body: ModelCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    """Register a model. `secret` is stored and never returned (`has_secret` says if set)."""
    principal.require()
    fields = body.model_dump(exclude_unset=True)
    return models.public_fields(models.create_model(session, principal.org_id, **fields))


@router.get("")
def list_models(
    session: SessionDep, principal: CurrentPrincipal, include_archived: bool = False
) -> dict[str, Any]:
    principal.require()
    rows = models.list_models(session, principal.org_id, include_archived=include_archived)
    data = [models.public_fields(m) for m in rows]
    return {"data": data, "total": len(data)}


@router.get("/{model_id}", response_model=ModelRead)
def get_model(model_id: int, session: SessionDep, principal: CurrentPrincipal) -> Any:
    principal.require()
    model = models.get_model(session, principal.org_id, model_id, include_archived=True)
    return models.public_fields(model)


@router.patch("/{model_id}", response_model=ModelRead)
def update_model(
    model_id: int, body: ModelUpdate, session: SessionDep, principal: CurrentPrincipal
) -> Any:
    principal.require()
    model = models.get_model(session, principal.org_id, model_id)
    return models.public_fields(models.update_model(session, model, **body.changes()))


@router.delete("/{model_id}", response_model=ModelRead)
def archive_model(model_id: int, session: SessionDep, principal: CurrentPrincipal) -> Any:
    """Archive: the model leaves lists and calls; completions and jobs keep its id."""
    principal.require()
    model = models.get_model(session, principal.org_id, model_id)
    return models.public_fields(models.archive_model(session, model))


@router.post("/{model_id}/test", response_model=ModelTestResult)
async def test_model(
    model_id: int, request: Request, principal: CurrentPrincipal, body: ModelTest | None = None
) -> Any:
    """One short call. `ok: false` carries the upstream's error (the secret never appears)."""
    principal.require()
    # No request transaction here: a write lock must not be held during an upstream call.
    spec = await anyio.to_thread.run_sync(
        models.load_spec, request.app.state.read_sessions, principal.org_id, model_id
    )
    body = body or ModelTest()
    messages = [{"role": "user", "content": body.prompt}]
    if body.system_prompt:
        messages.insert(0, {"role": "system", "content": body.system_prompt})
    delta = await get_gateway(request.app).complete(
        spec, CallContext(messages=messages, tags=["via:model-test"])
    )
    return {
        "ok": delta.kind == "done",
        "model_id": spec.id,
        "reply": delta.text,
        "error": delta.error,
        "completion_id": delta.completion_id,
        "latency_ms": delta.latency_ms,
        "ttft_ms": delta.ttft_ms,
    }
