"""``plaudit feedback …`` against a live server: create in both spellings, list, get, edit,
delete, download."""

from __future__ import annotations

import orjson
import pytest
from cli_helpers import log_completion


@pytest.fixture
def logged(api):
    log_completion(api, "c-1", ["unique-tag", "x"], "one")
    log_completion(api, "c-2", ["unique-tag"], "two")
    log_completion(api, "c-3", ["other"], "three")


def test_log10_spelling_with_multiline_emoji_values(cli, emoji_task, logged):
    ran = cli(
        "feedback",
        "create",
        "--task_id",
        emoji_task,
        "--values",
        '\n  {\n    "feedback": "😀"\n  }',
        "--completion_tags_selector",
        "unique-tag",
    )
    assert ran.exit_code == 0, ran.stderr
    assert "recorded on 2 completion(s)" in ran.stdout
    items = cli("feedback", "list", "--task-id", emoji_task, "--json").json()["data"]
    assert [i["json_values"] for i in items] == [{"feedback": "😀"}]
    assert sorted(items[0]["matched_completion_ids"]) == ["c-1", "c-2"]


def test_hyphen_spelling_selector_and_comment(cli, emoji_task, logged):
    ran = cli(
        "feedback",
        "create",
        "--task-id",
        emoji_task,
        "--values",
        '{"feedback": "😐"}',
        "--completion-tags-selector",
        "unique-tag,x",
        "--comment",
        "meh",
        "--json",
    )
    assert ran.exit_code == 0, ran.stderr
    item = ran.json()
    assert item["matched_completion_ids"] == ["c-1"]
    assert (item["comment"], item["task_name"]) == ("meh", "emoji")


def test_completion_ids_and_quiet(cli, emoji_task, logged):
    ran = cli("feedback", "create", "--task_id", emoji_task, "--values", '{"feedback": "🙁"}',
              "--completion_ids", "c-3,c-2", "-q")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    feedback_id = ran.stdout.strip()
    item = cli("feedback", "get", "--id", feedback_id, "--json").json()
    assert sorted(item["matched_completion_ids"]) == ["c-2", "c-3"]


def test_zero_matches_needs_allow_unmatched(cli, emoji_task):
    args = ["feedback", "create", "--task-id", emoji_task, "--values", '{"feedback": "😀"}',
            "--completion-tags-selector", "nobody-has-this"]  # fmt: skip
    refused = cli(*args)
    assert refused.exit_code == 1 and len(refused.error_lines) == 1
    assert refused.stderr.startswith("Error: HTTP 4")
    for flag in ("--allow-unmatched", "--allow_unmatched_feedback"):
        ran = cli(*args, flag, "--json")
        assert ran.exit_code == 0, ran.stderr
        assert ran.json()["matched_completion_ids"] == []
    assert cli("feedback", "list", "--json").json()["total"] == 2


def test_invalid_values_json_names_the_option(cli, emoji_task, logged):
    ran = cli("feedback", "create", "--task-id", emoji_task, "--values", "{feedback: 😀}",
              "--completion-tags-selector", "unique-tag")  # fmt: skip
    assert ran.exit_code == 1 and len(ran.error_lines) == 1
    assert "--values is not valid JSON" in ran.stderr


def test_values_against_the_schema_is_a_422_with_the_path(cli, emoji_task, logged):
    ran = cli("feedback", "create", "--task-id", emoji_task, "--values", '{"feedback": "👍"}',
              "--completion-tags-selector", "unique-tag")  # fmt: skip
    assert ran.exit_code == 1 and len(ran.error_lines) == 1
    assert "HTTP 422" in ran.stderr and "feedback" in ran.stderr
    assert cli("feedback", "list", "--json").json()["total"] == 0


def _give(cli, task_id, emoji, selector="unique-tag"):
    ran = cli("feedback", "create", "--task-id", task_id, "--values",
              orjson.dumps({"feedback": emoji}).decode(), "--completion-tags-selector", selector,
              "-q")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    return ran.stdout.strip()


def test_list_table_paging_and_filters(cli, emoji_task, logged):
    first = _give(cli, emoji_task, "😀")
    second = _give(cli, emoji_task, "😫", selector="other")
    table = cli("feedback", "list", "--task_id", emoji_task)
    assert table.exit_code == 0
    assert first in table.stdout and second in table.stdout
    assert "Total feedback: 2" in table.stdout
    page = cli("feedback", "list", "--limit", "1", "--offset", "1", "--json").json()
    assert [i["id"] for i in page["data"]] == [first]  # newest first
    by_completion = cli("feedback", "list", "--completion_id", "c-3", "--json").json()
    assert [i["id"] for i in by_completion["data"]] == [second]


def test_get_table_edit_and_delete(cli, emoji_task, logged):
    feedback_id = _give(cli, emoji_task, "😀")
    shown = cli("feedback", "get", "--id", feedback_id)
    assert shown.exit_code == 0 and "c-1" in shown.stdout and "emoji" in shown.stdout
    edited = cli("feedback", "edit", "--id", feedback_id, "--values", '{"feedback": "😬"}',
                 "--comment", "changed my mind", "--json")  # fmt: skip
    assert edited.exit_code == 0, edited.stderr
    assert edited.json()["json_values"] == {"feedback": "😬"}
    assert edited.json()["comment"] == "changed my mind"
    history = cli("feedback", "history", "--id", feedback_id, "--json").json()
    assert [r["json_values"] for r in history["data"]][-1] == {"feedback": "😀"}
    assert "😀" in cli("feedback", "history", "--id", feedback_id).stdout
    bad = cli("feedback", "edit", "--id", feedback_id, "--values", '{"feedback": 5}')
    assert bad.exit_code == 1 and "HTTP 422" in bad.stderr
    assert cli("feedback", "edit", "--id", feedback_id).exit_code == 1
    deleted = cli("feedback", "delete", "--id", feedback_id)
    assert deleted.exit_code == 0 and feedback_id in deleted.stdout
    gone = cli("feedback", "get", "--id", feedback_id)
    assert gone.exit_code == 1 and "HTTP 404" in gone.stderr and len(gone.error_lines) == 1


def test_download_writes_jsonl_file(cli, emoji_task, logged, tmp_path):
    ids = [_give(cli, emoji_task, emoji) for emoji in ("😀", "😐", "😫")]
    target = tmp_path / "feedback.jsonl"
    ran = cli("feedback", "download", "--task_id", emoji_task, "-f", str(target))
    assert ran.exit_code == 0, ran.stderr
    assert f"Downloaded 3 feedback items to {target}" in ran.stderr
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    assert [line["id"] for line in lines] == ids  # oldest first
    assert [line["json_values"]["feedback"] for line in lines] == ["😀", "😐", "😫"]
    assert not (tmp_path / "feedback.jsonl.part").exists()
    window = tmp_path / "window.jsonl"
    ran = cli("feedback", "download", "--offset", "1", "--limit", "1", "--file", str(window))
    assert ran.exit_code == 0 and "Downloaded 1 feedback item " in ran.stderr
    assert [orjson.loads(x)["id"] for x in window.read_bytes().splitlines()] == [ids[1]]


def test_download_to_stdout(cli, emoji_task, logged):
    feedback_id = _give(cli, emoji_task, "😀")
    ran = cli("feedback", "download", "--task-id", emoji_task)
    assert ran.exit_code == 0, ran.stderr
    assert [orjson.loads(x)["id"] for x in ran.stdout.splitlines()] == [feedback_id]


def test_download_shows_a_progress_bar_on_a_terminal(cli, emoji_task, logged, tmp_path):
    _give(cli, emoji_task, "😀")
    ran = cli("feedback", "download", "-f", str(tmp_path / "f.jsonl"), env={"TTY_COMPATIBLE": "1"})
    assert ran.exit_code == 0, ran.stderr
    assert "Downloading feedback items" in ran.stderr and "1/1" in ran.stderr


def test_download_unknown_task_is_empty_not_an_error(cli, tmp_path):
    target = tmp_path / "none.jsonl"
    ran = cli("feedback", "download", "--task-id", "nope", "-f", str(target))
    assert ran.exit_code == 0 and target.read_bytes() == b""
    assert "Downloaded 0 feedback items" in ran.stderr


def test_download_into_a_missing_directory_is_one_line(cli, tmp_path):
    ran = cli("feedback", "download", "-f", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert ran.exit_code == 1 and len(ran.error_lines) == 1 and "cannot write" in ran.stderr
