"""AI Chat Feedback jobs: the owner's side (admin) and ``next`` for contributors.

Contributors are user principals (role contributor, or reviewer for QA jobs). An API key with
admin scope may act as any contributor by naming them in the ``X-Plaudit-Contributor`` header
(or a ``contributor_id`` query parameter): scripts and tests simulate many contributors so.
"""

from __future__ import annotations

import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from plaudit.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from plaudit.api.jsonio import ORJSONRoute
from plaudit.api.routes.streaming import jsonl_response
from plaudit.chat import jobs, qa, results, units
from plaudit.chat.state import next_unit
from plaudit.core.principal import Principal
from plaudit.db.session import session_scope
from plaudit.errors import BadRequest, Forbidden, Invalid
from plaudit.schemas.jobs import JobCreate, JobUpdate, QACreate
from plaudit.threads import run_write

router = APIRouter(prefix="/api/v1/jobs", tags=["chat jobs"], route_class=ORJSONRoute)

MAX_CONTRIBUTOR_ID = 64


def contributor_of(request: Request, principal: Principal) -> str:
    """Who is chatting: the signed-in person, or whom an admin key acts for."""
    named = request.headers.get("x-plaudit-contributor") or request.query_params.get(
        "contributor_id"
    )
    if not named:
        return principal.actor_id
    if principal.scope != "admin" or principal.user_id is not None:
        raise Forbidden("only admin API keys may act for a contributor (X-Plaudit-Contributor)")
    named = named.strip()
    if not named or len(named) > MAX_CONTRIBUTOR_ID or not named.isprintable():
        raise Invalid(
            f"X-Plaudit-Contributor must be 1..{MAX_CONTRIBUTOR_ID} printable characters",
            path="X-Plaudit-Contributor",
        )
    return named


@router.post("")
def create_job(body: JobCreate, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Create a draft job from CML, an ontology (JSON Schema) and the models."""
    principal.require()
    job = jobs.create_job(
        session, principal.org_id, body.to_fields(), created_by=principal.actor_id
    )
    return jobs.job_dict(job)


@router.get("")
def list_jobs(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    principal.require()
    found = jobs.list_jobs(session, principal.org_id)
    return {"data": [jobs.job_dict(j) for j in found], "total": len(found)}


@router.get("/{job_id}")
def get_job(job_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    principal.require()
    return jobs.job_dict(jobs.get_job(session, principal.org_id, job_id))


@router.patch("/{job_id}")
def update_job(
    job_id: str, body: JobUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Edit a draft job (409 once launched)."""
    principal.require()
    return jobs.job_dict(jobs.update_job(session, principal.org_id, job_id, body.changes()))


@router.delete("/{job_id}")
def delete_job(job_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Delete a draft job and its units (409 once launched)."""
    principal.require()
    jobs.delete_job(session, principal.org_id, job_id)
    return {"id": job_id, "deleted": True}


def _state_route(verb: str, doc: str) -> None:
    def change_state(
        job_id: str, session: SessionDep, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        principal.require()
        return jobs.job_dict(jobs.change_state(session, principal.org_id, job_id, verb))

    change_state.__doc__ = doc
    router.add_api_route(f"/{{job_id}}/{verb}", change_state, methods=["POST"], name=f"{verb}_job")


for _verb, _doc in (
    ("launch", "Draft → running: open the units to contributors (409 without units)."),
    ("pause", "Running → paused: no new units are handed out."),
    ("resume", "Paused → running."),
    ("finish", "Running or paused → finished: nothing more is collected."),
):
    _state_route(_verb, _doc)


@router.get("/{job_id}/status")
def status(job_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    principal.require()
    return jobs.job_status(session, jobs.get_job(session, principal.org_id, job_id))


@router.post("/{job_id}/units")
async def upload_units(
    job_id: str, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Upload units as CSV (``text/csv`` body, or a multipart ``file``): all rows or none."""
    principal.require()
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest("multipart upload needs a 'file' part holding the CSV")
        while chunk := await upload.read(1024 * 1024):
            spool.write(chunk)
    else:
        async for chunk in request.stream():
            spool.write(chunk)
    spool.seek(0)
    sessions = request.app.state.write_sessions

    def load() -> dict[str, Any]:
        with session_scope(sessions) as session, spool:
            job = jobs.get_job(session, principal.org_id, job_id, for_update=True)
            return units.upload_units(session, job, spool)

    return await run_write(sessions, load)


@router.post("/{job_id}/next")
def next_assignment(
    job_id: str,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Your current unit (lease renewed) or the next one; ``assignment`` null when none left.

    Contributors sign in as users (role contributor; reviewer for QA jobs). An admin API key
    may act for any contributor by naming them in the ``X-Plaudit-Contributor`` header (or the
    ``contributor_id`` query parameter); the same header must then be sent on every
    ``/api/v1/assignments/...`` call of that contributor.
    """
    job = jobs.get_job(session, principal.org_id, job_id)
    who = contributor_of(request, principal)
    return next_unit(session, principal, job, who, settings.unit_lease_seconds)


@router.post("/{job_id}/qa")
def create_qa_job(
    job_id: str, body: QACreate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A draft QA job over every judgment of a finished job."""
    principal.require()
    job = qa.create_qa_job(
        session, principal.org_id, job_id, body.to_options(), created_by=principal.actor_id
    )
    return jobs.job_dict(job)


@router.get("/{job_id}/results", response_model=None)
def download_results(
    job_id: str,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    """Every judgment: JSON Lines (default) or CSV, streamed."""
    principal.require()
    job = jobs.get_job(session, principal.org_id, job_id)
    name = jobs.job_config(job).name
    if format == "jsonl":
        return jsonl_response(
            request,
            lambda s: results.result_records(s, job, name),
            filename=f"job-{job.id}-results.jsonl",
        )
    factory = request.app.state.read_sessions

    def body() -> Any:
        with factory() as read_session:
            yield from results.csv_chunks(read_session, job, name)

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="job-{job.id}-results.csv"'},
    )
