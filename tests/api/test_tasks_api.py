"""Feedback tasks: metaschema validation, list/get, edit with versions, archive."""

from __future__ import annotations

import pytest

from conftest import error_of

TASKS = "/api/v1/feedback_task"
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@pytest.mark.parametrize(
    ("schema", "names"),
    [
        ({"type": "objekt"}, "type"),
        ({"type": "object", "properties": {"a": {"type": 5}}}, "$.properties.a.type"),
        ({"type": "object", "required": "ok"}, "required"),
        ({"type": "object", "properties": {"a": {"minimum": "zero"}}}, "minimum"),
        ({"type": "string"}, '"type": "object"'),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "$ref"),
        ({"type": "object", "properties": {"a": {"pattern": "("}}}, "pattern"),
    ],
)
def test_invalid_schema_is_422_naming_the_problem(client, api, org, schema, names):
    before = api.counts()
    response = client.post(TASKS, json={"name": "t", "json_schema": schema}, headers=org.headers)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["path"] == "json_schema"
    assert names in error["message"], error["message"]
    assert api.counts() == before


def test_json_schema_must_be_an_object(client, api, org):
    for bad in ([], "schema", 3, None, True):
        response = client.post(TASKS, json={"name": "t", "json_schema": bad}, headers=org.headers)
        assert response.status_code == 422, (bad, response.text)
        assert "json_schema" in error_of(response)["message"]


def test_create_list_get(client, api, org):
    made = [api.task(org.headers, name=f"t{i}", json_schema=SCHEMA) for i in range(3)]
    page = client.get(TASKS, params={"limit": 2}, headers=org.headers).json()
    assert [t["name"] for t in page["data"]] == ["t2", "t1"]  # newest first
    assert page["total"] == 3
    rest = client.get(TASKS, params={"offset": 2, "limit": 2}, headers=org.headers).json()
    assert [t["name"] for t in rest["data"]] == ["t0"] and rest["total"] == 1
    got = client.get(f"{TASKS}/{made[0]['id']}", headers=org.headers).json()
    assert got["json_schema"] == SCHEMA and got["version"] == 1
    assert got["created_at"].endswith("+00:00")
    assert client.get(f"{TASKS}/nope", headers=org.headers).status_code == 404


def test_selector_accepts_list_or_comma_string(client, api, org):
    a = api.task(org.headers, completion_tags_selector="x, y,x")
    assert a["completion_tags_selector"] == ["x", "y"]
    bad = client.post(
        TASKS, json={"name": "t", "json_schema": SCHEMA, "completion_tags_selector": [1]},
        headers=org.headers,
    )  # fmt: skip
    assert bad.status_code == 422


def test_edit_schema_makes_a_new_version_and_old_feedback_keeps_its_own(client, api, org):
    task = api.task(org.headers, json_schema=SCHEMA, completion_tags_selector=["v"])
    api.completion(org.headers, "v-1", ["v"])
    old = api.feedback(org.headers, task["id"], json_values={"ok": True}, completion_ids=["v-1"])
    assert old["task_version"] == 1
    new_schema = {"type": "object", "properties": {"stars": {"type": "integer"}},
                  "required": ["stars"]}  # fmt: skip
    edited = client.patch(
        f"{TASKS}/{task['id']}", json={"json_schema": new_schema, "name": "v2"},
        headers=org.headers,
    )  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2 and edited.json()["name"] == "v2"
    renamed = client.patch(f"{TASKS}/{task['id']}", json={"name": "v3"}, headers=org.headers)
    assert renamed.json()["version"] == 2  # no schema change, no new version
    same = client.patch(f"{TASKS}/{task['id']}", json={"json_schema": new_schema},
                        headers=org.headers)  # fmt: skip
    assert same.json()["version"] == 2
    kept = client.get(f"/api/v1/feedback/{old['id']}", headers=org.headers).json()
    assert kept["task_version"] == 1 and kept["json_values"] == {"ok": True}
    versions = client.get(f"{TASKS}/{task['id']}/versions", headers=org.headers).json()
    assert [(v["version"], v["json_schema"]) for v in versions["data"]] == [
        (1, SCHEMA), (2, new_schema)
    ]  # fmt: skip
    refused = client.post(
        "/api/v1/feedback", json={"task_id": task["id"], "json_values": {"ok": True},
                                  "completion_ids": ["v-1"]},
        headers=org.headers,
    )  # fmt: skip
    assert refused.status_code == 422  # new feedback is checked against version 2
    fresh = api.feedback(org.headers, task["id"], json_values={"stars": 4}, completion_ids=["v-1"])
    assert fresh["task_version"] == 2


def test_edit_validation(client, api, org):
    task = api.task(org.headers, json_schema=SCHEMA)
    url = f"{TASKS}/{task['id']}"
    before = api.counts()
    for body in ({"json_schema": {"type": 1}}, {"name": ""}, {"name": None},
                 {"reviews_per_item": 0}, {"reviews_per_item": 21}, {"unknown": 1},
                 {"json_schema": None}):  # fmt: skip
        response = client.patch(url, json=body, headers=org.headers)
        assert response.status_code == 422, (body, response.text)
    assert api.counts() == before
    assert client.get(url, headers=org.headers).json()["version"] == 1


def test_archive_hides_from_list_and_refuses_edits_and_feedback(client, api, org):
    task = api.task(org.headers, name="old", completion_tags_selector=["q"])
    api.task(org.headers, name="live")
    api.completion(org.headers, "q-1", ["q"])
    fb = api.feedback(org.headers, task["id"], completion_ids=["q-1"])
    response = client.post(f"{TASKS}/{task['id']}/archive", headers=org.headers)
    assert response.status_code == 200 and response.json()["archived_at"]
    assert [t["name"] for t in client.get(TASKS, headers=org.headers).json()["data"]] == ["live"]
    everything = client.get(TASKS, params={"archived": True}, headers=org.headers).json()
    assert {t["name"] for t in everything["data"]} == {"old", "live"}
    assert client.get(f"{TASKS}/{task['id']}", headers=org.headers).json()["archived"] is True
    assert client.get(f"/api/v1/feedback/{fb['id']}", headers=org.headers).status_code == 200
    edit = client.patch(f"{TASKS}/{task['id']}", json={"name": "x"}, headers=org.headers)
    assert edit.status_code == 409
    more = client.post(
        "/api/v1/feedback",
        json={"task_id": task["id"], "json_values": {"score": 1}, "completion_ids": ["q-1"]},
        headers=org.headers,
    )
    assert more.status_code == 409
    twice = client.post(f"{TASKS}/{task['id']}/archive", headers=org.headers)
    assert twice.status_code == 200  # idempotent


def test_reviews_per_item_sets_slots(client, api, org):
    task = api.task(org.headers, completion_tags_selector=["n"], reviews_per_item=2)
    api.completion(org.headers, "n-1", ["n"])
    inbox = f"{TASKS}/{task['id']}/inbox"
    assert client.get(inbox, headers=org.headers).json()["counts"]["open"] == 2
    client.patch(f"{TASKS}/{task['id']}", json={"reviews_per_item": 4}, headers=org.headers)
    assert client.get(inbox, headers=org.headers).json()["counts"]["open"] == 4
    client.patch(f"{TASKS}/{task['id']}", json={"reviews_per_item": 1}, headers=org.headers)
    assert client.get(inbox, headers=org.headers).json()["counts"]["open"] == 1
    for bad in (0, 21, "2", True, 1.5):
        response = client.post(
            TASKS, json={"name": "t", "json_schema": SCHEMA, "reviews_per_item": bad},
            headers=org.headers,
        )  # fmt: skip
        assert response.status_code == 422, (bad, response.text)
