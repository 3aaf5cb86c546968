"""Hostile and malformed input: always a clear 4xx, never a 500, and the database unchanged."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from conftest import error_of
from plaudit.api.app import create_app

MB = 1024 * 1024


@pytest.fixture
def seeded(api, org):
    task = api.task(org.headers, name="bad", completion_tags_selector=["b"])
    api.completion(org.headers, "b-1", ["b"])
    return task


def _write_routes(task_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/v1/feedback_task"),
        ("PATCH", f"/api/v1/feedback_task/{task_id}"),
        ("POST", "/api/v1/feedback"),
        ("POST", "/api/v1/completions"),
        ("PUT", "/api/v1/completions/b-2"),
        ("POST", "/api/completions/b-3"),
        ("POST", "/api/v1/completions/b-4"),
        ("POST", f"/api/v1/feedback_task/{task_id}/inbox/b-1/submit"),
    ]


def _send(client, org, method, url, content, extra=None):
    headers = {**org.headers, "content-type": "application/json", **(extra or {})}
    return client.request(method, url, content=content, headers=headers)


def test_malformed_json_is_400_everywhere(client, api, org, seeded):
    before = api.counts()
    for method, url in _write_routes(seeded["id"]):
        for body in (b"{", b'{"name": }', b"{'single': 1}", b"\xff\xfe", b'{"a": NaN}'):
            response = _send(client, org, method, url, body)
            assert response.status_code == 400, (url, body, response.text)
            assert "JSON" in error_of(response)["message"]
    assert api.counts() == before


def test_non_object_bodies_are_4xx(client, api, org, seeded):
    before = api.counts()
    for method, url in _write_routes(seeded["id"]):
        for body in (b"[]", b'"text"', b"42", b"null", b"true", b"[{}]"):
            response = _send(client, org, method, url, body)
            assert 400 <= response.status_code < 500, (url, body, response.text)
            assert error_of(response)["message"]
    assert api.counts() == before


def test_unknown_ids_are_404(client, api, org, seeded):
    before = api.counts()
    urls = [
        ("GET", "/api/v1/feedback_task/nope"), ("PATCH", "/api/v1/feedback_task/nope"),
        ("POST", "/api/v1/feedback_task/nope/archive"),
        ("GET", "/api/v1/feedback_task/nope/versions"),
        ("GET", "/api/v1/feedback/nope"), ("PATCH", "/api/v1/feedback/nope"),
        ("DELETE", "/api/v1/feedback/nope"), ("GET", "/api/v1/feedback/nope/history"),
        ("GET", "/api/v1/completions/nope"), ("GET", "/api/completions/nope"),
        ("POST", f"/api/v1/feedback_task/{seeded['id']}/inbox/nope/skip"),
        ("POST", "/api/v1/feedback_task/" + "x" * 5000 + "/inbox/next"),
    ]  # fmt: skip
    for method, url in urls:
        kwargs = {"json": {}} if method == "PATCH" else {}
        response = client.request(method, url, headers=org.headers, **kwargs)
        assert response.status_code == 404, (url, response.text)
    feedback = client.post(
        "/api/v1/feedback", json={"task_id": "nope", "json_values": {"score": 1}},
        headers=org.headers,
    )  # fmt: skip
    assert feedback.status_code == 404 and error_of(feedback)["path"] == "task_id"
    assert client.get("/api/v1/no/such/route", headers=org.headers).status_code == 404
    assert api.counts() == before


def test_schemas_that_are_not_json_schema_and_values_of_the_wrong_type(client, api, org, seeded):
    before = api.counts()
    for schema in ({"type": "objekt"}, {"properties": []}, {"$schema": 5}, {"minLength": -1}):
        response = client.post("/api/v1/feedback_task", json={"name": "t", "json_schema": schema},
                               headers=org.headers)  # fmt: skip
        assert response.status_code == 422, (schema, response.text)
    for values in ({"score": "5"}, {"score": 5.5}, {"score": [5]}, {"score": None},
                   {"score": 1, "label": 1}):  # fmt: skip
        response = client.post(
            "/api/v1/feedback", json={"task_id": seeded["id"], "json_values": values,
                                      "completion_ids": ["b-1"]},
            headers=org.headers,
        )  # fmt: skip
        assert response.status_code == 422, (values, response.text)
        assert error_of(response)["path"].startswith("json_values.")
    assert api.counts() == before


def test_html_and_unicode_are_stored_verbatim_and_served_as_json(client, api, org, seeded):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp; 😀 \u202e'
    made = api.feedback(org.headers, seeded["id"], completion_ids=["b-1"],
                        json_values={"score": 1, "notes": hostile}, comment=hostile)  # fmt: skip
    got = client.get(f"/api/v1/feedback/{made['id']}", headers=org.headers)
    assert got.headers["content-type"].startswith("application/json")
    assert got.json()["json_values"]["notes"] == hostile and got.json()["comment"] == hostile
    task = api.task(org.headers, name=hostile[:100], instruction=hostile)
    assert (
        client.get(f"/api/v1/feedback_task/{task['id']}", headers=org.headers).json()["instruction"]
        == hostile
    )


def test_nul_bytes_are_refused(client, api, org, seeded):
    before = api.counts()
    bodies = [
        ("POST", "/api/v1/feedback_task", b'{"name": "a\\u0000b", "json_schema": {}}'),
        ("POST", "/api/v1/feedback", b'{"task_id": "t", "json_values": {"n\\u0000": 1}}'),
        ("PUT", "/api/v1/completions/n-1", b'{"tags": ["a\\u0000"]}'),
        ("POST", "/api/completions/n-2", b'{"request": "{\\"a\\": \\"\\\\u0000\\"}"}'),
    ]
    for method, url, body in bodies:
        response = _send(client, org, method, url, body)
        assert 400 <= response.status_code < 500, (url, response.text)
    for url in ("/api/v1/feedback?task_id=%00", "/api/v1/feedback/a%00b",
                "/api/tags/search?query=x%00", "/api/v1/completions?tags=%00"):  # fmt: skip
        response = client.get(url, headers=org.headers)
        assert response.status_code == 400, (url, response.text)
    assert api.counts() == before


def test_megabyte_strings(client, api, org, seeded):
    big = "x" * MB
    before = api.counts()
    refused = [
        ("POST", "/api/v1/feedback_task", {"name": big, "json_schema": {}}),
        ("POST", "/api/v1/feedback_task", {"name": "n", "json_schema": {}, "instruction": big}),
        ("PUT", "/api/v1/completions/big-1", {"tags": [big]}),
        ("PUT", "/api/v1/completions/" + "i" * 65, {}),
        ("POST", "/api/v1/feedback", {"task_id": seeded["id"], "json_values": {"score": 1},
                                      "completion_ids": ["b-1"], "comment": big}),
        ("POST", "/api/v1/feedback", {"task_id": big, "json_values": {}}),
    ]  # fmt: skip
    for method, url, body in refused:
        response = client.request(method, url, json=body, headers=org.headers)
        assert response.status_code in (404, 422), (url, response.status_code, response.text[:300])
    assert api.counts() == before
    accepted = api.feedback(org.headers, seeded["id"], completion_ids=["b-1"],
                            json_values={"score": 1, "notes": big})  # fmt: skip
    got = client.get(f"/api/v1/feedback/{accepted['id']}", headers=org.headers).json()
    assert len(got["json_values"]["notes"]) == MB
    logged = api.completion(org.headers, "big-ok", ["b"], response={"text": big})
    assert len(logged["response"]["text"]) == MB


def test_deep_nesting_is_422(client, api, org, seeded):
    before = api.counts()
    deep = b'{"a": ' * 10_000 + b"1" + b"}" * 10_000
    nested_values = (
        b'{"task_id": "' + seeded["id"].encode() + b'", "completion_ids": ["b-1"], '
        b'"json_values": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    )
    moderately = b'{"name": "n", "json_schema": ' + b'{"not": ' * 100 + b"{}" + b"}" * 100 + b"}"
    for method, url, body in [
        ("POST", "/api/v1/feedback_task", deep),
        ("POST", "/api/v1/feedback", nested_values),
        ("PUT", "/api/v1/completions/d-1", b'{"request": ' + deep + b"}"),
        ("POST", "/api/v1/feedback_task", moderately),
    ]:
        response = _send(client, org, method, url, body)
        assert response.status_code == 422, (url, response.text[:300])
        assert "deeper" in error_of(response)["message"]
    assert api.counts() == before


def test_oversize_bodies_are_413(settings, engine, api, org):
    small = create_app(settings.model_copy(update={"max_body_bytes": 64 * 1024}), engine)
    with TestClient(small) as client:
        before = api.counts()
        body = b'{"name": "n", "json_schema": {}, "instruction": "' + b"x" * 70_000 + b'"}'
        declared = _send(client, org, "POST", "/api/v1/feedback_task", body)
        assert declared.status_code == 413, declared.text
        assert "exceeds" in declared.json()["error"]["message"]

        def chunks():  # no Content-Length: the limit is enforced while streaming
            for _ in range(20):
                yield b" " * 8192
            yield body

        streamed = client.post(
            "/api/v1/feedback_task",
            content=chunks(),
            headers={**org.headers, "content-type": "application/json"},
        )
        assert streamed.status_code == 413, streamed.text
        bomb = gzip.compress(b'{"name": "n", "json_schema": {}, "x": "' + b"0" * 5 * MB + b'"}')
        assert len(bomb) < 64 * 1024
        inflated = _send(client, org, "POST", "/api/v1/feedback_task", bomb,
                         {"content-encoding": "gzip"})  # fmt: skip
        assert inflated.status_code == 413, inflated.text
        not_gzip = _send(client, org, "POST", "/api/v1/feedback_task", b"plain",
                         {"content-encoding": "gzip"})  # fmt: skip
        assert not_gzip.status_code == 400, not_gzip.text
        assert api.counts() == before


def test_out_of_range_numbers_and_times(client, api, org, seeded):
    before = api.counts()
    for url in ("/api/v1/feedback_task?offset=99999999999999999999",
                "/api/v1/feedback?offset=9223372036854775808",
                "/api/completions?offset=10000000000",
                "/api/v1/completions?offset=-1", "/api/v1/completions?limit=0",
                "/api/v1/completions?from=0001-01-01T00:00:00%2B14:00",
                "/api/v1/completions?from=not-a-date",
                '/api/completions?createdFilter={"from":"0001-01-01T00:00:00+05:00"}',
                "/api/v1/models/99999999999"):  # fmt: skip
        response = client.get(url, headers=org.headers)
        assert 400 <= response.status_code < 500, (url, response.text)
    for created in (
        "0001-01-01T00:00:00+14:00",
        "0419-04-03T18:52:32-05:33",
        "9999-12-31T23:59:59-01:00",
    ):
        response = client.put("/api/v1/completions/t-1", json={"created_at": created},
                              headers=org.headers)  # fmt: skip
        assert response.status_code == 422, (created, response.text)
    for body in (
        {"latency_ms": -1},
        {"status": "done"},
        {"kind": None, "status": None},
        {"request": "not json"},
        {"tags": "a,b"},
        {"latency_ms": 7.9e306},
    ):  # log10's integer `duration` of it: > 64 bits
        response = client.put("/api/v1/completions/t-2", json=body, headers=org.headers)
        assert response.status_code == 422, (body, response.text)
    huge = client.post("/api/completions/t-3", json={"duration": 1e300}, headers=org.headers)
    assert huge.status_code == 422 and "duration" in huge.text, huge.text
    assert api.counts() == before


def test_lone_surrogates_and_bad_utf8(client, api, org, seeded):
    before = api.counts()
    for body in (b'{"name": "\\ud800", "json_schema": {}}', b'{"name": "\xed\xa0\x80"}'):
        response = _send(client, org, "POST", "/api/v1/feedback_task", body)
        assert response.status_code == 400, response.text
    response = client.get("/api/tags/search?query=%ED%A0%80", headers=org.headers)
    assert response.status_code == 200
    assert api.counts() == before
