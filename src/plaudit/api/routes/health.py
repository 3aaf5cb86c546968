"""Liveness/readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from plaudit.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    """200 once the server can reach its database."""
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
