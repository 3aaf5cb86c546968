"""Domain errors. Services raise these; ``api/errors.py`` maps them to HTTP once."""

from __future__ import annotations


class PlauditError(Exception):
    """Base class: a user-facing ``message``, a stable ``code`` and an optional JSON ``path``."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, path: str | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details


class NotFound(PlauditError):
    code = "not_found"
    status = 404


class Conflict(PlauditError):
    code = "conflict"
    status = 409


class Invalid(PlauditError):
    code = "invalid"
    status = 422


class BadRequest(PlauditError):
    code = "bad_request"
    status = 400


class Unauthorized(PlauditError):
    code = "unauthorized"
    status = 401


class Forbidden(PlauditError):
    code = "forbidden"
    status = 403


class TooLarge(PlauditError):
    code = "payload_too_large"
    status = 413


class Overloaded(PlauditError):
    """The server cannot take more work right now; the client should retry later."""

    code = "overloaded"
    status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
