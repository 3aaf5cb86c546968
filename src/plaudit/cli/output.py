"""Console output shared by all commands: rich tables, JSON, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    no_wrap: Sequence[str] = (),
) -> None:
    """``no_wrap`` columns (ids, times) are never folded, so they can be copied whole."""
    table = Table(title=title)
    for column in columns:
        if column in no_wrap:
            table.add_column(column, no_wrap=True, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit non-zero with one line on stderr (no traceback for user errors)."""
    err_console.print(f"[red]Error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
