"""``plaudit completions …``: read logged completions (list, get, download)."""

from __future__ import annotations

from typing import Any

import typer

from plaudit.cli.download import download_jsonl
from plaudit.cli.http import DEFAULT_TIMEOUT_S, client
from plaudit.cli.options import JsonFlag, compact, parse_time, split_list, when
from plaudit.cli.output import console, print_json, print_table

completions_app = typer.Typer(help="Logged LLM completions.", no_args_is_help=True)

PATH = "/api/v1/completions"
TagsOption = typer.Option(None, "--tags", help="Comma-separated tags; completions need all (AND).")
FromOption = typer.Option(None, "--from", help="Created at or after (ISO 8601; UTC if no zone).")
ToOption = typer.Option(None, "--to", help="Created before (ISO 8601; UTC if no zone).")
TimeoutOption = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="HTTP timeout in seconds.")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts / Anthropic blocks
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def prompt_text(request: dict[str, Any]) -> str:
    """The last user message of a chat request (or a legacy prompt)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return _text(request.get("prompt") or request.get("input"))


def reply_text(response: dict[str, Any]) -> str:
    """The assistant text of an OpenAI chat/completions or Anthropic messages response."""
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message")
        if isinstance(message, dict):
            return _text(message.get("content"))
        return _text(choice.get("text"))
    if response.get("type") == "message":
        return _text(response.get("content"))
    return _text(response.get("output_text"))


def _filters(tags: str | None, start: str | None, end: str | None) -> dict[str, Any]:
    return {
        "tags": ",".join(split_list(tags)) or None,
        "from": parse_time(start, "--from"),
        "to": parse_time(end, "--to"),
    }


@completions_app.command("list")
def list_completions(
    tags: str | None = TagsOption,
    start: str | None = FromOption,
    end: str | None = ToOption,
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many completions."),
    limit: int = typer.Option(25, "--limit", min=1, help="Show at most this many."),
    timeout: float = TimeoutOption,
    json_output: bool = JsonFlag,
) -> None:
    """List completions, newest first."""
    with client(timeout) as api:
        page = api.get(PATH, offset=offset, limit=limit, **_filters(tags, start, end))
    if json_output:
        print_json(page)
        return
    rows = [
        (c["id"], c.get("status"), ", ".join(c.get("tags") or []),
         compact(prompt_text(c.get("request") or {}), 40),
         compact(reply_text(c.get("response") or {}), 40))
        for c in page["data"]
    ]  # fmt: skip
    columns = ["id", "status", "tags", "prompt", "completion"]
    print_table("Completions", columns, rows, no_wrap=["id", "status"])
    console.print(f"Total completions: {page['total']}", highlight=False, soft_wrap=True)


@completions_app.command("get")
def get_completion(
    completion_id: str = typer.Option(..., "--id", help="Completion id."),
    timeout: float = TimeoutOption,
    json_output: bool = JsonFlag,
) -> None:
    """Show one completion."""
    with client(timeout) as api:
        c = api.get(f"{PATH}/{completion_id}")
    if json_output:
        print_json(c)
        return
    rows = [
        ("id", c["id"]),
        ("status", c.get("status")),
        ("model", c.get("model")),
        ("tags", ", ".join(c.get("tags") or [])),
        ("session_id", c.get("session_id")),
        ("latency_ms", c.get("latency_ms")),
        ("usage", compact(c.get("usage"), 200)),
        ("error", c.get("error")),
        ("prompt", prompt_text(c.get("request") or {})),
        ("completion", reply_text(c.get("response") or {})),
        ("created_at", when(c.get("created_at"))),
    ]
    print_table("Completion", ["field", "value"], rows, no_wrap=["field"])


@completions_app.command("download")
def download_completions(
    tags: str | None = TagsOption,
    start: str | None = FromOption,
    end: str | None = ToOption,
    offset: int = typer.Option(0, "--offset", min=0, help="Skip the first N (oldest first)."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Stop after N completions."),
    file: str = typer.Option(
        "completions.jsonl", "--file", "-f", help="Write JSON Lines here ('-' for stdout)."
    ),
    timeout: float = TimeoutOption,
) -> None:
    """Download completions as JSON Lines (one per line), streamed."""
    filters = _filters(tags, start, end)
    with client(timeout) as api:
        total = api.get(PATH, limit=1, **filters)["total"]
        download_jsonl(
            api,
            f"{PATH}/download",
            filters,
            file=file,
            noun="completion",
            total=total,
            offset=offset,
            limit=limit,
        )
