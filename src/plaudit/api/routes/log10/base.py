"""What every log10-compatible route shares."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from plaudit.api.errors import Log10Route
from plaudit.api.jsonio import ORJSONRequest

MAX_PAGE = 1000


class Log10JSONRoute(Log10Route):
    """log10's error envelope plus orjson body parsing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(ORJSONRequest(request.scope, request.receive))

        return route_handler


def log10_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=Log10JSONRoute, **kwargs)


def remaining_total(count: int, offset: int) -> int:
    """log10's pager loops forever when `total` overstates what is left from `offset`."""
    return max(count - offset, 0)
