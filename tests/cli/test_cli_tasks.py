"""``plaudit feedback-task …`` against a live server, in every accepted spelling."""

from __future__ import annotations

import orjson
from cli_helpers import EMOJI_SCHEMA


def test_seed_000_spelling_creates_the_task(cli):
    ran = cli("feedback", "task", "create", "--name", "emoji_feedback_task",
              "--json-schema", EMOJI_SCHEMA, "--completion-tags-selector", "unique-tag",
              "--instruction", "Provide feedback using emojis")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.startswith("Use this task_id to add feedback: ")
    task_id = ran.stdout.split(": ", 1)[1].strip()
    got = cli("feedback-task", "get", "--id", task_id, "--json").json()
    assert got["name"] == "emoji_feedback_task"
    assert got["json_schema"]["properties"]["feedback"]["enum"][0] == "😀"
    assert got["completion_tags_selector"] == ["unique-tag"]
    assert got["instruction"] == "Provide feedback using emojis"


def test_log10_spelling_creates_the_task(cli):
    ran = cli("feedback-task", "create", "--name", "emoji", "--task_schema", EMOJI_SCHEMA,
              "--completion_tags_selector", "a,b", "--instruction", "I", "--json")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    task = ran.json()
    assert task["completion_tags_selector"] == ["a", "b"]
    assert task["json_schema"]["required"] == ["feedback"]


def test_task_schema_hyphen_and_equals_forms(cli):
    ran = cli("feedback-task", "create", "--name=n1", f"--task-schema={EMOJI_SCHEMA}", "-q")
    assert ran.exit_code == 0, ran.stderr
    task_id = ran.stdout.strip()
    assert cli("feedback-task", "get", "--id", task_id, "--json").json()["name"] == "n1"


def test_list_table_and_json(cli, emoji_task):
    table = cli("feedback-task", "list")
    assert table.exit_code == 0
    assert emoji_task in table.stdout and "Total tasks: 1" in table.stdout
    page = cli("feedback-task", "list", "--limit", "5", "--offset", "0", "--json").json()
    assert page["total"] == 1 and [t["id"] for t in page["data"]] == [emoji_task]
    assert cli("feedback-task", "list", "--offset", "1", "--json").json()["data"] == []


def test_get_table_shows_the_fields(cli, emoji_task):
    ran = cli("feedback-task", "get", "--id", emoji_task)
    assert ran.exit_code == 0
    assert "emoji" in ran.stdout and "unique-tag" in ran.stdout and "Rate it" in ran.stdout


def test_edit_schema_makes_a_new_version(cli, emoji_task):
    schema = orjson.dumps({"type": "object", "properties": {"ok": {"type": "boolean"}}}).decode()
    ran = cli("feedback-task", "edit", "--id", emoji_task, "--json_schema", schema,
              "--name", "renamed", "--reviews_per_item", "2", "--json")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    task = ran.json()
    assert (task["version"], task["name"], task["reviews_per_item"]) == (2, "renamed", 2)
    same = cli("feedback-task", "edit", "--id", emoji_task, "--instruction", "new", "--json")
    assert same.json()["version"] == 2 and same.json()["instruction"] == "new"


def test_edit_without_changes_is_an_error(cli, emoji_task):
    ran = cli("feedback-task", "edit", "--id", emoji_task)
    assert ran.exit_code == 1 and len(ran.error_lines) == 1
    assert "nothing to change" in ran.stderr


def test_archive_hides_the_task(cli, emoji_task):
    ran = cli("feedback-task", "archive", "--id", emoji_task)
    assert ran.exit_code == 0 and "archived" in ran.stdout
    assert cli("feedback-task", "list", "--json").json()["data"] == []
    archived = cli("feedback-task", "list", "--archived", "--json").json()["data"]
    assert [t["id"] for t in archived] == [emoji_task]


def test_invalid_json_schema_names_the_option(cli):
    ran = cli("feedback-task", "create", "--name", "x", "--task_schema", '{"type": "object",')
    assert ran.exit_code == 1
    assert len(ran.error_lines) == 1 and "--json-schema is not valid JSON" in ran.stderr
    assert cli("feedback-task", "list", "--json").json()["total"] == 0


def test_schema_that_is_not_json_schema_is_a_one_line_422(cli):
    ran = cli("feedback-task", "create", "--name", "x", "--json-schema", '{"type": "banana"}')
    assert ran.exit_code == 1 and len(ran.error_lines) == 1
    assert "HTTP 422" in ran.stderr
    assert cli("feedback-task", "list", "--json").json()["total"] == 0


def test_json_array_is_not_a_schema_object(cli):
    ran = cli("feedback-task", "create", "--name", "x", "--json-schema", "[1, 2]")
    assert ran.exit_code == 1 and "--json-schema must be a JSON object" in ran.stderr


def test_unknown_task_id_is_a_one_line_404(cli):
    for command in (["get"], ["archive"], ["edit", "--name", "n"]):
        ran = cli("feedback-task", *command, "--id", "no-such-task")
        assert ran.exit_code == 1, command
        assert len(ran.error_lines) == 1 and "HTTP 404" in ran.stderr
        assert "no-such-task" in ran.stderr
