"""Root of the ``plaudit`` command: one Typer app, one module per command group.

Users paste commands from log10's docs and CLI, which spell things differently; ``normalise_argv``
maps every accepted spelling onto the canonical one before Typer parses, so ``--help`` shows a
single spelling while ``--task_id``, ``feedback task create`` and ``--task_schema`` all work.
"""

from __future__ import annotations

import sys

import typer

from plaudit.cli import server

app = typer.Typer(
    name="plaudit",
    help="Self-hosted human feedback for LLM output.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server.register(app)

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
        sys.modules[_module].register(app)  # type: ignore[attr-defined]
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
OPTION_ALIASES = {"--task-schema": "--json-schema", "--completion-id": "--completion-id"}
GROUP_ALIASES = {("feedback", "task"): ["feedback-task"]}


def normalise_argv(argv: list[str]) -> list[str]:
    out: list[str] = []
    if len(argv) >= 2 and (argv[0], argv[1]) in GROUP_ALIASES:
        argv = GROUP_ALIASES[(argv[0], argv[1])] + argv[2:]
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
    app(args=normalise_argv(sys.argv[1:]), prog_name="plaudit")


if __name__ == "__main__":
    main()
