"""/api/v1/models over HTTP: CRUD, one-click test, secret write-only, admin scope, org scoping."""

from __future__ import annotations

import logging

import pytest
from gateway_helpers import SECRET

from plaudit.core.orgs import create_api_key
from plaudit.db.session import make_sessionmaker, session_scope

BASE = "/api/v1/models"


def _key(engine, org_id, scope):  # type: ignore[no-untyped-def]
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        return {"Authorization": f"Bearer {create_api_key(session, org_id, scope)}"}


def _create(client, org, fake, **fields):  # type: ignore[no-untyped-def]
    body = {
        "name": "pirate",
        "adapter": "openai",
        "endpoint": fake.openai_base_url,
        "upstream_model": "fake-pirate",
        "secret": SECRET,
        "default_params": {"temperature": 0.2, "system_prompt": "Be nice."},
        **fields,
    }
    response = client.post(BASE, json=body, headers=org.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_crud_and_secret_is_write_only(client, org, fake):
    created = _create(client, org, fake)
    assert isinstance(created["id"], int) and created["has_secret"] is True
    model_id = created["id"]
    shown = client.get(f"{BASE}/{model_id}", headers=org.headers)
    listed = client.get(BASE, headers=org.headers)
    patched = client.patch(
        f"{BASE}/{model_id}", json={"timeout_s": 5, "default_params": {}}, headers=org.headers
    )
    for response in (shown, listed, patched):
        assert response.status_code == 200
        assert SECRET not in response.text and '"secret"' not in response.text
    assert listed.json()["total"] == 1 and listed.json()["data"][0]["name"] == "pirate"
    assert patched.json()["timeout_s"] == 5 and patched.json()["has_secret"] is True
    cleared = client.patch(f"{BASE}/{model_id}", json={"secret": None}, headers=org.headers)
    assert cleared.json()["has_secret"] is False
    removed = client.delete(f"{BASE}/{model_id}", headers=org.headers)
    assert removed.status_code == 200 and removed.json()["archived"] is True
    assert client.get(BASE, headers=org.headers).json()["total"] == 0
    again = _create(client, org, fake)  # the name is free again
    assert again["id"] != model_id


def test_test_endpoint_calls_the_model(client, org, fake):
    model = _create(client, org, fake)
    response = client.post(f"{BASE}/{model['id']}/test", json={"prompt": "hi"}, headers=org.headers)
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is True and result["reply"].startswith("Arr, matey!")
    assert "(context: Be nice.)" in result["reply"]
    assert result["completion_id"]
    logged = client.get(f"/api/v1/completions/{result['completion_id']}", headers=org.headers)
    assert logged.status_code == 200, logged.text
    assert "via:model-test" in str(logged.json()) and SECRET not in logged.text
    no_body = client.post(f"{BASE}/{model['id']}/test", headers=org.headers)
    assert no_body.status_code == 200 and no_body.json()["ok"] is True


def test_test_endpoint_reports_a_clear_error(client, org, fake, caplog):
    caplog.set_level(logging.DEBUG)
    model = _create(client, org, fake, endpoint=fake.url_with(status=401) + "/v1", max_retries=0)
    result = client.post(f"{BASE}/{model['id']}/test", headers=org.headers).json()
    assert result["ok"] is False
    assert "model 'pirate'" in result["error"] and "HTTP 401" in result["error"]
    assert SECRET not in str(result) and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"adapter": "nonesuch"}, 422, "unknown adapter 'nonesuch'"),
        ({"adapter": "http", "endpoint": "http://x/y", "input_template": {"p": "${promt}"},
          "output_path": "text"}, 422, "${promt}"),
        ({"adapter": "http", "endpoint": "http://x/y", "input_template": {"p": "${prompt}"}},
         422, "output_path"),
        ({"adapter": "http", "endpoint": "http://x/y", "input_template": {"p": "${prompt}"},
          "output_path": "a[x"}, 422, "output_path"),
        ({"endpoint": "ftp://nope"}, 422, "http(s) URL"),
        ({"timeout_s": 0}, 422, "timeout_s"),
        ({"concurrency": 0}, 422, "concurrency"),
        ({"default_params": {"temperature": "hot"}}, 422, "temperature"),
        ({"name": "  "}, 422, "name"),
        ({"bogus": 1}, 422, "bogus"),
    ],
)  # fmt: skip
def test_bad_models_are_refused_with_the_reason(client, org, fake, fields, status, needle):
    body = {"name": "m", "adapter": "openai", "endpoint": fake.openai_base_url, **fields}
    response = client.post(BASE, json=body, headers=org.headers)
    assert response.status_code == status, response.text
    assert needle in response.text
    assert client.get(BASE, headers=org.headers).json()["total"] == 0  # nothing half-written


def test_duplicate_name_is_a_conflict(client, org, fake):
    _create(client, org, fake)
    response = client.post(BASE, json={"name": "pirate", "adapter": "openai"}, headers=org.headers)
    assert response.status_code == 409 and "pirate" in response.json()["error"]["message"]


def test_other_orgs_cannot_see_or_use_a_model(client, org, other_org, fake):
    model_id = _create(client, org, fake)["id"]
    for method, path in [("get", ""), ("patch", ""), ("delete", ""), ("post", "/test")]:
        kwargs = {"json": {}} if method in ("patch", "post") else {}
        response = getattr(client, method)(
            f"{BASE}/{model_id}{path}", headers=other_org.headers, **kwargs
        )
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(BASE, headers=other_org.headers).json()["total"] == 0
    # the same name is free in another organization
    assert _create(client, other_org, fake)["id"] != model_id


@pytest.mark.parametrize("scope", ["ingest", "feedback"])
def test_registry_needs_admin(client, engine, org, fake, scope):
    model_id = _create(client, org, fake)["id"]
    headers = _key(engine, org.id, scope)
    assert client.get(BASE, headers=headers).status_code == 403
    assert client.post(f"{BASE}/{model_id}/test", headers=headers).status_code == 403
    response = client.post(BASE, json={"name": "x", "adapter": "openai"}, headers=headers)
    assert response.status_code == 403
    assert client.get(BASE).status_code == 401
