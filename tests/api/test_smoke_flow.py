"""The seed-000 walkthrough through plaudit's HTTP API, end to end."""

from __future__ import annotations

import orjson

EMOJI_SCHEMA = {
    "type": "object",
    "properties": {"feedback": {"type": "string", "enum": ["😀", "😬", "😐", "🙁", "😫"]}},
    "required": ["feedback"],
}


def test_task_completion_feedback_download(client, org):
    h = org.headers
    task = client.post(
        "/api/v1/feedback_task",
        json={"name": "emoji", "json_schema": EMOJI_SCHEMA, "completion_tags_selector": ["u1"],
              "instruction": "Rate it"},
        headers=h,
    )  # fmt: skip
    assert task.status_code == 200, task.text
    task_id = task.json()["id"]
    logged = client.put(
        "/api/v1/completions/c-1",
        json={"tags": ["u1", "x"], "request": {"messages": [{"role": "user", "content": "hi"}]},
              "response": {"choices": [{"message": {"content": "hello"}}]}},
        headers=h,
    )  # fmt: skip
    assert logged.status_code == 200, logged.text
    fb = client.post(
        "/api/v1/feedback",
        json={
            "task_id": task_id,
            "json_values": {"feedback": "😀"},
            "completion_tags_selector": "u1",
        },
        headers=h,
    )
    assert fb.status_code == 200, fb.text
    assert fb.json()["matched_completion_ids"] == ["c-1"]
    listed = client.get("/api/v1/feedback", params={"task_id": task_id}, headers=h).json()
    assert listed["total"] == 1 and listed["data"][0]["task_name"] == "emoji"
    download = client.get("/api/v1/feedback/download", params={"task_id": task_id}, headers=h)
    lines = [orjson.loads(line) for line in download.content.splitlines()]
    assert [line["json_values"] for line in lines] == [{"feedback": "😀"}]


def test_bad_values_are_422_with_path_and_store_nothing(client, org):
    h = org.headers
    task_id = client.post(
        "/api/v1/feedback_task", json={"name": "t", "json_schema": EMOJI_SCHEMA}, headers=h
    ).json()["id"]
    client.put("/api/v1/completions/c-2", json={"tags": ["a"]}, headers=h)
    bad = client.post(
        "/api/v1/feedback",
        json={"task_id": task_id, "json_values": {"feedback": "👍"}, "completion_ids": ["c-2"]},
        headers=h,
    )
    assert bad.status_code == 422
    assert "$.feedback" in bad.json()["error"]
    assert client.get("/api/v1/feedback", headers=h).json()["total"] == 0
