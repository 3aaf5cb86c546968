"""Server-side commands on the test database (init, keys), checked through the client CLI."""

from __future__ import annotations

from conftest import run_cli


def test_init_prints_credentials_once_and_refuses_a_duplicate(server_env, cli):
    first = run_cli(["init", "--org", "Init Co", "--json"], server_env)
    assert first.exit_code == 0, first.stderr
    created = first.json()
    assert created["organization_slug"] == "init-co"
    assert created["api_key"].startswith("pl_") and created["admin_password"]
    works = cli("feedback-task", "list", "--json", key=created["api_key"])
    assert works.exit_code == 0 and works.json()["total"] == 0
    again = run_cli(["init", "--org", "Init Co"], server_env)
    assert again.exit_code == 1 and len(again.error_lines) == 1
    assert "already exists" in again.stderr


def test_keys_create_list_revoke(server_env, cli, org):
    made = run_cli(["keys", "create", "--org", org.slug, "--scope", "admin", "--json"], server_env)
    assert made.exit_code == 0, made.stderr
    key, prefix = made.json()["api_key"], made.json()["prefix"]
    listed = run_cli(["keys", "list", "--org", org.slug, "--json"], server_env).json()
    assert prefix in [k["prefix"] for k in listed]
    assert key not in str(listed)  # only the prefix is ever shown again
    table = run_cli(["keys", "list"], server_env)
    assert table.exit_code == 0 and prefix in table.stdout

    assert cli("feedback-task", "list", key=key).exit_code == 0
    revoked = run_cli(["keys", "revoke", prefix], server_env)
    assert revoked.exit_code == 0 and prefix in revoked.stdout
    refused = cli("feedback-task", "list", key=key)
    assert refused.exit_code == 1 and len(refused.error_lines) == 1
    assert "HTTP 401" in refused.stderr and "revoked" in refused.stderr
    assert cli("feedback-task", "list").exit_code == 0  # the org's other key still works


def test_feedback_scope_key_can_post_feedback_only(server_env, cli, emoji_task):
    made = run_cli(["keys", "create", "--org", "acme", "--scope", "feedback", "--json"], server_env)
    key = made.json()["api_key"]
    posted = cli("feedback", "create", "--task-id", emoji_task, "--values", '{"feedback": "😀"}',
                 "--allow-unmatched", "--json", key=key)  # fmt: skip
    assert posted.exit_code == 0, posted.stderr
    listed = cli("feedback", "list", key=key)
    assert listed.exit_code == 1 and "HTTP 403" in listed.stderr


def test_keys_errors_are_one_line(server_env, org):
    unknown_org = run_cli(["keys", "create", "--org", "no-such-org"], server_env)
    assert unknown_org.exit_code == 1 and "no-such-org" in unknown_org.stderr
    bad_scope = run_cli(["keys", "create", "--org", "acme", "--scope", "root"], server_env)
    assert bad_scope.exit_code == 1 and "scope" in bad_scope.stderr
    unknown_key = run_cli(["keys", "revoke", "ffffffffffff"], server_env)
    assert unknown_key.exit_code == 1 and len(unknown_key.error_lines) == 1
