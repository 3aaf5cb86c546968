"""``plaudit fake-model``: serve the deterministic fake model for demos and manual testing.

A plain function with ``typer.Option`` defaults; the CLI's main module registers it.
"""

from __future__ import annotations

import typer

from plaudit.gateway.fake import MALFORMED_KINDS, FakeOptions, run_fake_model


def fake_model(
    port: int = typer.Option(9100, "--port", "-p", help="TCP port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback default)."),
    latency_ms: float = typer.Option(0.0, help="Delay before the first byte of every answer."),
    chunk_delay_ms: float = typer.Option(0.0, help="Delay between two stream chunks."),
    error_rate: float = typer.Option(
        0.0, help="Probability (0..1) that a call fails with --error-status."
    ),
    error_status: int = typer.Option(500, help="HTTP status of injected errors."),
    malformed: str | None = typer.Option(
        None, help=f"Send broken answers: one of {', '.join(MALFORMED_KINDS)}."
    ),
    seed: int = typer.Option(0, help="Seed of the RNG behind --error-rate (reproducible runs)."),
    status: int | None = typer.Option(
        None, help="Force this HTTP status on every call (e.g. 429, with Retry-After)."
    ),
    retry_after: float = typer.Option(1.0, help="Retry-After seconds sent with 429/503."),
    fail_first: int = typer.Option(0, help="Fail the first N calls, then succeed."),
    done_marker: bool = typer.Option(
        False, "--done-marker/--no-done-marker", help="End chat streams with 'data: [DONE]'."
    ),
) -> None:
    """Serve a fake OpenAI/Anthropic-compatible model with deterministic replies.

    Models are chosen by name (fake-echo, fake-terse, fake-verbose, fake-pirate, fake-formal,
    anything else is neutral). Per-request overrides: X-Fake-<Option> headers or an
    /opts/name=value,... URL prefix.
    """
    try:
        options = FakeOptions(
            latency_ms=latency_ms,
            chunk_delay_ms=chunk_delay_ms,
            error_rate=error_rate,
            error_status=error_status,
            status=status,
            retry_after=retry_after,
            malformed=malformed.lower() if malformed else None,
            done_marker=done_marker,
            fail_first=fail_first,
            seed=seed,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    run_fake_model(host=host, port=port, **options.as_dict())
