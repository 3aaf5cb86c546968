"""Root of the ``plaudit`` command: one Typer app, one module per command group.

Users paste commands from log10's docs and CLI, which spell things differently; ``normalise_argv``
maps every accepted spelling onto the canonical one before Typer parses, so ``--help`` shows a
single spelling while ``--task_id``, ``feedback task create`` and ``--task_schema`` all work.
"""

from __future__ import annotations

import sys

import typer

from plaudit.cli import http, server
from plaudit.cli.output import err_console

try:  # typer >= 0.20 vendors click; earlier versions raise click's own exceptions
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click import ClickException  # type: ignore[assignment]

app = typer.Typer(
    name="plaudit",
    help="Self-hosted human feedback for LLM output.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server.register(app)


@app.callback()
def _root_options(
    url: str | None = typer.Option(
        None, "--url", help="plaudit server for client commands (default: $PLAUDIT_URL)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="API key for client commands (default: $PLAUDIT_API_KEY)."
    ),
) -> None:
    """Self-hosted human feedback for LLM output."""
    http.configure(url=url, api_key=api_key)


# Extra command groups register themselves here (see each module's ``register``).
_GROUPS = (
    "plaudit.cli.client_commands",
    "plaudit.cli.demo",
    "plaudit.cli.models",
    "plaudit.cli.jobs",
)
for _module in _GROUPS:
    try:
        __import__(_module)
        sys.modules[_module].register(app)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise

try:
    from plaudit.cli.fake_model import fake_model

    app.command("fake-model", help="Run plaudit's fake OpenAI/Anthropic model server.")(fake_model)
except ModuleNotFoundError as exc:  # the gateway package is optional in a trimmed install
    if exc.name != "plaudit.cli.fake_model":
        raise

# Option spellings from seed 000 / log10-io mapped to the canonical ones.
OPTION_ALIASES = {
    "--task-schema": "--json-schema",
    "--allow-unmatched-feedback": "--allow-unmatched",
}
GROUP_ALIASES = {("feedback", "task"): ["feedback-task"]}
# Root options that take a value; the command group starts after them.
_ROOT_VALUE_OPTIONS = frozenset({"--url", "--api-key", "--api_key"})


def _command_start(argv: list[str]) -> int:
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        has_value = argv[index] in _ROOT_VALUE_OPTIONS
        index += 2 if has_value else 1
    return index


def normalise_argv(argv: list[str]) -> list[str]:
    out: list[str] = []
    start = _command_start(argv)
    pair = tuple(argv[start : start + 2])
    if pair in GROUP_ALIASES:
        argv = argv[:start] + GROUP_ALIASES[pair] + argv[start + 2 :]
    for index, arg in enumerate(argv):
        if arg == "--":
            out.extend(argv[index:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg.partition("=")
            name = "--" + name[2:].replace("_", "-")
            name = OPTION_ALIASES.get(name, name)
            arg = name + eq + value
        out.append(arg)
    return out


def main() -> None:
    try:
        code = app(args=normalise_argv(sys.argv[1:]), prog_name="plaudit", standalone_mode=False)
    except ClickException as exc:
        # Usage errors as one line, like every other error (not click's multi-line box).
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = exc.format_message()
        if message:  # empty when the help was shown instead (a group called without a command)
            err_console.print(f"[red]Error:[/red] {message}{hint}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("[red]Error:[/red] aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
