"""Contextvar tags (nesting, threads, asyncio tasks) and end-user feedback with a scoped key."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from sdk_helpers import logged

import plaudit
from plaudit.core.orgs import create_api_key
from plaudit.db.session import make_sessionmaker, session_scope
from plaudit.sdk.context import current_tags

MESSAGES = [{"role": "user", "content": "hello"}]


def test_tags_nest_and_unwind():
    assert current_tags() == ()
    with plaudit.tags("outer", "shared"):
        with plaudit.tags(["inner", "shared"]):
            assert current_tags() == ("outer", "shared", "inner")
        assert current_tags() == ("outer", "shared")
    assert current_tags() == ()


def test_tags_do_not_leak_between_threads():
    seen: list[tuple[str, ...]] = []
    with plaudit.tags("main-only"):
        thread = threading.Thread(target=lambda: seen.append(current_tags()))
        thread.start()
        thread.join()
    assert seen == [()]


def test_tags_are_isolated_per_asyncio_task():
    async def worker(name: str, pause: float) -> tuple[str, ...]:
        with plaudit.tags(name):
            await asyncio.sleep(pause)  # the other task runs and sets its own tags meanwhile
            with plaudit.tags(f"{name}-inner"):
                await asyncio.sleep(0)
                return current_tags()

    async def main() -> list[tuple[str, ...]]:
        with plaudit.tags("request"):
            return list(await asyncio.gather(worker("a", 0.02), worker("b", 0.01)))

    assert asyncio.run(main()) == [("request", "a", "a-inner"), ("request", "b", "b-inner")]


def test_tags_reach_logged_completions_across_tasks(sdk, fake_model, live_server, org):
    client = plaudit.AsyncOpenAI(base_url=fake_model.openai_base_url, api_key="k", tags=["svc"])

    async def one(user: str) -> str | None:
        with plaudit.tags(f"user-{user}"):
            await asyncio.sleep(0)
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            return plaudit.completion_id(reply)

    async def main() -> list[str | None]:
        with plaudit.tags("batch-job"):
            return list(await asyncio.gather(*(one(u) for u in "xyz")))

    ids = asyncio.run(main())
    rows = {r["id"]: r for r in logged(live_server.url, org, 3)}
    for user, cid in zip("xyz", ids, strict=True):
        assert rows[cid]["tags"] == ["svc", "batch-job", f"user-{user}"]


EMOJI = {
    "type": "object",
    "properties": {"feedback": {"type": "string", "enum": ["👍", "👎"]}},
    "required": ["feedback"],
}


@pytest.fixture
def feedback_key(engine, org) -> str:
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        return create_api_key(session, org.id, "feedback", name="browser app")


def test_feedback_scoped_key_posts_feedback_and_nothing_else(
    sdk, fake_model, live_server, org, feedback_key
):
    task = httpx.post(
        f"{live_server.url}/api/v1/feedback_task",
        json={"name": "thumbs", "json_schema": EMOJI, "completion_tags_selector": ["app"],
              "instruction": "Was it helpful?"},
        headers=org.headers,
    )  # fmt: skip
    assert task.status_code == 200, task.text
    client = plaudit.OpenAI(base_url=fake_model.openai_base_url, api_key="k", tags=["app"])
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    cid = plaudit.completion_id(reply)
    plaudit.configure(api_key=feedback_key)  # what a browser-facing app would ship
    created = plaudit.feedback(task.json()["id"], {"feedback": "👍"}, completion_ids=[cid],
                               comment="nice")  # fmt: skip
    assert created["matched_completion_ids"] == [cid]
    assert created["json_values"] == {"feedback": "👍"}
    with pytest.raises(plaudit.FeedbackError) as refused:
        plaudit.feedback(task.json()["id"], {"feedback": "🤷"}, completion_ids=[cid])
    assert refused.value.status_code in (400, 422)

    headers = {"Authorization": f"Bearer {feedback_key}"}
    url = live_server.url
    forbidden = [
        httpx.get(f"{url}/api/v1/completions", headers=headers),
        httpx.get(f"{url}/api/v1/completions/{cid}", headers=headers),
        httpx.post(f"{url}/api/v1/completions/batch", json={"completions": []}, headers=headers),
        httpx.put(f"{url}/api/v1/completions/x1", json={}, headers=headers),
        httpx.get(f"{url}/api/v1/feedback", headers=headers),
        httpx.get(f"{url}/api/v1/feedback_task", headers=headers),
        httpx.post(
            f"{url}/api/v1/feedback_task", json={"name": "x", "json_schema": EMOJI}, headers=headers
        ),  # fmt: skip
    ]
    assert [r.status_code for r in forbidden] == [403] * len(forbidden)
    listed = httpx.get(f"{url}/api/v1/feedback", headers=org.headers).json()
    assert listed["total"] == 1  # only the valid feedback was stored
