"""Auth and organization scoping for EVERY route, enumerated from the app's OpenAPI document.

A route added later is covered automatically: it must answer 401 without a valid key, keep
other organizations' data invisible and untouched, and refuse scopes it does not allow.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from plaudit.api.app import create_app
from plaudit.config import Settings
from plaudit.db.base import Base
from plaudit.db.session import make_engine

PUBLIC = {("GET", "/healthz")}


def _operations() -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    app = create_app(Settings(), make_engine("sqlite://"))
    operations, with_body = [], set()
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                operations.append((method.upper(), path))
                if "requestBody" in operation:
                    with_body.add((method.upper(), path))
    return sorted(operations), with_body


OPERATIONS, _BODY_OPERATIONS = _operations()
AUTHENTICATED = [op for op in OPERATIONS if op not in PUBLIC]
IDS = [f"{m} {p}" for m, p in AUTHENTICATED]
# Operations whose body is one JSON object described in the OpenAPI document.
WITH_BODY = [op for op in AUTHENTICATED if op in _BODY_OPERATIONS]
# Completions, tags, feedback tasks, feedback and the inbox: the routes whose resources World
# creates, so they must fully succeed for their own org. Other areas' routes get every check
# that needs no knowledge of their bodies (401, org claims, no leaks, nothing changed, no 2xx
# for the wrong org or scope).
CORE_PREFIXES = ("/api/completions", "/api/v1/completions", "/api/v1/feedback", "/api/tags",
                 "/api/sessions")  # fmt: skip
CORE = [op for op in AUTHENTICATED if op[1].startswith(CORE_PREFIXES)]
CORE_IDS = [f"{m} {p}" for m, p in CORE]


def _is_ingest(method: str, path: str) -> bool:
    """Where an `ingest` key may act: logging completions (writes only), and the
    OpenAI-compatible proxy (`/v1/...`) that apps making LLM calls use with it."""
    logging = path.startswith(("/api/completions", "/api/v1/completions", "/api/sessions"))
    return (logging and method in ("POST", "PUT")) or path.startswith("/v1/")


FEEDBACK_ONLY = {("POST", "/api/v1/feedback")}


class World:
    """Org A's resources, made through the API with A's admin key."""

    def __init__(self, api: Any, org: Any) -> None:
        self.org = org
        self.task = api.task(org.headers, name="A-task", completion_tags_selector=["t1"])
        api.completion(org.headers, "a-c1", ["t1"])
        api.completion(org.headers, "a-c2", ["t2"])
        self.feedback = api.feedback(org.headers, self.task["id"], completion_ids=["a-c2"])
        next_item = api.client.post(
            f"/api/v1/feedback_task/{self.task['id']}/inbox/next", headers=org.headers
        )
        assert next_item.json()["item"]["completion"]["id"] == "a-c1"
        self.ids = {
            "task_id": self.task["id"],
            "completion_id": "a-c1",
            "feedback_id": self.feedback["id"],
        }
        self.serial = itertools.count()
        self.secrets = [self.task["id"], self.feedback["id"], "a-c1", "a-c2", org.id, "A-task"]

    def url(self, path: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: self.ids.get(m.group(1), "no-such-id"), path)

    def body(self, method: str, path: str) -> dict[str, Any] | None:
        bodies: dict[tuple[str, str], dict[str, Any]] = {
            ("POST", "/api/v1/completions"): {"id": f"new-{next(self.serial)}", "tags": ["t9"]},
            ("PUT", "/api/v1/completions/{completion_id}"): {"tags": ["t1"], "model": "m"},
            ("POST", "/api/v1/completions/batch"): {
                "completions": [{"id": f"b-{next(self.serial)}", "tags": []}]
            },
            ("POST", "/api/completions/{completion_id}"): {"status": "finished", "tags": ["t1"]},
            ("POST", "/api/v1/completions/{completion_id}"): {"status": "finished"},
            ("POST", "/api/completions"): {},
            ("POST", "/api/sessions"): {},
            ("POST", "/api/v1/feedback_task"): {"name": "n", "json_schema": {"type": "object"}},
            ("PATCH", "/api/v1/feedback_task/{task_id}"): {"name": "renamed"},
            ("POST", "/api/v1/feedback"): {
                "task_id": self.task["id"], "json_values": {"score": 2}, "completion_ids": ["a-c2"]
            },
            ("PATCH", "/api/v1/feedback/{feedback_id}"): {"comment": "edited"},
            ("POST", "/api/v1/feedback_task/{task_id}/inbox/{completion_id}/submit"): {
                "json_values": {"score": 4}
            },
        }  # fmt: skip
        if (method, path) in bodies:
            return bodies[(method, path)]
        return {} if method in ("POST", "PUT", "PATCH") else None


def _call(client: TestClient, world: World, method: str, path: str, headers: dict[str, str]) -> Any:
    body = world.body(method, path)
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return client.request(method, world.url(path), **kwargs)


def _snapshot(engine: Engine, org_id: str, world: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to org A, directly or through a link to A's rows."""
    tables = Base.metadata.tables
    links = {
        "feedback_task_versions": ("task_id", [world.task["id"]]),
        "inbox_skips": ("task_id", [world.task["id"]]),
        "feedback_completions": ("feedback_id", [world.feedback["id"]]),
        "feedback_revisions": ("feedback_id", [world.feedback["id"]]),
        "completion_tags": ("completion_id", ["a-c1", "a-c2"]),
    }
    out = {}
    with engine.connect() as conn:
        for name, table in tables.items():
            if "org_id" in table.c:
                where = table.c.org_id == org_id
            elif name in links:
                column, values = links[name]
                where = table.c[column].in_(values)
            else:
                continue
            rows = conn.execute(select(table).where(where)).all()
            out[name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


@pytest.fixture
def world(api: Any, org: Any) -> World:
    return World(api, org)


def test_every_route_is_enumerated_and_known_routes_present() -> None:
    assert ("GET", "/api/v1/feedback") in OPERATIONS
    assert ("POST", "/api/v1/feedback_task/{task_id}/inbox/next") in OPERATIONS
    assert len(AUTHENTICATED) >= 25


def _unchanged(engine: Engine, world: World, before: Any, stage: str) -> None:
    assert _snapshot(engine, world.org.id, world) == before, f"{stage} changed org A's rows"


def _check_bad_keys(client, world, api, method, path) -> None:
    revoked = api.raw_key(world.org.id, "admin")
    api.revoke(revoked)
    attempts = {
        "missing": {},
        "garbage": {"Authorization": "Bearer nonsense"},
        "wrong secret": {"x-log10-token": world.org.api_key[:-4] + "AAAA"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
    }
    for label, headers in attempts.items():
        response = _call(client, world, method, path, headers)
        assert response.status_code == 401, (label, response.status_code, response.text)
        assert "error" in response.json()


def _check_other_org(client, world, other_org, method, path) -> None:
    response = _call(client, world, method, path, other_org.headers)
    if "{" in path and (method, path) in CORE:  # addresses one of A's resources
        assert response.status_code in (403, 404), (response.status_code, response.text)
    elif "{" in path:  # another area's resource World did not create: B gets nothing of A's
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
    else:
        assert response.status_code < 500, response.text
    asked = world.url(path) + repr(world.body(method, path))
    for secret in world.secrets:  # an id the caller sent may be echoed in "not found"
        if secret not in asked:
            assert secret not in response.text, f"{method} {path} leaked {secret!r}"


def _check_claimed_org(client, world, other_org, method, path) -> None:
    for header in ("x-log10-organization-id", "x-log10-organization"):
        headers = {**world.org.headers, header: other_org.id}
        response = _call(client, world, method, path, headers)
        assert response.status_code == 403, (header, response.status_code, response.text)
    body = world.body(method, path)
    response = client.request(
        method, world.url(path) + "?organization_id=" + other_org.id, headers=world.org.headers,
        **({"json": body} if body is not None else {}),
    )  # fmt: skip
    assert response.status_code == 403, ("query", response.status_code, response.text)
    if (method, path) in WITH_BODY:
        response = client.request(
            method, world.url(path), headers=world.org.headers,
            json={**(body or {}), "organization_id": other_org.id},
        )  # fmt: skip
        assert response.status_code == 403, ("body", response.status_code, response.text)


def _check_scope(client, world, key, allowed: bool, method, path) -> None:
    response = _call(client, world, method, path, key)
    if allowed and (method, path) in CORE:
        assert response.status_code < 300, (response.status_code, response.text)
    elif allowed:  # another area's route: World's empty body may be refused, the key may not
        assert response.status_code not in (401, 403), (response.status_code, response.text)
        assert response.status_code < 500, response.text
    elif (method, path) in CORE:
        assert response.status_code == 403, (response.status_code, response.text)
    else:  # another area's route: its body may be refused first, but never a success
        assert 400 <= response.status_code < 500, (response.status_code, response.text)


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED, ids=IDS)
def test_route_auth_and_org_isolation(client, engine, api, world, other_org, method, path):
    """One route, every way of calling it that must fail, then the ways that must work."""
    feedback_key = api.key(world.org.id, "feedback")
    ingest_key = api.key(world.org.id, "ingest")
    before = _snapshot(engine, world.org.id, world)
    _check_bad_keys(client, world, api, method, path)
    before["api_keys"] = _snapshot(engine, world.org.id, world)["api_keys"]  # + the revoked key
    _unchanged(engine, world, before, "a request without a valid key")
    _check_other_org(client, world, other_org, method, path)
    _unchanged(engine, world, before, "another organization's key")
    _check_claimed_org(client, world, other_org, method, path)
    _unchanged(engine, world, before, "a mismatched organization claim")
    feedback_ok = (method, path) in FEEDBACK_ONLY
    _check_scope(client, world, feedback_key, feedback_ok, method, path)
    if feedback_ok:
        before = _snapshot(engine, world.org.id, world)
    else:
        _unchanged(engine, world, before, "a feedback-scope key")
    _check_scope(client, world, ingest_key, _is_ingest(method, path), method, path)
    if not _is_ingest(method, path):
        _unchanged(engine, world, before, "an ingest-scope key")
    if (method, path) in CORE:  # the bodies above are valid: the refusals were about auth
        response = _call(client, world, method, path, world.org.headers)
        assert response.status_code < 300, (response.status_code, response.text)
        if (method, path) in WITH_BODY:
            body = {**(world.body(method, path) or {}), "organization_id": world.org.id}
            same = client.request(method, world.url(path), headers=world.org.headers, json=body)
            assert same.status_code < 500, same.text


def test_ingest_key_cannot_read_feedback(client, api, world) -> None:
    ingest = api.key(world.org.id, "ingest")
    for url in ("/api/v1/feedback", f"/api/v1/feedback/{world.feedback['id']}",
                "/api/v1/feedback/download"):  # fmt: skip
        response = client.get(url, headers=ingest)
        assert response.status_code == 403, url
        assert "score" not in response.text


def test_org_slug_is_accepted_as_the_claimed_org(client, world) -> None:
    headers = {**world.org.headers, "x-log10-organization-id": world.org.slug}
    assert client.get("/api/v1/feedback_task", headers=headers).status_code == 200


def test_public_routes_need_no_key(client) -> None:
    for method, path in PUBLIC:
        assert client.request(method, path).status_code == 200
