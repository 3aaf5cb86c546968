"""`POST /api/completions/{id}` upserts: any order, concurrently, never downgrading a result."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
from log10_harness import Log10

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi!"}}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def _started(tags: list[str]) -> dict[str, Any]:
    """The "started" row as log10's httpx path sends it (request as a JSON string)."""
    return {
        "status": "started", "kind": "chat", "orig_module": "openai.api_resources.chat_completion",
        "orig_qualname": "ChatCompletion.create", "request": json.dumps(REQUEST),
        "session_id": str(uuid.uuid4()), "tags": tags,
    }  # fmt: skip


def _finished(tags: list[str]) -> dict[str, Any]:
    return {
        **_started(tags), "status": "finished", "response": json.dumps(RESPONSE),
        "duration": 1234, "stacktrace": json.dumps([{"file": "x.py", "line": "f()",
                                                      "lineno": 1, "name": "f"}]),
    }  # fmt: skip


def test_out_of_order_posts_never_downgrade(log10: Log10) -> None:
    late, in_order, failed = (str(uuid.uuid4()) for _ in range(3))
    failure = {**_started(["f"]), "status": "failed", "failure_kind": "BadRequestError",
               "failure_reason": "model not found"}  # fmt: skip
    results = log10.run(
        [
            {"call": "post_completion_log", "kwargs": {
                "completion_id": late, "rows": [_finished(["x"]), _started(["x"])]}},
            {"call": "post_completion_log", "kwargs": {
                "completion_id": in_order, "rows": [_started(["y"]), _finished(["y"])]}},
            {"call": "post_completion_log", "kwargs": {
                "completion_id": failed, "rows": [failure, _started(["f"])]}},
        ]
    )  # fmt: skip
    assert [r["statuses"] for r in results] == [[200, 200]] * 3  # log10 wants exactly 200

    for completion_id in (late, in_order):
        row = log10.api("GET", f"/api/v1/completions/{completion_id}")
        assert row["status"] == "finished", row
        assert row["request"] == REQUEST and row["response"] == RESPONSE  # strings parsed
        assert row["duration"] == 1234 and row["usage"] == RESPONSE["usage"]
        assert row["stacktrace"] == _finished([])["stacktrace"]
    row = log10.api("GET", f"/api/v1/completions/{failed}")
    assert row["status"] == "failed" and row["error"] == "BadRequestError: model not found"
    assert row["failure_kind"] == "BadRequestError" and row["tags"] == ["f"]


def test_concurrent_started_and_finished_for_fresh_ids(live_server: Any, org: Any) -> None:
    """AsyncOpenAI fires both posts as independent tasks; on PostgreSQL two transactions
    inserting the same fresh id used to collide (500, the finished row lost)."""
    ids = [str(uuid.uuid4()) for _ in range(10)]
    headers = {"x-log10-token": org.api_key, "x-log10-organization-id": org.id}
    barrier = threading.Barrier(len(ids) * 2)
    statuses: list[int] = []

    def post(completion_id: str, body: dict[str, Any]) -> None:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
            barrier.wait()
            response = client.post(f"/api/completions/{completion_id}", json=body)
            statuses.append(response.status_code)

    threads = [
        threading.Thread(target=post, args=(cid, body(["race"])))
        for cid in ids
        for body in (_started, _finished)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [200] * len(threads)
    listed = httpx.get(
        f"{live_server.url}/api/v1/completions", params={"tags": "race", "limit": 100},
        headers=org.headers, timeout=10,
    )  # fmt: skip
    rows = listed.json()["data"]
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert {r["status"] for r in rows} == {"finished"}
    assert all(r["response"] == RESPONSE for r in rows)
