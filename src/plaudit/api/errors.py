"""The one place domain errors become HTTP responses.

plaudit's routes answer ``{"error": {"code", "message", "path"}}``; log10-compatible routes
keep log10's envelope, where ``error`` is a string (its client does ``response.json()["error"]``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from plaudit.api.jsonio import ORJSONResponse
from plaudit.errors import Overloaded, PlauditError

log = logging.getLogger("plaudit.api")


class Log10Route(APIRoute):
    """Marks a route as log10-compatible so its errors use log10's envelope."""


def _is_log10(request: Request) -> bool:
    return isinstance(request.scope.get("route"), Log10Route)


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    path: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if _is_log10(request):
        body: dict[str, Any] = {"error": message, "code": code}
        if path:
            body["path"] = path
    else:
        body = {"error": {"code": code, "message": message}}
        if path:
            body["error"]["path"] = path
        if details is not None:
            body["error"]["details"] = details
    return ORJSONResponse(body, status_code=status, headers=headers)


def _loc_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


async def _plaudit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlauditError)
    headers = None
    if isinstance(exc, Overloaded):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    return error_response(
        request, exc.status, exc.code, exc.message, exc.path, exc.details, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(request, 400, "malformed_json", "request body is not valid JSON")
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = _loc_path(tuple(first.get("loc", ())))
    message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    details = [
        {"path": _loc_path(tuple(e.get("loc", ()))), "message": str(e.get("msg"))} for e in errors
    ]
    return error_response(request, 422, "invalid", message, where or None, details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
        413: "payload_too_large", 422: "invalid",
    }  # fmt: skip
    code = codes.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, code, message, headers=headers)


async def _database_busy(request: Request, exc: Exception) -> Response:
    """Lock timeouts, deadlocks and serialisation failures are load, not bugs: the transaction
    was rolled back (nothing half-written), so tell the client to retry."""
    if isinstance(exc, OperationalError | DBAPIError) and _is_contention(exc):
        log.warning("database contention on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(
            request, 503, "overloaded", "the database is busy; retry shortly",
            headers={"Retry-After": "1"},
        )  # fmt: skip
    if isinstance(exc, IntegrityError):
        return error_response(
            request, 409, "conflict", "a concurrent request changed the same data; retry"
        )
    return await _unexpected(request, exc)


def _is_contention(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return "database is locked" in text or "database is busy" in text or code in _RETRYABLE


_RETRYABLE = {"40001", "40P01", "55P03"}  # serialization_failure, deadlock, lock_not_available


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal", "internal server error")


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PlauditError, _plaudit_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_busy)
    app.add_exception_handler(Exception, _unexpected)
