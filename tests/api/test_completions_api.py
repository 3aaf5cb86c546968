"""Completions: upsert merge rules, tag AND filter, time range, paging, get, id validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import error_of

URL = "/api/v1/completions"


def test_upsert_merges_shallowly_and_replaces_tags(client, api, org):
    first = api.completion(org.headers, "u-1", ["a", "b"], model="m1",
                           request={"messages": [1], "temperature": 0},
                           metadata={"k1": 1})  # fmt: skip
    assert first["status"] == "finished" and first["tags"] == ["a", "b"]
    second = api.completion(org.headers, "u-1", ["c"], request={"messages": [2]},
                            metadata={"k2": 2})  # fmt: skip
    assert second["tags"] == ["c"]  # replaced, not merged
    assert second["request"] == {"messages": [2]}  # a present key overwrites the whole value
    assert second["model"] == "m1"  # an absent key is kept
    assert second["metadata"] == {"k1": 1, "k2": 2}  # metadata merges
    kept = client.put(f"{URL}/u-1", json={"latency_ms": 12.5}, headers=org.headers).json()
    assert kept["tags"] == ["c"] and kept["latency_ms"] == 12.5  # no tags given: kept
    cleared = client.put(f"{URL}/u-1", json={"tags": [], "model": None}, headers=org.headers)
    assert cleared.json()["tags"] == [] and cleared.json()["model"] is None
    by_tag = client.get(URL, params={"tags": "a"}, headers=org.headers).json()
    assert by_tag["total"] == 0  # the old links went with the old tags


def test_no_downgrade_from_finished_to_started(client, api, org):
    api.completion(org.headers, "s-1", status="finished", response={"text": "done"})
    late = client.put(f"{URL}/s-1", json={"status": "started", "response": {}, "tags": ["t"]},
                      headers=org.headers).json()  # fmt: skip
    assert late["status"] == "finished" and late["response"] == {"text": "done"}
    assert late["tags"] == ["t"]
    api.completion(org.headers, "s-2", status="failed", error="boom")
    assert client.put(f"{URL}/s-2", json={"status": "started"},
                      headers=org.headers).json()["status"] == "failed"  # fmt: skip
    api.completion(org.headers, "s-3", status="started")
    assert client.put(f"{URL}/s-3", json={"status": "finished"},
                      headers=org.headers).json()["status"] == "finished"  # fmt: skip


def test_log10_started_then_finished_in_either_order(client, org):
    h = {"x-log10-token": org.api_key}
    for order in (("started", "finished"), ("finished", "started")):
        cid = f"l10-{order[0]}"
        for status in order:
            response = client.post(
                f"/api/completions/{cid}",
                json={"status": status, "request": '{"model": "gpt"}', "tags": ["x"]},
                headers=h,
            )
            assert response.status_code == 200, response.text
        got = client.get(f"/api/completions/{cid}", headers=h).json()["data"]
        assert got["status"] == "finished" and got["request"] == {"model": "gpt"}


def test_list_filters_by_tags_with_and(client, api, org):
    api.completion(org.headers, "t-1", ["x", "y"])
    api.completion(org.headers, "t-2", ["x"])
    api.completion(org.headers, "t-3", ["y", "x", "z"])

    def ids(**params):
        return [c["id"] for c in client.get(URL, params=params, headers=org.headers).json()["data"]]

    assert ids(tags="x") == ["t-3", "t-2", "t-1"]  # newest first
    assert ids(tags="x,y") == ["t-3", "t-1"]
    assert ids(tags=["x", "z"]) == ["t-3"]
    assert ids(tags="x,unknown") == []
    tag_id = client.get("/api/tags/search", params={"query": "z"}, headers=org.headers).json()
    by_id = client.get("/api/completions", params={"tagFilter": tag_id["data"][0]["id"]},
                       headers=org.headers).json()  # fmt: skip
    assert [c["id"] for c in by_id["data"]] == ["t-3"]


def test_time_range_and_paging(client, api, org):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(5):
        api.completion(org.headers, f"p-{i}", created_at=(base + timedelta(days=i)).isoformat())

    def page(**params):
        return client.get(URL, params=params, headers=org.headers).json()

    window = page(**{"from": "2025-01-02T00:00:00+00:00", "to": "2025-01-04T00:00:00Z"})
    assert [c["id"] for c in window["data"]] == ["p-3", "p-2", "p-1"] and window["total"] == 3
    offset_tz = page(**{"from": "2025-01-04T01:00:00+02:00"})  # = 2025-01-03T23:00Z
    assert [c["id"] for c in offset_tz["data"]] == ["p-4", "p-3"]
    first, second = page(limit=2), page(limit=2, offset=2)
    assert [c["id"] for c in first["data"]] == ["p-4", "p-3"] and first["total"] == 5
    assert [c["id"] for c in second["data"]] == ["p-2", "p-1"]
    assert page(offset=10)["data"] == []
    lines = client.get(f"{URL}/download", params={"from": "2025-01-04T00:00:00Z"},
                       headers=org.headers).content.splitlines()  # fmt: skip
    assert len(lines) == 2


def test_get_and_shape(client, api, org):
    api.completion(org.headers, "g-1", ["a"], model="gpt-x", usage={"total_tokens": 3})
    got = client.get(f"{URL}/g-1", headers=org.headers).json()
    assert got["id"] == "g-1" and got["usage"] == {"total_tokens": 3}
    assert got["request"] == {} and got["response"] == {}  # objects, never null (log10 CLI)
    assert got["created_at"].endswith("+00:00")
    assert got["tagResolved"][0]["name"] == "a"
    assert client.get(f"{URL}/missing", headers=org.headers).status_code == 404
    created = client.post(URL, json={"tags": ["n"]}, headers=org.headers)
    assert created.status_code == 200 and len(created.json()["id"]) == 36  # server-made id


@pytest.mark.parametrize("bad_id", ["has space", "-lead", "x" * 65, "a/b", "é", "a;b"])
def test_id_validation(client, api, org, bad_id):
    before = api.counts()
    response = client.post(URL, json={"id": bad_id}, headers=org.headers)
    assert response.status_code == 422, response.text
    assert "id" in (error_of(response)["path"] or "")
    assert api.counts() == before


def test_ids_of_another_org_cannot_be_overwritten(client, api, org, other_org):
    api.completion(org.headers, "mine", ["secret"], response={"text": "A"})
    for method, url in (("PUT", f"{URL}/mine"), ("POST", "/api/completions/mine"),
                        ("POST", "/api/v1/completions/mine")):  # fmt: skip
        response = client.request(method, url, json={"response": {"text": "B"}},
                                  headers=other_org.headers)  # fmt: skip
        assert response.status_code == 403, (url, response.text)
    assert client.get(f"{URL}/mine", headers=org.headers).json()["response"] == {"text": "A"}
    assert client.get(f"{URL}/mine", headers=other_org.headers).status_code == 404
