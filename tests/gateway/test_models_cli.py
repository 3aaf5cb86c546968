"""``plaudit models …`` on the test database, with calls going to the fake model server."""

from __future__ import annotations

import orjson
import pytest
from gateway_helpers import SECRET
from typer.testing import CliRunner

from plaudit.cli.main import app, normalise_argv
from plaudit.config import get_settings


@pytest.fixture
def cli(engine, monkeypatch):  # type: ignore[no-untyped-def]
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PLAUDIT_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()

    def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(app, normalise_argv(list(args)), env=env)
        return result

    yield run
    get_settings.cache_clear()


def test_add_list_show_test_remove(cli, org, fake):
    added = cli(
        "models", "add", "--org", org.slug, "--name", "pirate", "--adapter", "openai",
        "--endpoint", fake.openai_base_url, "--upstream-model", "fake-pirate",
        "--secret-env", "MY_KEY", "--param", "temperature=0.3", "--param", "system_prompt=Hoy",
        "--max-retries", "1", "--json", env={"MY_KEY": SECRET},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    model = orjson.loads(added.stdout)
    assert model["has_secret"] is True and model["default_params"] == {
        "temperature": 0.3, "system_prompt": "Hoy"
    }  # fmt: skip
    listed = cli("models", "list", "--org", org.slug, "--json")
    assert [m["name"] for m in orjson.loads(listed.stdout)] == ["pirate"]
    table = cli("models", "list", "--org", org.slug)
    assert "pirate" in table.stdout and "openai" in table.stdout
    for ref in (str(model["id"]), "pirate"):
        shown = cli("models", "show", ref, "--org", org.slug, "--json")
        assert orjson.loads(shown.stdout)["id"] == model["id"]
    tested = cli("models", "test", "pirate", "--org", org.slug, "--prompt", "ahoy there")
    assert tested.exit_code == 0, tested.output
    assert "Arr, matey!" in tested.stdout and "ahoy there" in tested.stdout
    removed = cli("models", "remove", "pirate", "--org", org.slug)
    assert removed.exit_code == 0 and "removed model" in removed.stdout
    assert orjson.loads(cli("models", "list", "--org", org.slug, "--json").stdout) == []
    everything = [
        cli("models", "list", "--org", org.slug, "--all", "--json").stdout,
        added.stdout, listed.stdout, table.stdout, tested.stdout, removed.stdout,
    ]  # fmt: skip
    assert SECRET not in "".join(everything)


def test_test_failure_exits_1_with_the_reason(cli, org, fake):
    cli(
        "models", "add", "--org", org.slug, "--name", "down", "--adapter", "openai",
        "--endpoint", fake.url_with(status=503, retry_after=0) + "/v1", "--secret", SECRET,
        "--max-retries", "0",
    )  # fmt: skip
    tested = cli("models", "test", "down", "--org", org.slug)
    assert tested.exit_code == 1
    assert "model 'down'" in tested.output and "HTTP 503" in tested.output
    assert SECRET not in tested.output


def test_http_model_with_template_and_errors(cli, org, fake):
    ok = cli(
        "models", "add", "--org", org.slug, "--name", "formal", "--adapter", "http",
        "--endpoint", fake.openai_base_url + "/chat/completions",
        "--input-template", '{"model": "fake-formal", "messages": "${messages}", "stream": true}',
        "--stream-path", "choices[0].delta.content",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    tested = cli("models", "test", "formal", "--org", org.slug, "--json")
    assert orjson.loads(tested.stdout)["reply"].startswith("Dear user")
    typo = cli(
        "models", "add", "--org", org.slug, "--name", "typo", "--adapter", "http",
        "--endpoint", "http://127.0.0.1:9/x", "--input-template", '{"q": "${promt}"}',
        "--output-path", "text",
    )  # fmt: skip
    assert typo.exit_code == 1 and "${promt}" in typo.output
    bad_json = cli(
        "models", "add", "--org", org.slug, "--name", "b", "--adapter", "http",
        "--input-template", "{nope",
    )  # fmt: skip
    assert bad_json.exit_code == 1 and "not valid JSON" in bad_json.output
    unknown = cli("models", "show", "999", "--org", org.slug)
    assert unknown.exit_code == 1 and "model 999 not found" in unknown.output
    wrong_org = cli("models", "list", "--org", "no-such-org")
    assert wrong_org.exit_code == 1
