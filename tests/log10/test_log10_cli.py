"""The unmodified `log10` CLI against plaudit: tasks, feedback and completions commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from log10_harness import EMOJI_SCHEMA, Log10

ID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"


def _mock(tags: list[str], prompt: str) -> dict[str, Any]:
    return {"call": "mock_chat", "kwargs": {"tags": tags, "prompt": prompt, "reply": "r-" + prompt}}


def test_feedback_task_and_feedback_commands(log10: Log10) -> None:
    both, only_a = log10.workdir / "both.jsonl", log10.workdir / "all.jsonl"
    schema = json.dumps(EMOJI_SCHEMA, ensure_ascii=False)
    results = log10.run(
        [
            _mock(["t-a", "t-b"], "first"),
            _mock(["t-a"], "second"),
            {"cli": ["feedback-task", "create", "--name", "cli task", "--task_schema", schema,
                     "--completion_tags_selector", "t-a", "--instruction", "Rate it"],
             "save": {"task": "task_id to add feedback: " + ID}},
            {"cli": ["feedback-task", "list"]},
            {"cli": ["feedback-task", "get", "--id", "$task"]},
            {"cli": ["feedback", "create", "--task_id", "$task", "--values", '{"feedback": "😀"}',
                     "--completion_tags_selector", "t-a,t-b", "--comment", "both tags"],
             "save": {"fb1": "'id': '" + ID}},
            {"cli": ["feedback", "create", "--task_id", "$task", "--values", '{"feedback": "😐"}',
                     "--completion_tags_selector", "t-a"],
             "save": {"fb2": "'id': '" + ID}},
            {"cli": ["feedback", "list", "--task_id", "$task"]},
            {"cli": ["feedback", "list", "--offset", "1"]},
            {"cli": ["feedback", "get", "--id", "$fb1"]},
            {"cli": ["feedback", "download", "--task_id", "$task", "-f", str(both)]},
            {"cli": ["feedback", "download", "--offset", "1", "--limit", "5", "-f", str(only_a)]},
            {"call": "feedback_list", "kwargs": {"offset": 0, "limit": 1}},
        ]
    )  # fmt: skip
    first, second = results[0]["id"], results[1]["id"]
    created, task_list, task_get, fb_create1, fb_create2 = results[2:7]
    fb_list, fb_list_offset, fb_get, download, download_offset, sdk_page = results[7:]
    task_id, fb1, fb2 = log10.saved["task"], log10.saved["fb1"], log10.saved["fb2"]

    for result in results[2:12]:
        assert result["exit_code"] == 0 and result["exception"] is None, result

    task = log10.api("GET", f"/api/v1/feedback_task/{task_id}")
    assert (task["name"], task["instruction"]) == ("cli task", "Rate it")
    assert task["json_schema"] == EMOJI_SCHEMA and task["completion_tags_selector"] == ["t-a"]
    assert task_id in task_list["output"] and "cli task" in task_list["output"]
    assert "feedback" in task_list["output"]  # the "Required" column: json_schema.required
    assert json.loads(task_get["output"])["id"] == task_id

    stored = {f["id"]: f for f in log10.api("GET", "/api/v1/feedback")["data"]}
    assert set(stored) == {fb1, fb2}
    assert (
        stored[fb1]["json_values"] == {"feedback": "😀"} and stored[fb1]["comment"] == "both tags"
    )
    assert stored[fb1]["matched_completion_ids"] == [first]  # AND over the selector's tags
    assert sorted(stored[fb2]["matched_completion_ids"]) == sorted([first, second])
    assert "'matched_completion_ids'" in fb_create1["output"] and fb2 in fb_create2["output"]

    assert "Total feedback: 2" in fb_list["output"]
    assert fb1 in fb_list["output"] and fb2 in fb_list["output"]
    # --offset 1: plaudit's `total` counts what is left, so the client's pager stops.
    assert "Total feedback: 1" in fb_list_offset["output"]
    assert fb1 in fb_list_offset["output"] and fb2 not in fb_list_offset["output"]  # newest first
    got = json.loads(fb_get["output"])
    assert got["id"] == fb1 and got["task_name"] == "cli task"

    lines = [json.loads(line) for line in both.read_text().splitlines()]
    assert [line["id"] for line in lines] == [fb2, fb1]
    assert lines[1]["json_values"] == {"feedback": "😀"} and lines[1]["task_id"] == task_id
    assert [json.loads(line)["id"] for line in only_a.read_text().splitlines()] == [fb1]
    assert sdk_page["status"] == 200 and sdk_page["body"]["total"] == 2
    assert [f["id"] for f in sdk_page["body"]["data"]] == [fb2]


def test_completions_commands(log10: Log10) -> None:
    today = datetime.now(UTC).date()
    day = timedelta(days=1)
    downloaded_file = log10.workdir / "completions.jsonl"
    results = log10.run(
        [
            {**_mock(["c-x", "c-y"], "one"), "save_as": "first"},
            _mock(["c-x"], "two"),
            _mock(["c-x-longer"], "three"),  # a prefix match of "c-x": the exact name must win
            {"cli": ["completions", "list"]},
            {"cli": ["completions", "list", "--tags", "c-x,c-y"]},
            {"cli": ["completions", "list", "--tags", "c-x"]},
            {"cli": ["completions", "list", "--from", str(today - day), "--to", str(today + day)]},
            {"cli": ["completions", "list", "--from", "2020-01-01", "--to", "2020-01-02"]},
            {"cli": ["completions", "list", "--tags", "no-such-tag"]},
            {"cli": ["completions", "get", "--id", "$first"]},
            {"cli": ["completions", "download", "--tags", "c-x", "-f", str(downloaded_file)]},
        ]
    )
    one, two, three = (r["id"] for r in results[:3])
    listed, both_tags, tag_x, in_range, out_of_range, no_tag, got, download = results[3:]

    assert one and two and three
    for result in (listed, both_tags, tag_x, in_range, out_of_range, got, download):
        assert result["exit_code"] == 0 and result["exception"] is None, result
    assert all(cid in listed["output"] for cid in (one, two, three))
    assert "r-one" in listed["output"] and "MOCK_CHAT_COMPLETIONS" in listed["output"]
    assert one in both_tags["output"] and two not in both_tags["output"]
    assert one in tag_x["output"] and two in tag_x["output"] and three not in tag_x["output"]
    assert all(cid in in_range["output"] for cid in (one, two, three))
    assert "Filter with created date" in in_range["output"]
    assert not any(cid in out_of_range["output"] for cid in (one, two, three))
    assert no_tag["exit_code"] == 1 and "Cannot found tag: no-such-tag" in no_tag["output"]
    assert no_tag["exception"] is None

    data = json.loads(got["output"])
    assert data["id"] == one and data["status"] == "finished" and data["kind"] == "chat"
    assert data["request"]["messages"] == [{"role": "user", "content": "one"}]
    assert data["response"]["choices"][0]["message"]["content"] == "r-one"
    assert [t["name"] for t in data["tagResolved"]] == ["MOCK_CHAT_COMPLETIONS", "c-x", "c-y"]
    assert datetime.fromisoformat(data["created_at"]).utcoffset() == timedelta(0)

    assert "Downloaded 2" in download["output"] and str(downloaded_file) in download["output"]
    rows = [json.loads(line) for line in downloaded_file.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted([one, two])
    assert {r["id"]: r for r in rows}[two]["response"]["choices"][0]["message"][
        "content"
    ] == "r-two"
