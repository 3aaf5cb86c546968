"""Server-side commands: serve, init, keys, demo. They use the database directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import typer

from plaudit.cli.output import console, fail, print_json, print_table
from plaudit.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# SQLAlchemy and Alembic are imported inside the commands that use them: every `plaudit`
# invocation imports this module, and client-side commands should start fast.

T = TypeVar("T")

keys_app = typer.Typer(help="Manage API keys (stored hashed; only the prefix is shown later).")


@contextmanager
def database() -> Iterator[Session]:
    """A migrated database and one transaction; domain errors become one-line failures."""
    from plaudit.db.migrate import upgrade
    from plaudit.db.session import make_engine, make_sessionmaker, session_scope
    from plaudit.errors import PlauditError

    engine = make_engine(get_settings().resolved_database_url())
    try:
        upgrade(engine)
        with session_scope(make_sessionmaker(engine, write=True)) as session:
            yield session
    except PlauditError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="Worker processes (PostgreSQL only for > 1)."),
) -> None:
    """Apply migrations, then serve the API and web UI."""
    import uvicorn

    from plaudit.db.migrate import upgrade
    from plaudit.db.session import make_engine

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    engine.dispose()
    console.print(
        f"plaudit serving on http://{host}:{port}  (database: {_safe_url()})", soft_wrap=True
    )
    uvicorn.run(
        "plaudit.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().resolved_database_url()).render_as_string(hide_password=True)


def init(
    org: str = typer.Option(..., "--org", help="Organization name."),
    admin_email: str | None = typer.Option(None, help="Admin login (default admin@<slug>.local)."),
    admin_password: str | None = typer.Option(None, help="Admin password (default: generated)."),
    json_output: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Create an organization with an admin user and an admin API key (shown once)."""
    from plaudit.core.orgs import create_organization

    with database() as session:
        created = create_organization(
            session, org, admin_email=admin_email, password=admin_password
        )
        result = {
            "organization_id": created.org.id,
            "organization_slug": created.org.slug,
            "api_key": created.api_key,
            "admin_email": created.admin_email,
            "admin_password": created.admin_password,
        }
    if json_output:
        print_json(result)
        return
    for key, value in result.items():
        console.print(f"{key:>18}: {value}", highlight=False)
    console.print("Keep the API key and password: they are not shown again.")


@keys_app.command("create")
def keys_create(
    org: str = typer.Option(..., "--org", help="Organization slug."),
    scope: str = typer.Option("admin", help="admin | ingest | feedback"),
    name: str | None = typer.Option(None, help="A label for the key."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Create an API key; it is printed once."""
    from plaudit.core.orgs import create_api_key, get_organization_by_slug

    with database() as session:
        organization = get_organization_by_slug(session, org)
        key = create_api_key(session, organization.id, scope, name=name)
    if json_output:
        print_json({"api_key": key, "prefix": key.split("_")[1], "scope": scope, "org": org})
    else:
        console.print(key, highlight=False)


@keys_app.command("list")
def keys_list(
    org: str | None = typer.Option(None, "--org", help="Only this organization's keys."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List keys by prefix (the keys themselves are never stored)."""
    from plaudit.core.orgs import get_organization_by_slug, list_api_keys

    with database() as session:
        org_id = get_organization_by_slug(session, org).id if org else None
        rows = [
            {"prefix": k.prefix, "scope": k.scope, "name": k.name, "org_id": k.org_id,
             "created_at": k.created_at.isoformat(),
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
            for k in list_api_keys(session, org_id)
        ]  # fmt: skip
    if json_output:
        print_json(rows)
        return
    columns = ["prefix", "scope", "name", "created_at", "revoked_at"]
    print_table("API keys", columns, [[r[c] for c in columns] for r in rows])


@keys_app.command("revoke")
def keys_revoke(
    prefix: str = typer.Argument(..., help="The key's prefix (or the whole key)."),
) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    from plaudit.core.orgs import revoke_api_key

    with database() as session:
        key = revoke_api_key(session, prefix)
        console.print(f"revoked {key.prefix}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("init")(init)
    app.add_typer(keys_app, name="keys")


def run_in_db(fn: Callable[[Session], T]) -> T:
    with database() as session:
        return fn(session)
