"""``plaudit demo`` (what ``make run`` runs): a ready-to-try server on the default SQLite database.

First run: migrate, create the "Demo" organization with some tagged completions and a feedback
task, and print its login and API key once. Every run: start the fake model server in a thread,
register the demo models (when the gateway provides them), then serve like ``plaudit serve``.
"""

from __future__ import annotations

import typer

FAKE_MODEL_PORT = 9100


def demo(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    fake_model_port: int = typer.Option(
        FAKE_MODEL_PORT, "--fake-model-port", help="Port of the fake model (busy: any free one)."
    ),
) -> None:
    """Set up the demo organization (first run only), start the fake model, then serve."""
    from plaudit.cli.demo_setup import prepare
    from plaudit.cli.server import serve

    fake = prepare(host, port, fake_model_port)
    try:
        serve(host=host, port=port, workers=1)
    finally:
        fake.stop()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
