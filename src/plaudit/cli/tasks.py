"""``plaudit feedback-task …`` (also ``plaudit feedback task …``): define what reviewers answer."""

from __future__ import annotations

from typing import Any

import typer

from plaudit.cli.http import client
from plaudit.cli.options import JsonFlag, QuietFlag, compact, parse_json_option, split_list, when
from plaudit.cli.output import console, fail, print_json, print_table

tasks_app = typer.Typer(
    help="Feedback tasks: a JSON Schema form, a completion tag selector and an instruction.",
    no_args_is_help=True,
)

PATH = "/api/v1/feedback_task"
SelectorOption = typer.Option(
    None,
    "--completion-tags-selector",
    help="Comma-separated tags (AND): completions carrying all of them are offered for review.",
)


def _show(task: dict[str, Any]) -> None:
    rows = [
        ("id", task["id"]),
        ("name", task["name"]),
        ("instruction", task.get("instruction") or ""),
        ("completion_tags_selector", ", ".join(task.get("completion_tags_selector") or [])),
        ("version", task.get("version")),
        ("reviews_per_item", task.get("reviews_per_item")),
        ("archived", task.get("archived")),
        ("created_at", when(task.get("created_at"))),
        ("json_schema", compact(task.get("json_schema"), 2000)),
    ]
    print_table(f"Feedback task {task['name']}", ["field", "value"], rows, no_wrap=["field"])


@tasks_app.command("create")
def create_task(
    name: str = typer.Option(..., "--name", help="Task name."),
    json_schema: str = typer.Option(
        ...,
        "--json-schema",
        help="The feedback form as a JSON Schema object (log10: --task_schema).",
    ),
    completion_tags_selector: str | None = SelectorOption,
    instruction: str = typer.Option("", "--instruction", help="What reviewers should do."),
    reviews_per_item: int = typer.Option(
        1, "--reviews-per-item", help="Independent reviews wanted per completion."
    ),
    json_output: bool = JsonFlag,
    quiet: bool = QuietFlag,
) -> None:
    """Create a feedback task and print its id."""
    body = {
        "name": name,
        "json_schema": parse_json_option(json_schema, "--json-schema"),
        "completion_tags_selector": split_list(completion_tags_selector),
        "instruction": instruction,
        "reviews_per_item": reviews_per_item,
    }
    with client() as api:
        task = api.post(PATH, body)
    if json_output:
        print_json(task)
    elif quiet:
        console.print(task["id"], highlight=False, soft_wrap=True)
    else:
        console.print(
            f"Use this task_id to add feedback: {task['id']}", highlight=False, soft_wrap=True
        )


@tasks_app.command("list")
def list_tasks(
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many tasks."),
    limit: int = typer.Option(25, "--limit", min=1, help="Show at most this many tasks."),
    archived: bool = typer.Option(False, "--archived", help="List archived tasks instead."),
    json_output: bool = JsonFlag,
) -> None:
    """List feedback tasks, newest first."""
    with client() as api:
        page = api.get(PATH, offset=offset, limit=limit, archived=str(archived).lower())
    if json_output:
        print_json(page)
        return
    rows = [
        (t["id"], t["name"], ", ".join(t.get("completion_tags_selector") or []),
         ", ".join(t.get("json_schema", {}).get("required") or []), t.get("version"))
        for t in page["data"]
    ]  # fmt: skip
    columns = ["id", "name", "selector", "required", "v"]
    print_table("Feedback tasks", columns, rows, no_wrap=["id"])
    console.print(f"Total tasks: {page['total']}", highlight=False, soft_wrap=True)


@tasks_app.command("get")
def get_task(
    task_id: str = typer.Option(..., "--id", help="Task id."),
    json_output: bool = JsonFlag,
) -> None:
    """Show one feedback task."""
    with client() as api:
        task = api.get(f"{PATH}/{task_id}")
    if json_output:
        print_json(task)
    else:
        _show(task)


@tasks_app.command("edit")
def edit_task(
    task_id: str = typer.Option(..., "--id", help="Task id."),
    name: str | None = typer.Option(None, "--name", help="New name."),
    json_schema: str | None = typer.Option(
        None, "--json-schema", help="New JSON Schema (makes a new version; old feedback keeps its)."
    ),
    completion_tags_selector: str | None = SelectorOption,
    instruction: str | None = typer.Option(None, "--instruction", help="New instruction."),
    reviews_per_item: int | None = typer.Option(None, "--reviews-per-item"),
    json_output: bool = JsonFlag,
) -> None:
    """Change a task; only the options given are changed."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if json_schema is not None:
        changes["json_schema"] = parse_json_option(json_schema, "--json-schema")
    if completion_tags_selector is not None:
        changes["completion_tags_selector"] = split_list(completion_tags_selector)
    if instruction is not None:
        changes["instruction"] = instruction
    if reviews_per_item is not None:
        changes["reviews_per_item"] = reviews_per_item
    if not changes:
        fail("nothing to change: give at least one of --name, --json-schema, "
             "--completion-tags-selector, --instruction, --reviews-per-item")  # fmt: skip
    with client() as api:
        task = api.patch(f"{PATH}/{task_id}", changes)
    if json_output:
        print_json(task)
    else:
        _show(task)


@tasks_app.command("archive")
def archive_task(
    task_id: str = typer.Option(..., "--id", help="Task id."),
    json_output: bool = JsonFlag,
) -> None:
    """Archive a task: hidden from lists and inboxes; its feedback stays."""
    with client() as api:
        task = api.post(f"{PATH}/{task_id}/archive")
    if json_output:
        print_json(task)
    else:
        console.print(
            f"archived task {task['id']} ({task['name']})", highlight=False, soft_wrap=True
        )
