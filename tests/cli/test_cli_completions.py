"""``plaudit completions list|get|download`` against a live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from cli_helpers import log_completion


@pytest.fixture
def logged(api):
    log_completion(api, "c-a", ["unique-tag", "red"], "alpha")
    log_completion(api, "c-b", ["unique-tag"], "beta")
    log_completion(api, "c-c", ["blue"], "gamma")


def test_list_filters_by_tags_with_and(cli, logged):
    both = cli("completions", "list", "--tags", "unique-tag,red", "--json").json()
    assert [c["id"] for c in both["data"]] == ["c-a"]
    one = cli("completions", "list", "--tags", "unique-tag", "--json").json()
    assert sorted(c["id"] for c in one["data"]) == ["c-a", "c-b"] and one["total"] == 2


def test_list_table_shows_prompt_and_reply(cli, logged):
    ran = cli("completions", "list", "--limit", "10", "--offset", "0", "--timeout", "5")
    assert ran.exit_code == 0, ran.stderr
    for text in ("c-a", "c-c", "say alpha", "gamma", "Total completions: 3"):
        assert text in ran.stdout


def test_list_time_range(cli, logged):
    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    inside = cli("completions", "list", "--from", past, "--to", future, "--json").json()
    assert inside["total"] == 3
    after = cli("completions", "list", "--from", future, "--json").json()
    assert after["total"] == 0


def test_bad_time_is_one_line_naming_the_option(cli):
    ran = cli("completions", "list", "--from", "yesterday")
    assert ran.exit_code == 1 and len(ran.error_lines) == 1 and "--from" in ran.stderr


def test_get_json_and_table(cli, logged):
    got = cli("completions", "get", "--id", "c-b", "--json").json()
    assert got["id"] == "c-b" and got["tags"] == ["unique-tag"]
    table = cli("completions", "get", "--id", "c-b")
    assert "say beta" in table.stdout and "beta" in table.stdout
    missing = cli("completions", "get", "--id", "nope")
    assert missing.exit_code == 1 and "HTTP 404" in missing.stderr
    assert len(missing.error_lines) == 1


def test_download_default_file_and_stdout(cli, logged, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = cli("completions", "download", "--tags", "unique-tag")
    assert ran.exit_code == 0, ran.stderr
    assert "Downloaded 2 completions to completions.jsonl" in ran.stderr
    rows = [orjson.loads(x) for x in (tmp_path / "completions.jsonl").read_bytes().splitlines()]
    assert sorted(r["id"] for r in rows) == ["c-a", "c-b"]
    assert {r["response"]["choices"][0]["message"]["content"] for r in rows} == {"alpha", "beta"}
    out = cli("completions", "download", "--tags", "blue", "-f", "-")
    assert [orjson.loads(x)["id"] for x in out.stdout.splitlines()] == ["c-c"]


def test_download_limit_and_file(cli, logged, tmp_path):
    target = tmp_path / "two.jsonl"
    ran = cli("completions", "download", "--limit", "2", "--file", str(target))
    assert ran.exit_code == 0, ran.stderr
    assert len(target.read_bytes().splitlines()) == 2
    assert "Downloaded 2 completions" in ran.stderr
