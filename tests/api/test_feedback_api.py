"""Feedback: validation with JSON paths, matching, listing, edit/delete with history, download."""

from __future__ import annotations

import orjson
import pytest

from conftest import error_of

FEEDBACK = "/api/v1/feedback"


@pytest.fixture
def task(api, org):
    task = api.task(org.headers, name="rate", completion_tags_selector=["app"])
    api.completion(org.headers, "f-1", ["app", "u1"])
    api.completion(org.headers, "f-2", ["app", "u2"])
    api.completion(org.headers, "f-3", ["app", "u1", "beta"])
    return task


def _post(client, org, body):
    return client.post(FEEDBACK, json=body, headers=org.headers)


def test_values_are_validated_with_the_path_of_every_error(client, api, org, task):
    before = api.counts()
    response = _post(client, org, {
        "task_id": task["id"], "completion_ids": ["f-1"],
        "json_values": {"score": 9, "label": "meh", "notes": 5},
    })  # fmt: skip
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["path"] == "json_values.label"  # the first error, in path order
    for where in ("$.score", "$.label", "$.notes"):
        assert where in error["message"], error["message"]
    missing = _post(client, org, {"task_id": task["id"], "completion_ids": ["f-1"],
                                  "json_values": {}})  # fmt: skip
    assert missing.status_code == 422 and "'score' is a required property" in missing.text
    for values in ([1], "x", 3, None):
        wrong = _post(client, org, {"task_id": task["id"], "json_values": values,
                                    "completion_ids": ["f-1"]})  # fmt: skip
        assert wrong.status_code == 422, (values, wrong.text)
        assert "json_values" in error_of(wrong)["message"]
    assert api.counts() == before


def test_match_by_selector_is_and_over_tags(client, api, org, task):
    both = api.feedback(org.headers, task["id"], completion_tags_selector=["app", "u1"])
    assert sorted(both["matched_completion_ids"]) == ["f-1", "f-3"]
    comma = api.feedback(org.headers, task["id"], completion_tags_selector="u1,beta")
    assert comma["matched_completion_ids"] == ["f-3"]
    assert comma["completion_tags_selector"] == ["u1", "beta"]


def test_match_by_explicit_ids(client, api, org, task):
    made = api.feedback(org.headers, task["id"], completion_ids=["f-2", "f-1", "f-2"])
    assert made["matched_completion_ids"] == ["f-1", "f-2"]
    before = api.counts()
    unknown = _post(client, org, {"task_id": task["id"], "json_values": {"score": 1},
                                  "completion_ids": ["f-1", "ghost"]})  # fmt: skip
    assert unknown.status_code == 404 and "ghost" in error_of(unknown)["message"]
    assert api.counts() == before


def test_zero_matches_is_400_unless_allowed(client, api, org, task):
    before = api.counts()
    for selector in (["app", "u3"], ["never-seen"], None):
        body = {"task_id": task["id"], "json_values": {"score": 2}}
        if selector is not None:
            body["completion_tags_selector"] = selector
        response = _post(client, org, body)
        assert response.status_code == 400, response.text
        assert "allow_unmatched_feedback" in error_of(response)["message"]
    assert api.counts() == before
    allowed = api.feedback(org.headers, task["id"], completion_tags_selector=["u3"],
                           allow_unmatched_feedback=True)  # fmt: skip
    assert allowed["matched_completion_ids"] == []


def test_max_matched_completions(client, api, org, task):
    before = api.counts()
    too_many = _post(client, org, {"task_id": task["id"], "json_values": {"score": 2},
                                   "completion_tags_selector": ["app"],
                                   "max_matched_completions": 2})  # fmt: skip
    assert too_many.status_code == 400 and "max_matched_completions" in too_many.text
    ids = _post(
        client,
        org,
        {
            "task_id": task["id"],
            "json_values": {"score": 2},
            "completion_ids": ["f-1", "f-2"],
            "max_matched_completions": 1,
        },
    )
    assert ids.status_code == 400 and error_of(ids)["path"] == "completion_ids"
    for bad in (0, -1, 10_001):
        response = _post(client, org, {"task_id": task["id"], "json_values": {"score": 2},
                                       "completion_tags_selector": ["app"],
                                       "max_matched_completions": bad})  # fmt: skip
        assert response.status_code == 422, (bad, response.text)
    assert api.counts() == before
    exact = api.feedback(org.headers, task["id"], completion_tags_selector=["app"],
                         max_matched_completions=3)  # fmt: skip
    assert len(exact["matched_completion_ids"]) == 3


def test_unknown_or_foreign_task_is_404(client, api, org, other_org, task):
    for task_id in ("nope", task["id"]):
        headers = org.headers if task_id == "nope" else other_org.headers
        response = client.post(FEEDBACK, json={"task_id": task_id, "json_values": {"score": 1},
                                               "allow_unmatched_feedback": True},
                               headers=headers)  # fmt: skip
        assert response.status_code == 404, response.text


def test_list_paging_by_task_and_by_completion(client, api, org, task):
    other = api.task(org.headers, name="other")
    made = [api.feedback(org.headers, task["id"], completion_ids=[f"f-{i}"]) for i in (1, 2, 3)]
    api.feedback(org.headers, other["id"], completion_ids=["f-1"])
    everything = client.get(FEEDBACK, headers=org.headers).json()
    assert everything["total"] == 4
    by_task = client.get(FEEDBACK, params={"task_id": task["id"]}, headers=org.headers).json()
    assert [f["id"] for f in by_task["data"]] == [m["id"] for m in reversed(made)]
    assert by_task["data"][0]["task_name"] == "rate"
    page = client.get(FEEDBACK, params={"task_id": task["id"], "offset": 1, "limit": 1},
                      headers=org.headers).json()  # fmt: skip
    assert [f["id"] for f in page["data"]] == [made[1]["id"]]
    assert page["total"] == 2  # what is left from the offset (log10's pager relies on it)
    by_completion = client.get(FEEDBACK, params={"completion_id": "f-1"}, headers=org.headers)
    assert by_completion.json()["total"] == 2
    empty_task = client.get(FEEDBACK, params={"task_id": ""}, headers=org.headers).json()
    assert empty_task["total"] == 4  # log10 always sends task_id=, meaning all tasks


def test_create_answers_exactly_what_a_later_get_reads(client, api, org, task):
    """The create response comes from INSERT … RETURNING, not a read-back: the same bytes as
    GET, with the stored JSON as the database renders it (PostgreSQL's JSONB orders keys)."""
    response = _post(client, org, {
        "task_id": task["id"], "completion_tags_selector": ["u1", "app"], "comment": "c",
        "json_values": {"score": 2, "notes": "long enough", "label": "bad"},
        "end_user_id": "eu-1",
    })  # fmt: skip
    assert response.status_code == 200, response.text
    made = response.json()
    got = client.get(f"{FEEDBACK}/{made['id']}", headers=org.headers)
    assert orjson.dumps(made) == orjson.dumps(got.json())
    assert made["matched_completion_ids"] == ["f-1", "f-3"]
    assert made["task_name"] == "rate" and made["created_at"] == made["updated_at"]


def test_get_edit_delete_keep_history(client, api, org, task):
    made = api.feedback(org.headers, task["id"], completion_ids=["f-1"], comment="first")
    url = f"{FEEDBACK}/{made['id']}"
    got = client.get(url, headers=org.headers).json()
    assert got["json_values"] == {"score": 3} and got["comment"] == "first"
    edited = client.patch(url, json={"json_values": {"score": 5}, "comment": "second"},
                          headers=org.headers)  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["json_values"] == {"score": 5}
    before = api.counts()
    bad = client.patch(url, json={"json_values": {"score": 0}}, headers=org.headers)
    assert bad.status_code == 422 and error_of(bad)["path"] == "json_values.score"
    assert api.counts() == before
    assert client.get(url, headers=org.headers).json()["comment"] == "second"
    deleted = client.delete(url, headers=org.headers)
    assert deleted.status_code == 200
    assert client.get(url, headers=org.headers).status_code == 404
    assert client.get(FEEDBACK, headers=org.headers).json()["total"] == 0
    assert client.patch(url, json={"comment": "x"}, headers=org.headers).status_code == 404
    assert client.delete(url, headers=org.headers).status_code == 404
    assert api.counts()["feedback"] == 1  # soft delete: the row and its history stay
    assert api.counts()["feedback_revisions"] == 2


def test_history_endpoint(client, api, org, task):
    made = api.feedback(org.headers, task["id"], completion_ids=["f-1"], comment="v1")
    url = f"{FEEDBACK}/{made['id']}"
    client.patch(url, json={"comment": "v2"}, headers=org.headers)
    client.patch(url, json={"json_values": {"score": 1}}, headers=org.headers)
    history = client.get(f"{url}/history", headers=org.headers).json()
    assert [(r["action"], r["comment"], r["json_values"]) for r in history["data"]] == [
        ("edit", "v1", {"score": 3}), ("edit", "v2", {"score": 3})
    ]  # fmt: skip
    assert client.get(f"{FEEDBACK}/nope/history", headers=org.headers).status_code == 404


def test_download_streams_every_item_as_jsonl(client, api, org, task):
    made = [api.feedback(org.headers, task["id"], completion_ids=["f-2"],
                         json_values={"score": 1 + i % 5, "notes": f"n{i}"})
            for i in range(7)]  # fmt: skip
    api.feedback(org.headers, api.task(org.headers)["id"], completion_ids=["f-1"])
    deleted = api.feedback(org.headers, task["id"], completion_ids=["f-3"])
    client.delete(f"{FEEDBACK}/{deleted['id']}", headers=org.headers)
    response = client.get(f"{FEEDBACK}/download", params={"task_id": task["id"]},
                          headers=org.headers)  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert [line["id"] for line in lines] == [m["id"] for m in made]  # oldest first
    assert lines[3]["json_values"] == {"score": 4, "notes": "n3"}
    assert lines[0]["matched_completion_ids"] == ["f-2"] and lines[0]["task_name"] == "rate"
    everything = client.get(f"{FEEDBACK}/download", headers=org.headers).content.splitlines()
    assert len(everything) == 8
    by_completion = client.get(f"{FEEDBACK}/download", params={"completion_id": "f-1"},
                               headers=org.headers).content.splitlines()  # fmt: skip
    assert len(by_completion) == 1


def test_download_of_many_items_spans_pages(client, api, org, task, engine):
    from sqlalchemy import insert

    from plaudit.db.base import new_id
    from plaudit.db.models import Feedback, FeedbackCompletion

    rows = [{"id": new_id(), "org_id": org.id, "task_id": task["id"], "task_version": 1,
             "json_values": {"score": 1 + i % 5}, "completion_tags_selector": [],
             "matched_completion_ids": ["f-1"]}
            for i in range(2500)]  # more than one export batch (2,000)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(Feedback), rows)
        conn.execute(
            insert(FeedbackCompletion),
            [{"feedback_id": r["id"], "completion_id": "f-1"} for r in rows],
        )
    response = client.get(f"{FEEDBACK}/download", headers=org.headers)
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert [line["id"] for line in lines] == sorted(r["id"] for r in rows)
    assert all(line["matched_completion_ids"] == ["f-1"] for line in lines)
