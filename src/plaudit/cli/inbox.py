"""``plaudit inbox …``: review a task's completions one at a time, under a lease."""

from __future__ import annotations

import typer

from plaudit.cli.completions import prompt_text, reply_text
from plaudit.cli.http import client
from plaudit.cli.options import JsonFlag, compact, parse_json_option
from plaudit.cli.output import console, print_json, print_table

inbox_app = typer.Typer(
    help="The reviewer inbox: completions of a task that still need feedback.",
    no_args_is_help=True,
)

TaskIdOption = typer.Option(..., "--task-id", help="The feedback task.")
CompletionIdOption = typer.Option(..., "--completion-id", help="The claimed completion.")


def _path(task_id: str) -> str:
    return f"/api/v1/feedback_task/{task_id}/inbox"


@inbox_app.command("next")
def claim_next(task_id: str = TaskIdOption, json_output: bool = JsonFlag) -> None:
    """Claim the next completion to review (or get back the one you hold)."""
    with client() as api:
        claimed = api.post(f"{_path(task_id)}/next")
    if json_output:
        print_json(claimed)
        return
    item = claimed.get("item")
    if item is None:
        counts = claimed.get("counts") or {}
        console.print(
            f"Nothing left to review ({compact(counts)}).", highlight=False, soft_wrap=True
        )
        return
    completion, task = item["completion"], claimed["task"]
    rows = [
        ("completion_id", completion["id"]),
        ("prompt", prompt_text(completion.get("request") or {})),
        ("completion", reply_text(completion.get("response") or {})),
        ("instruction", task.get("instruction") or ""),
        ("form", compact(task.get("json_schema"), 2000)),
        ("lease_expires_at", item.get("lease_expires_at")),
    ]
    print_table(f"Review for task {task['name']}", ["field", "value"], rows, no_wrap=["field"])
    console.print(
        f"Answer with: plaudit inbox submit --task-id {task_id} "
        f"--completion-id {completion['id']} --values '{{...}}'",
        highlight=False,
        soft_wrap=True,
    )


@inbox_app.command("submit")
def submit(
    task_id: str = TaskIdOption,
    completion_id: str = CompletionIdOption,
    values: str = typer.Option(..., "--values", help="The answers as JSON."),
    comment: str | None = typer.Option(None, "--comment", help="Free-text comment."),
    json_output: bool = JsonFlag,
) -> None:
    """Give feedback on the completion you claimed; its lease is released."""
    body = {"json_values": parse_json_option(values, "--values"), "comment": comment}
    with client() as api:
        item = api.post(f"{_path(task_id)}/{completion_id}/submit", body)
    if json_output:
        print_json(item)
    else:
        console.print(
            f"feedback {item['id']} recorded on {completion_id}", highlight=False, soft_wrap=True
        )


@inbox_app.command("skip")
def skip(
    task_id: str = TaskIdOption,
    completion_id: str = CompletionIdOption,
    json_output: bool = JsonFlag,
) -> None:
    """Give a claimed completion back without feedback."""
    with client() as api:
        result = api.post(f"{_path(task_id)}/{completion_id}/skip")
    if json_output:
        print_json(result)
    else:
        console.print(f"skipped {completion_id}", highlight=False, soft_wrap=True)


@inbox_app.command("status")
def status(
    task_id: str = TaskIdOption,
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Open ids to show."),
    json_output: bool = JsonFlag,
) -> None:
    """How many reviews are open, claimed and done, and the next open completions."""
    with client() as api:
        overview = api.get(_path(task_id), limit=limit)
    if json_output:
        print_json(overview)
        return
    counts = overview.get("counts") or {}
    rows = [(name, value) for name, value in counts.items()]
    rows.append(("reviews_per_item", overview.get("reviews_per_item")))
    print_table("Inbox", ["", "count"], rows)
    open_ids = overview.get("open") or []
    if open_ids:
        console.print(
            "Open: " + ", ".join(str(i) for i in open_ids), highlight=False, soft_wrap=True
        )
