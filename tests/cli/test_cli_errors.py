"""Every failure ends with a non-zero exit and one line naming the problem."""

from __future__ import annotations

import httpx
from cli_helpers import EMOJI_SCHEMA, unused_port

from plaudit.cli.http import error_message


def test_bad_key_is_a_one_line_401(cli):
    ran = cli("feedback-task", "list", key="pl_000000000000_not-a-real-key")
    assert ran.exit_code == 1 and len(ran.error_lines) == 1
    assert ran.stderr.startswith("Error: HTTP 401") and "invalid API key" in ran.stderr


def test_missing_key_is_named(cli):
    ran = cli("feedback", "list", env={"PLAUDIT_API_KEY": None})
    assert ran.exit_code == 1 and len(ran.error_lines) == 1
    assert "PLAUDIT_API_KEY" in ran.stderr


def test_server_down_is_named_with_the_url(cli):
    url = f"http://127.0.0.1:{unused_port()}"
    for args in (["feedback-task", "list"], ["feedback", "download", "-f", "-"]):
        ran = cli(*args, url=url)
        assert ran.exit_code == 1 and len(ran.error_lines) == 1, args
        assert f"cannot reach plaudit at {url}" in ran.stderr


def test_both_error_envelopes_reach_the_user(cli):
    log10_route = cli("feedback", "create", "--task-id", "no-task", "--values", "{}",
                      "--completion-tags-selector", "t")  # fmt: skip
    assert log10_route.exit_code == 1 and "no-task" in log10_route.stderr
    native_route = cli("feedback-task", "edit", "--id", "no-task", "--name", "n")
    assert native_route.exit_code == 1 and "no-task" in native_route.stderr
    for ran in (log10_route, native_route):
        assert len(ran.error_lines) == 1 and "HTTP 404" in ran.stderr


def test_error_message_shapes():
    native = httpx.Response(422, json={"error": {"code": "invalid", "message": "bad", "path": "x"}})
    assert error_message(native) == "HTTP 422: bad (at x)"
    log10 = httpx.Response(401, json={"error": "Unauthorized: nope", "code": "unauthorized"})
    assert error_message(log10) == "HTTP 401: Unauthorized: nope"
    proxy = httpx.Response(502, text="<html>\n<b>Bad gateway</b>\n</html>")
    assert error_message(proxy) == "HTTP 502: <html> <b>Bad gateway</b> </html>"
    empty = httpx.Response(503)
    assert error_message(empty) == "HTTP 503: Service Unavailable"


def test_log10_environment_is_accepted(cli, live_server, org):
    env = {
        "PLAUDIT_URL": None,
        "PLAUDIT_API_KEY": None,
        "LOG10_URL": live_server.url,
        "LOG10_TOKEN": org.api_key,
        "LOG10_ORG_ID": org.id,
    }
    ran = cli("feedback-task", "list", "--json", env=env)
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["total"] == 0


def test_root_url_and_key_options_override_the_environment(cli, live_server, org):
    ran = cli("--url", live_server.url, "--api_key", org.api_key, "feedback", "task", "create",
              "--name", "n", "--task_schema", EMOJI_SCHEMA, "--json",
              url="http://127.0.0.1:1", key="pl_000000000000_wrong")  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["name"] == "n"


def test_console_script_usage_errors_are_one_line(plaudit_bin):
    missing = plaudit_bin("feedback", "create", "--task_id", "t")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "Error: Missing option '--values'. (see 'plaudit feedback create --help')"
    ]
    unknown = plaudit_bin("feedback", "list", "--bogus_option")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "--bogus-option" in unknown.stderr


def test_console_script_end_to_end(plaudit_bin, live_server, org):
    """One real process per backend: the seed-000 command line, as pasted into a shell."""
    env = {"PLAUDIT_URL": live_server.url, "PLAUDIT_API_KEY": org.api_key}
    created = plaudit_bin("feedback", "task", "create", "--name", "emoji_feedback_task",
                          "--json-schema", EMOJI_SCHEMA, "--completion-tags-selector",
                          "unique-tag", "--instruction", "Provide feedback using emojis",
                          env=env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Use this task_id to add feedback: ")
    task_id = created.stdout.split(": ", 1)[1].strip()
    task = httpx.get(f"{live_server.url}/api/v1/feedback_task/{task_id}", headers=org.headers)
    assert task.json()["name"] == "emoji_feedback_task"
