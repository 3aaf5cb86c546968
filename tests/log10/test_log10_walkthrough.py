"""Seed 000's feedback guide, run with the unmodified log10-io client against plaudit."""

from __future__ import annotations

import json
import re

from log10_harness import EMOJI_SCHEMA, Log10


def test_seed_000_walkthrough_end_to_end(log10: Log10) -> None:
    # 1. Create the task with the installed `log10` console script (the CLI's real spelling).
    created = log10.cli(
        "feedback-task", "create", "--name", "emoji_feedback_task",
        "--task_schema", json.dumps(EMOJI_SCHEMA, ensure_ascii=False),
        "--completion_tags_selector", "unique-tag",
        "--instruction", "Provide feedback using emojis",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    found = re.search(r"Use this task_id to add feedback: (\S+)", created.stdout)
    assert found, created.stdout
    task_id = found.group(1)

    # 2-5. Log a completion (example.py), add feedback, list it and download it.
    feedback_file = log10.workdir / "feedback.jsonl"
    chat, feedback, listed, downloaded = log10.run(
        [
            {"call": "openai_chat", "kwargs": {
                "tags": ["unique-tag"], "prompt": "Count to 200", "model": "gpt-3.5-turbo"}},
            {"cli": ["feedback", "create", "--task_id", task_id,
                     "--values", '\n  {\n    "feedback": "😀"\n  }',
                     "--completion_tags_selector", "unique-tag"]},
            {"cli": ["feedback", "list", "--task_id", task_id]},
            {"cli": ["feedback", "download", "--task_id", task_id, "-f", str(feedback_file)]},
        ]
    )  # fmt: skip

    task = log10.api("GET", f"/api/v1/feedback_task/{task_id}")
    assert task["name"] == "emoji_feedback_task"
    assert task["json_schema"] == EMOJI_SCHEMA
    assert task["completion_tags_selector"] == ["unique-tag"]
    assert task["instruction"] == "Provide feedback using emojis"

    [completion] = log10.completions("unique-tag")
    assert completion["status"] == "finished"
    assert completion["model"] == "gpt-3.5-turbo"
    assert completion["request"]["messages"] == [{"role": "user", "content": "Count to 200"}]
    assert completion["response"]["choices"][0]["message"]["content"] == chat["content"]
    assert completion["tags"] == ["unique-tag"]
    assert completion["duration"] is not None and completion["duration"] >= 0

    assert feedback["exit_code"] == 0, feedback
    stored = log10.api("GET", "/api/v1/feedback", params={"task_id": task_id})
    assert stored["total"] == 1
    [item] = stored["data"]
    assert item["json_values"] == {"feedback": "😀"}
    assert item["matched_completion_ids"] == [completion["id"]]
    assert item["id"] in feedback["output"]

    assert listed["exit_code"] == 0, listed
    assert "Total feedback: 1" in listed["output"]
    assert item["id"] in listed["output"] and completion["id"] in listed["output"]
    assert '{"feedback": "😀"}' in listed["output"]

    assert downloaded["exit_code"] == 0, downloaded
    assert f"Saving feedback to {feedback_file}" in downloaded["output"]
    raw = feedback_file.read_text()
    assert "\\ud83d\\ude00" in raw  # the client writes json.dumps' default ASCII escapes
    [line] = [json.loads(text) for text in raw.splitlines()]
    assert line["id"] == item["id"] and line["task_name"] == "emoji_feedback_task"
    assert line["json_values"] == {"feedback": "😀"}
    assert line["matched_completion_ids"] == [completion["id"]]
