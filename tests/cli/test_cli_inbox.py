"""``plaudit inbox next|submit|skip|status`` against a live server."""

from __future__ import annotations

from cli_helpers import log_completion


def test_review_loop(cli, api, emoji_task):
    log_completion(api, "c-1", ["unique-tag"], "one")
    log_completion(api, "c-2", ["unique-tag"], "two")
    status = cli("inbox", "status", "--task_id", emoji_task, "--json").json()
    assert status["counts"]["open"] == 2, status

    claimed = cli("inbox", "next", "--task-id", emoji_task, "--json").json()
    first = claimed["item"]["completion"]["id"]
    assert claimed["task"]["id"] == emoji_task
    again = cli("inbox", "next", "--task-id", emoji_task)  # the same item while the lease holds
    assert again.exit_code == 0 and first in again.stdout and "inbox submit" in again.stdout

    submitted = cli("inbox", "submit", "--task_id", emoji_task, "--completion_id", first,
                    "--values", '{"feedback": "😀"}', "--comment", "nice", "--json")  # fmt: skip
    assert submitted.exit_code == 0, submitted.stderr
    assert submitted.json()["matched_completion_ids"] == [first]

    second = cli("inbox", "next", "--task-id", emoji_task, "--json").json()["item"]
    assert second["completion"]["id"] != first
    skipped = cli("inbox", "skip", "--task-id", emoji_task, "--completion-id",
                  second["completion"]["id"])  # fmt: skip
    assert skipped.exit_code == 0 and "skipped" in skipped.stdout

    done = cli("inbox", "next", "--task-id", emoji_task)
    assert done.exit_code == 0 and "Nothing left to review" in done.stdout
    table = cli("inbox", "status", "--task-id", emoji_task)
    assert table.exit_code == 0 and "reviews_per_item" in table.stdout


def test_submit_invalid_values(cli, api, emoji_task):
    log_completion(api, "c-1", ["unique-tag"])
    cli("inbox", "next", "--task-id", emoji_task)
    bad_json = cli("inbox", "submit", "--task-id", emoji_task, "--completion-id", "c-1",
                   "--values", "not json")  # fmt: skip
    assert bad_json.exit_code == 1 and "--values is not valid JSON" in bad_json.stderr
    bad_value = cli("inbox", "submit", "--task-id", emoji_task, "--completion-id", "c-1",
                    "--values", '{"feedback": "nope"}')  # fmt: skip
    assert bad_value.exit_code == 1 and "HTTP 422" in bad_value.stderr
    assert len(bad_value.error_lines) == 1


def test_unknown_task(cli):
    for command in ("next", "status"):
        ran = cli("inbox", command, "--task-id", "no-such-task")
        assert ran.exit_code == 1 and "HTTP 404" in ran.stderr and len(ran.error_lines) == 1
