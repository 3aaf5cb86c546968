"""Reviewer inbox: claims under a lease, submit, skip, N independent reviews, concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from plaudit.api.app import create_app

INBOX = "/api/v1/feedback_task/{}/inbox"


def _next(client: Any, task_id: str, headers: dict[str, str]) -> Any:
    response = client.post(INBOX.format(task_id) + "/next", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["item"]


def _item_id(item: Any) -> str | None:
    return None if item is None else item["completion"]["id"]


def _submit(client: Any, task_id: str, cid: str, headers: dict[str, str], score: int = 3) -> Any:
    return client.post(
        INBOX.format(task_id) + f"/{cid}/submit", json={"json_values": {"score": score}},
        headers=headers,
    )  # fmt: skip


def _counts(client: Any, task_id: str, headers: dict[str, str]) -> dict[str, int]:
    return dict(client.get(INBOX.format(task_id), headers=headers).json()["counts"])


@pytest.fixture
def inbox_task(api, org) -> dict[str, Any]:
    task = api.task(org.headers, name="inbox", completion_tags_selector=["review"])
    for i in range(3):
        api.completion(org.headers, f"c-{i}", ["review", "x"])
    api.completion(org.headers, "c-other", ["x"])
    return task


def test_next_claims_under_the_default_lease_and_reload_returns_it(client, api, org, inbox_task):
    tid = inbox_task["id"]
    item = _next(client, tid, org.headers)
    assert item["completion"]["id"] == "c-0"  # oldest first
    expires = datetime.fromisoformat(item["lease_expires_at"])
    remaining = (expires - datetime.now(UTC)).total_seconds()
    assert 590 < remaining <= 600  # Settings.inbox_lease_seconds default: 10 minutes
    again = _next(client, tid, org.headers)
    assert again["completion"]["id"] == "c-0" and again["slot"] == item["slot"]
    assert _counts(client, tid, org.headers) == {"open": 2, "claimed": 1, "done": 0}


def test_two_reviewers_get_different_items(client, api, org, inbox_task):
    tid = inbox_task["id"]
    alice, bob = api.key(org.id), api.key(org.id)
    a, b = _next(client, tid, alice), _next(client, tid, bob)
    assert _item_id(a) != _item_id(b)
    assert {_item_id(a), _item_id(b)} <= {"c-0", "c-1", "c-2"}


def test_submit_closes_the_slot_and_moves_on(client, api, org, inbox_task):
    tid = inbox_task["id"]
    first = _item_id(_next(client, tid, org.headers))
    response = _submit(client, tid, first, org.headers, score=5)
    assert response.status_code == 200, response.text
    assert response.json()["matched_completion_ids"] == [first]
    assert response.json()["json_values"] == {"score": 5}
    assert _counts(client, tid, org.headers) == {"open": 2, "claimed": 0, "done": 1}
    second = _item_id(_next(client, tid, org.headers))
    assert second not in (None, first)
    listed = client.get("/api/v1/feedback", params={"task_id": tid}, headers=org.headers).json()
    assert [f["matched_completion_ids"] for f in listed["data"]] == [[first]]


def test_submit_needs_a_claim_valid_values_and_an_inbox_item(client, api, org, inbox_task):
    tid = inbox_task["id"]
    before = api.counts()
    no_claim = _submit(client, tid, "c-1", org.headers)
    assert no_claim.status_code == 409, no_claim.text
    assert "claim" in no_claim.json()["error"]["message"]
    not_in_inbox = _submit(client, tid, "c-other", org.headers)
    assert not_in_inbox.status_code == 404, not_in_inbox.text
    claimed = _item_id(_next(client, tid, org.headers))
    bad = client.post(
        INBOX.format(tid) + f"/{claimed}/submit", json={"json_values": {"score": "high"}},
        headers=org.headers,
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["path"] == "json_values.score"
    other_reviewer = api.key(org.id)
    stolen = _submit(client, tid, claimed, other_reviewer)
    assert stolen.status_code == 409, stolen.text
    assert api.counts()["feedback"] == before["feedback"]
    assert _item_id(_next(client, tid, org.headers)) == claimed  # the claim survived
    assert _submit(client, tid, claimed, org.headers).status_code == 200
    assert _submit(client, tid, claimed, org.headers).status_code == 409  # once per reviewer


def test_skip_releases_and_the_skipper_is_not_offered_it_again(client, api, org):
    task = api.task(org.headers, completion_tags_selector=["solo"])
    api.completion(org.headers, "only", ["solo"])
    tid = task["id"]
    alice, bob = api.key(org.id), api.key(org.id)
    assert _item_id(_next(client, tid, alice)) == "only"
    assert _next(client, tid, bob) is None  # held by alice
    skip = client.post(INBOX.format(tid) + "/only/skip", headers=alice)
    assert skip.status_code == 200, skip.text
    assert _next(client, tid, alice) is None  # skipped: never offered to alice again
    assert _item_id(_next(client, tid, bob)) == "only"
    client.post(INBOX.format(tid) + "/only/skip", headers=bob)
    assert _next(client, tid, alice) is None and _next(client, tid, bob) is None
    assert _item_id(_next(client, tid, api.key(org.id))) == "only"
    again = client.post(INBOX.format(tid) + "/only/skip", headers=alice)
    assert again.status_code == 404  # alice holds nothing to skip


def test_n_reviews_per_item_come_from_n_distinct_reviewers(client, api, org):
    task = api.task(org.headers, completion_tags_selector=["multi"], reviews_per_item=3)
    api.completion(org.headers, "m-1", ["multi"])
    tid = task["id"]
    reviewers = [api.key(org.id) for _ in range(4)]
    for headers in reviewers[:3]:
        assert _item_id(_next(client, tid, headers)) == "m-1"
        assert _submit(client, tid, "m-1", headers).status_code == 200
        assert _next(client, tid, headers) is None  # never a second slot of the same item
    assert _next(client, tid, reviewers[3]) is None  # three reviews given: nothing left
    assert _counts(client, tid, org.headers) == {"open": 0, "claimed": 0, "done": 3}


def test_skip_with_several_reviews_per_item_skips_every_slot(client, api, org):
    task = api.task(org.headers, completion_tags_selector=["multi"], reviews_per_item=2)
    api.completion(org.headers, "m-1", ["multi"])
    tid = task["id"]
    alice = api.key(org.id)
    assert _item_id(_next(client, tid, alice)) == "m-1"
    assert client.post(INBOX.format(tid) + "/m-1/skip", headers=alice).status_code == 200
    assert _next(client, tid, alice) is None
    assert _counts(client, tid, org.headers)["open"] == 2


def test_lease_expiry_returns_the_item(settings, engine, api, org):
    instant = create_app(settings.model_copy(update={"inbox_lease_seconds": 0}), engine)
    with TestClient(instant) as client:
        task = api.task(org.headers, completion_tags_selector=["lease"])
        api.completion(org.headers, "l-1", ["lease"])
        tid = task["id"]
        alice, bob = api.key(org.id), api.key(org.id)
        assert _item_id(_next(client, tid, alice)) == "l-1"
        assert _counts(client, tid, org.headers)["open"] == 1  # lapsed at once: claimable
        assert _item_id(_next(client, tid, bob)) == "l-1"  # alice's lease ran out
        assert _submit(client, tid, "l-1", alice).status_code == 409  # it passed to bob
        assert _submit(client, tid, "l-1", bob).status_code == 200


def test_feedback_posted_directly_closes_slots(client, api, org):
    task = api.task(org.headers, completion_tags_selector=["direct"], reviews_per_item=2)
    for cid in ("d-1", "d-2"):
        api.completion(org.headers, cid, ["direct"])
    tid = task["id"]
    api.feedback(org.headers, tid, completion_tags_selector=["direct"])
    assert _counts(client, tid, org.headers) == {"open": 2, "claimed": 0, "done": 2}
    api.feedback(org.headers, tid, completion_tags_selector=["direct"])  # same reviewer again
    assert _counts(client, tid, org.headers)["done"] == 2  # counts once per reviewer
    other = api.key(org.id)
    api.feedback(other, tid, completion_ids=["d-1"])
    assert _counts(client, tid, org.headers) == {"open": 1, "claimed": 0, "done": 3}


def test_completions_logged_later_enter_the_inbox_and_retagging_removes_them(client, api, org):
    task = api.task(org.headers, completion_tags_selector=["a", "b"])
    tid = task["id"]
    assert _next(client, tid, org.headers) is None
    api.completion(org.headers, "late-1", ["a"])  # only one tag of the AND selector
    assert _next(client, tid, org.headers) is None
    api.completion(org.headers, "late-2", ["b", "a", "z"])
    assert _item_id(_next(client, tid, api.key(org.id))) == "late-2"
    api.completion(org.headers, "late-1", ["a", "b"])  # re-tagged into the selector
    reviewer = api.key(org.id)
    assert _item_id(_next(client, tid, reviewer)) == "late-1"
    client.post(INBOX.format(tid) + "/late-1/skip", headers=reviewer)
    api.completion(org.headers, "late-1", ["a"])  # re-tagged out again: its open slot goes
    assert client.get(INBOX.format(tid), headers=org.headers).json()["open"] == []


def test_archive_empties_the_inbox_and_keeps_feedback(client, api, org, inbox_task):
    tid = inbox_task["id"]
    claimed = _item_id(_next(client, tid, org.headers))
    assert _submit(client, tid, claimed, org.headers).status_code == 200
    _next(client, tid, org.headers)  # a live claim that archiving must end
    archived = client.post(f"/api/v1/feedback_task/{tid}/archive", headers=org.headers)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert _counts(client, tid, org.headers) == {"open": 0, "claimed": 0, "done": 1}
    refused = client.post(INBOX.format(tid) + "/next", headers=org.headers)
    assert refused.status_code == 409
    listed = client.get("/api/v1/feedback", params={"task_id": tid}, headers=org.headers)
    assert listed.json()["total"] == 1
    api.completion(org.headers, "after-archive", ["review"])
    assert _counts(client, tid, org.headers)["open"] == 0


def test_deleting_feedback_reopens_its_slot(client, api, org, inbox_task):
    tid = inbox_task["id"]
    cid = _item_id(_next(client, tid, org.headers))
    feedback_id = _submit(client, tid, cid, org.headers).json()["id"]
    assert client.delete(f"/api/v1/feedback/{feedback_id}", headers=org.headers).status_code == 200
    assert cid in client.get(INBOX.format(tid), headers=org.headers).json()["open"]


def test_inbox_of_unknown_task_is_404(client, org):
    for method, suffix in (("GET", ""), ("POST", "/next"), ("POST", "/c/skip")):
        response = client.request(method, INBOX.format("nope") + suffix, headers=org.headers)
        assert response.status_code == 404, response.text


def _hammer(url: str, task_id: str, keys: list[str], rounds_cap: int) -> dict[str, Any]:
    """Each reviewer thread loops next → submit until the inbox is empty; any moment two
    reviewers hold the same (completion, slot) is recorded as a violation."""
    held: dict[tuple[str, int], str] = {}
    lock = threading.Lock()
    reviews: list[tuple[str, str]] = []
    violations: list[str] = []
    errors: list[str] = []
    start = threading.Barrier(len(keys))

    def reviewer(key: str) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            start.wait()
            for _ in range(rounds_cap):
                response = http.post(INBOX.format(task_id) + "/next")
                if response.status_code != 200:
                    errors.append(f"next {response.status_code} {response.text}")
                    return
                item = response.json()["item"]
                if item is None:
                    return
                claim = (item["completion"]["id"], item["slot"])
                with lock:
                    if claim in held and held[claim] != key:
                        violations.append(f"{claim} held by two reviewers")
                    held[claim] = key
                submitted = _submit(http, task_id, claim[0], {})
                with lock:
                    held.pop(claim, None)
                if submitted.status_code != 200:
                    errors.append(f"submit {submitted.status_code} {submitted.text}")
                    return
                with lock:
                    reviews.append((claim[0], key))

    threads = [threading.Thread(target=reviewer, args=(k,)) for k in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return {"reviews": reviews, "violations": violations, "errors": errors}


@pytest.mark.parametrize("reviews_per_item", [1, 2])
def test_concurrent_reviewers_never_share_an_item(live_server, api, org, reviews_per_item):
    items = 24
    task = api.task(org.headers, completion_tags_selector=["race"],
                    reviews_per_item=reviews_per_item)  # fmt: skip
    for i in range(items):
        api.completion(org.headers, f"r-{i:02d}", ["race"])
    keys = [api.raw_key(org.id) for _ in range(6)]
    result = _hammer(live_server.url, task["id"], keys, rounds_cap=items * reviews_per_item)
    assert result["errors"] == [] and result["violations"] == []
    per_item = Counter(cid for cid, _key in result["reviews"])
    assert per_item == {f"r-{i:02d}": reviews_per_item for i in range(items)}
    distinct = {cid: {k for c, k in result["reviews"] if c == cid} for cid in per_item}
    assert all(len(who) == reviews_per_item for who in distinct.values())
    assert len({k for _c, k in result["reviews"]}) > 1  # the work was actually shared
