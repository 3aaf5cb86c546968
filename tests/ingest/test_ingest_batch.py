"""POST /api/v1/completions/batch: validation, idempotency, limits, gzip, visibility."""

from __future__ import annotations

import gzip

import orjson
import pytest

URL = "/api/v1/completions/batch"


def _item(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"batch-{i}",
        "status": "finished",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "request": {"messages": [{"role": "user", "content": f"hi {i}"}]},
        "response": {"choices": [{"message": {"role": "assistant", "content": "hello"}}]},
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        "latency_ms": 12.5,
        "tags": ["batch", f"n{i % 3}"],
        "metadata": {"source": "test"},
        **extra,
    }


def _count(client, org, **params: object) -> int:
    answer = client.get("/api/v1/completions", params=params, headers=org.headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


def test_batch_is_committed_before_ack_and_visible(client, org):
    answer = client.post(
        URL, json={"completions": [_item(i) for i in range(50)]}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 50}
    assert _count(client, org) == 50
    assert _count(client, org, tags="batch,n1") == 17
    one = client.get("/api/v1/completions/batch-7", headers=org.headers).json()
    assert one["tags"] == ["batch", "n1"]
    assert one["metadata"] == {"source": "test"}
    assert one["latency_ms"] == 12.5
    assert one["request"]["messages"][0]["content"] == "hi 7"


def test_retried_batch_creates_no_duplicates(client, org):
    body = {"completions": [_item(i) for i in range(20)]}
    for _ in range(3):
        assert client.post(URL, json=body, headers=org.headers).status_code == 200
    assert _count(client, org) == 20
    assert _count(client, org, tags="batch") == 20


def test_same_id_twice_in_one_batch_folds_in_order(client, org):
    first = _item(1, status="started", response={})
    second = {"id": "batch-1", "status": "finished", "response": {"choices": []}}
    answer = client.post(URL, json={"completions": [first, second]}, headers=org.headers)
    assert answer.status_code == 200, answer.text
    got = client.get("/api/v1/completions/batch-1", headers=org.headers).json()
    assert got["status"] == "finished" and got["response"] == {"choices": []}
    assert _count(client, org) == 1


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"status": "done"}, "completions.2.status"),
        ({"latency_ms": -1}, "completions.2.latency_ms"),
        ({"latency_ms": "fast"}, "completions.2.latency_ms"),
        ({"ttft_ms": 1e300}, "completions.2.ttft_ms"),  # read back as an int it overflowed
        ({"tags": "a,b"}, "completions.2.tags"),
        ({"tags": [1]}, "completions.2.tags"),
        ({"id": "has space"}, "completions.2.id"),
        ({"id": 7}, "completions.2.id"),
        ({"request": [1, 2]}, "completions.2.request"),
        ({"usage": "many"}, "completions.2.usage"),
        ({"model": "m" * 201}, "completions.2.model"),
        ({"created_at": "yesterday"}, "completions.2.created_at"),
        ({"colour": "red"}, "completions.2.colour"),
    ],
)
def test_invalid_item_names_index_and_field_and_writes_nothing(client, org, bad, path):
    items = [_item(0), _item(1), _item(2, **bad), _item(3)]
    answer = client.post(URL, json={"completions": items}, headers=org.headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["path"] == path
    assert error["message"].startswith(path)
    assert _count(client, org) == 0


def test_non_object_item_and_bad_envelope(client, org):
    answer = client.post(URL, json={"completions": [_item(0), "x"]}, headers=org.headers)
    assert answer.status_code == 422 and answer.json()["error"]["path"] == "completions.1"
    assert client.post(URL, json=[_item(0)], headers=org.headers).status_code == 422
    assert client.post(URL, json={"completions": {}}, headers=org.headers).status_code == 422
    broken = client.post(URL, content=b"{nope", headers=org.headers)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "bad_request"
    assert _count(client, org) == 0


def test_too_deep_json_is_refused(client, org):
    deep: object = {"leaf": 1}
    for _ in range(80):
        deep = {"d": deep}
    answer = client.post(URL, json={"completions": [_item(0, request=deep)]}, headers=org.headers)
    assert answer.status_code == 422 and answer.json()["error"]["path"] == "completions.0.request"


def test_more_than_5000_items_is_refused(client, org):
    items = [{"id": f"x{i}"} for i in range(5001)]
    answer = client.post(URL, json={"completions": items}, headers=org.headers)
    assert answer.status_code == 422 and "5000" in answer.json()["error"]["message"]
    assert _count(client, org) == 0


def test_gzip_body_is_accepted(client, org):
    raw = orjson.dumps({"completions": [_item(i) for i in range(30)]})
    answer = client.post(
        URL,
        content=gzip.compress(raw),
        headers={**org.headers, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 30}
    assert _count(client, org) == 30


def test_oversize_body_gets_413(client, org, app):
    limit = app.state.settings.max_body_bytes
    big = {"completions": [_item(0, error="x" * 90_000) for _ in range(limit // 90_000 + 2)]}
    answer = client.post(URL, json=big, headers=org.headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert _count(client, org) == 0


def test_gzip_bomb_gets_413(client, org, app):
    limit = app.state.settings.max_body_bytes
    bomb = gzip.compress(b'{"completions": ["' + b"a" * (limit + 10) + b'"]}')
    assert len(bomb) < limit // 100
    answer = client.post(URL, content=bomb, headers={**org.headers, "Content-Encoding": "gzip"})
    assert answer.status_code == 413, answer.text


def test_feedback_key_cannot_ingest(client, org, engine):
    from plaudit.core.orgs import create_api_key
    from plaudit.db.session import make_sessionmaker, session_scope

    with session_scope(make_sessionmaker(engine, write=True)) as session:
        key = create_api_key(session, org.id, "feedback")
    answer = client.post(
        URL, json={"completions": [_item(0)]}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 403
    assert client.post(URL, json={"completions": [_item(0)]}).status_code == 401
    assert _count(client, org) == 0


def test_id_owned_by_another_org_conflicts_without_hurting_others(client, org, other_org):
    assert (
        client.post(URL, json={"completions": [_item(1)]}, headers=org.headers).status_code == 200
    )
    answer = client.post(URL, json={"completions": [_item(1)]}, headers=other_org.headers)
    assert answer.status_code in (403, 409)  # refused: the id belongs to another org
    assert _count(client, other_org) == 0
    assert _count(client, org) == 1


def test_missing_id_gets_a_server_made_one(client, org):
    item = _item(0)
    del item["id"]
    answer = client.post(URL, json={"completions": [item]}, headers=org.headers)
    assert answer.status_code == 200
    assert _count(client, org) == 1
