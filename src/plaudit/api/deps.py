"""Request dependencies: the DB session (one transaction per request) and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from plaudit.api.jsonio import BODY_ORG_KEY
from plaudit.config import Settings
from plaudit.core.orgs import authenticate_key
from plaudit.core.principal import Principal
from plaudit.db.session import session_scope
from plaudit.errors import Forbidden, Unauthorized
from plaudit.threads import run_blocking

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where ``get_db`` leaves the request's session for ``get_principal`` (an ASGI scope key).
_SESSION_KEY = "plaudit.session"


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent.

    On PostgreSQL the API-key lookup runs in this transaction too (see ``get_principal``)."""
    state = request.app.state
    factory = state.read_sessions if request.method in _READ_METHODS else state.write_sessions
    with session_scope(factory) as session:
        if getattr(state, "auth_in_request_session", False):
            request.scope[_SESSION_KEY] = session
        try:
            yield session
        finally:
            request.scope.pop(_SESSION_KEY, None)


# scope="function": commit runs when the endpoint returns, before the 2xx goes out.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


async def get_settings(request: Request) -> Settings:  # async: no threadpool hop for a read
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-log10-token") or request.headers.get("x-api-key")


def _claimed_orgs(request: Request) -> list[str]:
    """Every organization the caller says it acts for (log10 sends it several ways)."""
    claims = [
        request.headers.get("x-log10-organization-id"),
        request.headers.get("x-log10-organization"),
        request.query_params.get("organization_id"),
        request.scope.get(BODY_ORG_KEY),
    ]
    return [c for c in claims if c]


def check_org(principal: Principal, claimed: str | None) -> None:
    if claimed and claimed not in (principal.org_id, principal.org_slug):
        raise Forbidden("this API key belongs to another organization")


async def get_principal(request: Request) -> Principal:
    """The caller, checked in a worker thread (``run_blocking``: cheaper than FastAPI's own hop
    for a sync dependency).

    On PostgreSQL the check runs in the route's own transaction when get_db put it there
    (route with a session declared before the principal): one checkout, ping and BEGIN per
    request instead of two, and the key is checked in the same snapshot the route reads. A
    failed check rolls it back unused."""
    return await run_blocking(authenticate, request, request.scope.get(_SESSION_KEY))


def authenticate(request: Request, session: Session | None = None) -> Principal:
    """The caller of ``request``: its API key checked in ``session``, else in a read session of
    its own (blocking)."""
    token = _token(request)
    if not token:
        raise Unauthorized(
            "Unauthorized: send an API key as 'Authorization: Bearer <key>' or 'x-log10-token'"
        )
    if session is not None:
        principal = authenticate_key(session, token)
    else:
        with request.app.state.read_sessions() as own:
            principal = authenticate_key(own, token)
    for claimed in _claimed_orgs(request):
        check_org(principal, claimed)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
