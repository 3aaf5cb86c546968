"""HTML views. They call the same services as the API, never the API over HTTP."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from plaudit import __version__

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")  # autoescaping is on for .html
router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=HERE / "static")


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The landing page: what is running and where to go next."""
    return templates.TemplateResponse(request, "index.html", {"version": __version__})
