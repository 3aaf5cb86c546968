"""Parsing and display helpers shared by the client-side commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import typer

from plaudit.cli.output import fail

JsonFlag = typer.Option(False, "--json", help="Print the server's JSON instead of a table.")
QuietFlag = typer.Option(False, "--quiet", "-q", help="Print only the new id (for scripts).")


def parse_json_option(raw: str, option: str, *, want_object: bool = True) -> Any:
    """Parse a JSON option value; any problem is a one-line error naming the option."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        fail(f"{option} is not valid JSON: {exc}")
    if want_object and not isinstance(value, dict):
        fail(f'{option} must be a JSON object like \'{{"key": "value"}}\'')
    return value


def split_list(raw: str | None) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]`` (log10 passes selectors and tags comma-separated)."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def parse_time(raw: str | None, option: str) -> str | None:
    """ISO 8601 date or datetime; naive values are taken as UTC."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} must be an ISO 8601 date or time, e.g. 2025-01-31 or 2025-01-31T12:00")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def compact(value: Any, width: int = 60) -> str:
    """One short line for a table cell."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def when(iso: str | None) -> str:
    """``2025-01-31T12:00:00.123+00:00`` → ``2025-01-31 12:00:00``."""
    return (iso or "")[:19].replace("T", " ")
