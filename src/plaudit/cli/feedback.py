"""``plaudit feedback …``: give, list, edit and download feedback on completions."""

from __future__ import annotations

from typing import Any

import typer

from plaudit.cli.download import download_jsonl
from plaudit.cli.http import client
from plaudit.cli.options import JsonFlag, QuietFlag, compact, parse_json_option, split_list, when
from plaudit.cli.output import console, fail, print_json, print_table

feedback_app = typer.Typer(
    help="Feedback on completions, validated against its task's JSON Schema.",
    no_args_is_help=True,
)

PATH = "/api/v1/feedback"
TaskIdFilter = typer.Option(
    None, "--task-id", help="Only feedback of this task (default: every task)."
)
CompletionIdFilter = typer.Option(
    None, "--completion-id", help="Only feedback attached to this completion."
)


def _show(item: dict[str, Any]) -> None:
    rows = [
        ("id", item["id"]),
        ("task", f"{item.get('task_name') or ''} ({item['task_id']}, v{item.get('task_version')})"),
        ("json_values", compact(item.get("json_values"), 2000)),
        ("comment", item.get("comment") or ""),
        ("completion_tags_selector", ", ".join(item.get("completion_tags_selector") or [])),
        ("matched_completion_ids", "\n".join(item.get("matched_completion_ids") or [])),
        ("created_at", when(item.get("created_at"))),
        ("updated_at", when(item.get("updated_at"))),
    ]
    print_table("Feedback", ["field", "value"], rows, no_wrap=["field"])


@feedback_app.command("create")
def create_feedback(
    task_id: str = typer.Option(..., "--task-id", help="The feedback task."),
    values: str = typer.Option(
        ..., "--values", help='The answers as JSON, e.g. \'{"feedback": "😀"}\'.'
    ),
    completion_tags_selector: str | None = typer.Option(
        None,
        "--completion-tags-selector",
        help="Comma-separated tags (AND) picking the completions this feedback is about.",
    ),
    completion_ids: str | None = typer.Option(
        None, "--completion-ids", help="Comma-separated completion ids (instead of a selector)."
    ),
    comment: str = typer.Option("", "--comment", help="Free-text comment."),
    allow_unmatched: bool = typer.Option(
        False, "--allow-unmatched", help="Store the feedback even if no completion matches."
    ),
    json_output: bool = JsonFlag,
    quiet: bool = QuietFlag,
) -> None:
    """Give feedback: values are checked against the task's schema before anything is stored."""
    body: dict[str, Any] = {
        "task_id": task_id,
        "json_values": parse_json_option(values, "--values"),
        "completion_tags_selector": split_list(completion_tags_selector),
        "comment": comment,
        "allow_unmatched_feedback": allow_unmatched,
    }
    if completion_ids is not None:
        body["completion_ids"] = split_list(completion_ids)
    with client() as api:
        item = api.post(PATH, body)
    if json_output:
        print_json(item)
        return
    if quiet:
        console.print(item["id"], highlight=False, soft_wrap=True)
        return
    matched = item.get("matched_completion_ids") or []
    console.print(
        f"feedback {item['id']} recorded on {len(matched)} completion(s): {', '.join(matched)}",
        highlight=False,
        soft_wrap=True,
    )


@feedback_app.command("list")
def list_feedback(
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many items."),
    limit: int = typer.Option(25, "--limit", min=1, help="Show at most this many items."),
    task_id: str | None = TaskIdFilter,
    completion_id: str | None = CompletionIdFilter,
    json_output: bool = JsonFlag,
) -> None:
    """List feedback, newest first."""
    with client() as api:
        page = api.get(
            PATH, offset=offset, limit=limit, task_id=task_id, completion_id=completion_id
        )
    if json_output:
        print_json(page)
        return
    rows = [
        (f["id"], f.get("task_name") or f["task_id"], compact(f.get("json_values")),
         compact(f.get("comment"), 40), len(f.get("matched_completion_ids") or []))
        for f in page["data"]
    ]  # fmt: skip
    columns = ["id", "task", "values", "comment", "completions"]
    print_table("Feedback", columns, rows, no_wrap=["id"])
    console.print(f"Total feedback: {page['total']}", highlight=False, soft_wrap=True)


@feedback_app.command("get")
def get_feedback(
    feedback_id: str = typer.Option(..., "--id", help="Feedback id."),
    json_output: bool = JsonFlag,
) -> None:
    """Show one feedback item."""
    with client() as api:
        item = api.get(f"{PATH}/{feedback_id}")
    if json_output:
        print_json(item)
    else:
        _show(item)


@feedback_app.command("download")
def download_feedback(
    task_id: str | None = TaskIdFilter,
    completion_id: str | None = CompletionIdFilter,
    offset: int = typer.Option(0, "--offset", min=0, help="Skip the first N items (oldest first)."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Stop after N items."),
    file: str | None = typer.Option(
        None, "--file", "-f", help="Write JSON Lines here (default: stdout)."
    ),
) -> None:
    """Download feedback as JSON Lines (one item per line), streamed."""
    with client() as api:
        total = api.get(PATH, limit=1, task_id=task_id, completion_id=completion_id)["total"]
        download_jsonl(
            api,
            f"{PATH}/download",
            {"task_id": task_id, "completion_id": completion_id},
            file=file,
            noun="feedback item",
            total=total,
            offset=offset,
            limit=limit,
        )


@feedback_app.command("edit")
def edit_feedback(
    feedback_id: str = typer.Option(..., "--id", help="Feedback id."),
    values: str | None = typer.Option(None, "--values", help="New answers as JSON."),
    comment: str | None = typer.Option(None, "--comment", help="New comment."),
    json_output: bool = JsonFlag,
) -> None:
    """Change values and/or comment; the previous state is kept in the history."""
    changes: dict[str, Any] = {}
    if values is not None:
        changes["json_values"] = parse_json_option(values, "--values")
    if comment is not None:
        changes["comment"] = comment
    if not changes:
        fail("nothing to change: give --values and/or --comment")
    with client() as api:
        item = api.patch(f"{PATH}/{feedback_id}", changes)
    if json_output:
        print_json(item)
    else:
        _show(item)


@feedback_app.command("delete")
def delete_feedback(
    feedback_id: str = typer.Option(..., "--id", help="Feedback id."),
    json_output: bool = JsonFlag,
) -> None:
    """Delete a feedback item (its history is kept)."""
    with client() as api:
        result = api.delete(f"{PATH}/{feedback_id}")
    if json_output:
        print_json(result)
    else:
        console.print(f"deleted feedback {feedback_id}", highlight=False, soft_wrap=True)


@feedback_app.command("history")
def feedback_history(
    feedback_id: str = typer.Option(..., "--id", help="Feedback id."),
    json_output: bool = JsonFlag,
) -> None:
    """Earlier states of a feedback item (edits and deletion), oldest first."""
    with client() as api:
        page = api.get(f"{PATH}/{feedback_id}/history")
    if json_output:
        print_json(page)
        return
    rows = [
        (when(r.get("changed_at")), r.get("action"), compact(r.get("json_values")),
         compact(r.get("comment"), 40), r.get("task_version"))
        for r in page["data"]
    ]  # fmt: skip
    print_table(f"History of {feedback_id}", ["changed", "action", "values", "comment", "v"], rows)
