"""Error paths the unmodified log10 client hits: the status, a string `error`, nothing stored.

The client reads ``response.json()["error"]`` unguarded in places, so a missing key or a
non-JSON body would surface as KeyError/JSONDecodeError instead of the HTTP error.
"""

from __future__ import annotations

from typing import Any

from log10_harness import EMOJI_SCHEMA, Log10

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _assert_error(result: dict[str, Any], status: int, *needles: str) -> None:
    assert result.get("raised") == "HTTPStatusError", result  # not KeyError / JSONDecodeError
    assert result["status"] == status, result
    message = result["body"]["error"]
    assert isinstance(message, str), result
    for needle in needles:
        assert needle in message, result


def test_bad_token_wrong_org_and_invalid_schema(log10: Log10, other_org: Any) -> None:
    results = log10.run(
        [
            {"call": "task_create", "kwargs": {
                "token": "not-a-key", "task_schema": EMOJI_SCHEMA, "name": "t"}},
            {"call": "feedback_list", "kwargs": {"token": "not-a-key"}},
            {"call": "mock_chat", "kwargs": {
                "token": "not-a-key", "tags": ["lost"], "prompt": "p", "reply": "r"}},
            {"cli": ["feedback-task", "list"], "env": {"LOG10_TOKEN": "not-a-key"}},
            {"call": "feedback_list", "kwargs": {}, "env": {"LOG10_ORG_ID": other_org.id}},
            {"call": "task_create", "kwargs": {"task_schema": {"type": "nope"}, "name": "t"}},
            {"call": "task_create", "kwargs": {
                "task_schema": {"type": "object", "properties": {"a": {"minimum": "x"}}},
                "name": "t"}},
            {"cli": ["feedback-task", "create", "--name", "t", "--task_schema", '{"type": 12}']},
        ]
    )  # fmt: skip
    bad_create, bad_list, bad_mock, bad_cli, wrong_org, bad_type, bad_minimum, cli_schema = results

    _assert_error(bad_create, 401, "Unauthorized")
    _assert_error(bad_list, 401)
    assert bad_mock["id"] is None  # the client logged the 401 and returned None
    assert bad_cli["exit_code"] == 1 and "HTTPStatusError" in bad_cli["exception"]
    assert "Unauthorized: invalid API key" in log10.stderr  # the client printed our `error`
    _assert_error(wrong_org, 403, "organization")
    _assert_error(bad_type, 422, "json_schema", "$.type")
    _assert_error(bad_minimum, 422, "$.properties.a.minimum")
    assert cli_schema["exit_code"] == 1 and "422" in cli_schema["exception"]
    assert "KeyError" not in log10.stderr and "JSONDecodeError" not in log10.stderr

    assert log10.api("GET", "/api/v1/feedback_task")["total"] == 0
    assert log10.completions() == []


def test_unknown_ids_bad_values_and_no_match(log10: Log10) -> None:
    values = '{"feedback": "😀"}'
    results = log10.run(
        [
            {"call": "mock_chat", "kwargs": {"tags": ["e-tag"], "prompt": "p", "reply": "r"}},
            {"cli": ["feedback-task", "create", "--name", "t", "--task_schema",
                     '{"type": "object", "properties": {"feedback": {"enum": ["😀"]}}}',
                     "--completion_tags_selector", "e-tag"],
             "save": {"task": r"task_id to add feedback: (\S+)"}},
            {"call": "feedback_create", "kwargs": {
                "task_id": UNKNOWN, "values": {"feedback": "😀"},
                "completion_tags_selector": ["e-tag"]}},
            {"cli": ["feedback", "create", "--task_id", UNKNOWN, "--values", values,
                     "--completion_tags_selector", "e-tag"]},
            {"cli": ["feedback-task", "get", "--id", UNKNOWN]},
            {"cli": ["feedback", "get", "--id", UNKNOWN]},
            {"cli": ["completions", "get", "--id", UNKNOWN]},
            {"call": "feedback_create", "kwargs": {
                "task_id": "$task", "values": {"feedback": "👍"},
                "completion_tags_selector": ["e-tag"]}},
            {"call": "feedback_create", "kwargs": {
                "task_id": "$task", "values": {"feedback": "😀"},
                "completion_tags_selector": ["e-tag", "absent-tag"]}},
        ]
    )  # fmt: skip
    task_cli, unknown_task, cli_unknown_task, task_get, fb_get, completion_get = results[1:7]
    bad_value, no_match = results[7:]
    assert task_cli["exit_code"] == 0, task_cli

    _assert_error(unknown_task, 404, UNKNOWN)
    assert cli_unknown_task["exit_code"] == 1 and "404" in cli_unknown_task["exception"]
    # `get` commands print the failure and the server's `error` text, then exit 0.
    assert task_get["exit_code"] == 0 and "404" in task_get["output"]
    assert f"feedback task '{UNKNOWN}' not found" in task_get["output"]
    assert fb_get["exit_code"] == 0 and f"feedback '{UNKNOWN}' not found" in fb_get["output"]
    assert completion_get["exit_code"] == 1 and "404" in completion_get["exception"]
    _assert_error(bad_value, 422, "$.feedback")
    assert 400 <= no_match["status"] < 500
    _assert_error(no_match, no_match["status"], "match")

    assert log10.api("GET", "/api/v1/feedback")["total"] == 0
    assert log10.api("GET", f"/api/v1/feedback_task/{log10.saved['task']}")["name"] == "t"
