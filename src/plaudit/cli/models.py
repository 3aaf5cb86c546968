"""``plaudit models add|list|show|test|remove``: the model registry, server-side like ``keys``.

Secrets are accepted (``--secret`` or, kept out of shell history, ``--secret-env VAR``) and
never printed: list/show report ``has_secret``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
import typer
from sqlalchemy.orm import Session

from plaudit.cli.output import console, fail, print_json, print_table
from plaudit.cli.server import database

models_app = typer.Typer(help="Register and test the models an organization evaluates.")

ORG = typer.Option(..., "--org", help="Organization slug.")
JSON_OUT = typer.Option(False, "--json", help="Print machine-readable JSON.")
LIST_COLUMNS = ["id", "name", "adapter", "upstream_model", "endpoint", "has_secret", "archived"]


def _org_id(session: Session, slug: str) -> str:
    from plaudit.core.orgs import get_organization_by_slug

    return get_organization_by_slug(session, slug).id


def _find(session: Session, org_id: str, ref: str) -> Any:
    """A model by id or by name."""
    from plaudit.gateway import registry

    if ref.isdigit():
        return registry.get_model(session, org_id, int(ref), include_archived=True)
    return registry.get_model_by_name(session, org_id, ref)


def parse_param(text: str) -> tuple[str, Any]:
    """``k=v``; v is read as JSON when it parses (``0.2``, ``true``, ``[1]``), else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        fail(f"--param {text!r}: expected key=value")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key.strip(), value


@models_app.command("add")
def add(
    org: str = ORG,
    name: str = typer.Option(..., help="Unique name within the organization."),
    adapter: str = typer.Option(..., help="openai | anthropic | http | local"),
    endpoint: str | None = typer.Option(None, help="Base URL (openai/anthropic), URL (http)."),
    upstream_model: str | None = typer.Option(None, help="Model name sent upstream."),
    secret: str | None = typer.Option(None, help="API key (write-only; prefer --secret-env)."),
    secret_env: str | None = typer.Option(None, help="Read the API key from this env var."),
    param: list[str] = typer.Option([], help="Default parameter key=value (repeatable)."),
    input_template: str | None = typer.Option(None, help="http: JSON body with ${...}."),
    output_path: str | None = typer.Option(None, help="http: path to the reply text."),
    stream_path: str | None = typer.Option(None, help="http: path to each streamed delta."),
    timeout: float = typer.Option(60.0, help="Seconds without a token before giving up."),
    max_retries: int = typer.Option(2, help="Retries on 429/5xx/connection errors."),
    concurrency: int = typer.Option(8, help="Calls to this model at once."),
    json_output: bool = JSON_OUT,
) -> None:
    """Register a model."""
    from plaudit.gateway import registry

    if secret_env:
        if secret:
            fail("give --secret or --secret-env, not both")
        secret = os.environ.get(secret_env)
        if not secret:
            fail(f"environment variable {secret_env} is not set")
    template = None
    if input_template is not None:
        try:
            template = orjson.loads(input_template)
        except orjson.JSONDecodeError as exc:
            fail(f"--input-template is not valid JSON: {exc}")
    fields: dict[str, Any] = {
        "name": name, "adapter": adapter, "endpoint": endpoint, "upstream_model": upstream_model,
        "secret": secret, "default_params": dict(parse_param(p) for p in param),
        "input_template": template, "output_path": output_path, "stream_path": stream_path,
        "timeout_s": timeout, "max_retries": max_retries, "concurrency": concurrency,
    }  # fmt: skip
    with database() as session:
        model = registry.create_model(session, _org_id(session, org), **fields)
        shown = registry.public_fields(model)
    if json_output:
        print_json(shown)
    else:
        console.print(f"added model {shown['id']} ({shown['name']}, {shown['adapter']})")


@models_app.command("list")
def list_(
    org: str = ORG,
    all_: bool = typer.Option(False, "--all", help="Include archived models."),
    json_output: bool = JSON_OUT,
) -> None:
    """List the organization's models."""
    from plaudit.gateway import registry

    with database() as session:
        rows = registry.list_models(session, _org_id(session, org), include_archived=all_)
        shown = [registry.public_fields(m) for m in rows]
    if json_output:
        print_json(shown)
        return
    print_table("Models", LIST_COLUMNS, [[m[c] for c in LIST_COLUMNS] for m in shown])


@models_app.command("show")
def show(
    model: str = typer.Argument(..., help="Model id or name."),
    org: str = ORG,
    json_output: bool = JSON_OUT,
) -> None:
    """Show one model (never its secret)."""
    from plaudit.gateway import registry

    with database() as session:
        shown = registry.public_fields(_find(session, _org_id(session, org), model))
    if json_output:
        print_json(shown)
        return
    for key, value in shown.items():
        text = orjson.dumps(value).decode() if isinstance(value, dict | list) else value
        console.print(f"{key:>16}: {text}", highlight=False)


@models_app.command("test")
def test(
    model: str = typer.Argument(..., help="Model id or name."),
    org: str = ORG,
    prompt: str = typer.Option("Say hello in five words.", help="The message to send."),
    json_output: bool = JSON_OUT,
) -> None:
    """Send one short message; print the reply (exit 1 with the error when it fails)."""
    from plaudit.config import get_settings
    from plaudit.db.session import make_engine, make_sessionmaker
    from plaudit.gateway import CallContext, Gateway, spec_from_row

    with database() as session:
        spec = spec_from_row(_find(session, _org_id(session, org), model))
    # Recording needs its own write transaction, after the lookup's has ended.
    engine = make_engine(get_settings().resolved_database_url())
    ctx = CallContext(messages=[{"role": "user", "content": prompt}], tags=["via:model-test"])

    async def call() -> Any:
        gateway = Gateway(make_sessionmaker(engine, write=True))
        try:
            return await gateway.complete(spec, ctx)
        finally:
            await gateway.aclose()

    try:
        delta = asyncio.run(call())
    finally:
        engine.dispose()
    result = {
        "ok": delta.kind == "done", "model_id": spec.id, "reply": delta.text,
        "error": delta.error, "completion_id": delta.completion_id,
        "latency_ms": delta.latency_ms, "ttft_ms": delta.ttft_ms,
    }  # fmt: skip
    if json_output:
        print_json(result)
    elif delta.kind == "done":
        console.print(delta.text, highlight=False, markup=False)
        console.print(f"[dim]{delta.latency_ms:.0f} ms, completion {delta.completion_id}[/dim]")
    if delta.kind != "done":
        if json_output:
            raise typer.Exit(1)
        fail(delta.error or "the call failed")


@models_app.command("remove")
def remove(
    model: str = typer.Argument(..., help="Model id or name."),
    org: str = ORG,
) -> None:
    """Archive a model: it leaves lists and chats; old completions and jobs keep its id."""
    from plaudit.gateway import registry

    with database() as session:
        found = _find(session, _org_id(session, org), model)
        model_id, name = found.id, found.name
        registry.archive_model(session, found)
    console.print(f"removed model {model_id} ({name})")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
