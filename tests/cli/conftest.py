"""Run the real ``plaudit`` CLI against a real server (``live_server``, SQLite and PostgreSQL).

``cli(...)`` calls the Typer app in-process with ``normalise_argv`` (exactly what the console
script does), over real HTTP to the live server. ``plaudit_bin`` runs the installed console
script as a subprocess for the few checks that need the process boundary (exit codes, stderr).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cli_helpers import EMOJI_SCHEMA, Ran
from typer.testing import CliRunner

from plaudit.cli.main import app, normalise_argv
from plaudit.config import get_settings

_CLEARED_ENV = ("PLAUDIT_URL", "PLAUDIT_API_KEY", "LOG10_URL", "LOG10_TOKEN", "LOG10_ORG_ID")


CLI = Callable[..., Ran]


def run_cli(args: list[str], env: dict[str, str | None]) -> Ran:
    runner = CliRunner()
    full_env: dict[str, str | None] = dict.fromkeys(_CLEARED_ENV)
    full_env.update({"COLUMNS": "200"}, **env)
    result = runner.invoke(app, normalise_argv(args), env=full_env, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="session", autouse=True)
def _model_sdks_imported() -> None:
    """Importing the openai/anthropic SDKs takes seconds on a busy machine; if the app's startup
    imports them, doing it once up front keeps ``live_server`` starts inside their deadline."""
    import anthropic  # noqa: F401
    import openai  # noqa: F401


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still real argon2, with small cost parameters: every test creates an organization and its
    admin password hash otherwise dominates these tests' run time on a busy machine."""
    from argon2 import PasswordHasher

    from plaudit.core import security

    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def cli(live_server, org) -> CLI:
    """``cli("feedback", "list", key=None, url=None, env={})`` → :class:`Ran`."""

    def invoke(
        *args: str, key: str | None = None, url: str | None = None, env: dict | None = None
    ) -> Ran:
        base = {"PLAUDIT_URL": url or live_server.url, "PLAUDIT_API_KEY": key or org.api_key}
        return run_cli(list(args), {**base, **(env or {})})

    return invoke


@pytest.fixture
def api(live_server, org) -> Iterator[httpx.Client]:
    """Plain HTTP to the same server, for setting up data the CLI then reads."""
    with httpx.Client(base_url=live_server.url, headers=org.headers, timeout=10) as client:
        yield client


@pytest.fixture
def emoji_task(cli: CLI) -> str:
    ran = cli(
        "feedback-task",
        "create",
        "--name",
        "emoji",
        "--json-schema",
        EMOJI_SCHEMA,
        "--completion-tags-selector",
        "unique-tag",
        "--instruction",
        "Rate it",
        "--json",
    )
    assert ran.exit_code == 0, ran.stderr
    task_id = ran.json()["id"]  # type: ignore[index]
    assert isinstance(task_id, str)
    return task_id


@pytest.fixture
def server_env(engine, monkeypatch) -> Iterator[dict[str, str]]:
    """Server-side commands (init, keys) on the test database."""
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PLAUDIT_DATABASE_URL", url)
    get_settings.cache_clear()
    yield {"PLAUDIT_DATABASE_URL": url}
    get_settings.cache_clear()


def _plaudit_executable() -> str:
    beside = Path(sys.executable).with_name("plaudit")
    found = str(beside) if beside.exists() else shutil.which("plaudit")
    assert found, "the plaudit console script is not installed"
    return found


@pytest.fixture(scope="session")
def plaudit_bin() -> Callable[..., subprocess.CompletedProcess[str]]:
    executable = _plaudit_executable()

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
        full_env.update({"COLUMNS": "200", **(env or {})})
        return subprocess.run(
            [executable, *args], env=full_env, capture_output=True, text=True, timeout=60
        )

    return run
