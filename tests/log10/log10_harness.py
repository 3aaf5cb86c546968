"""Helpers for running the real log10-io client (its own venv) from plaudit's tests."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from plaudit.gateway.fake import FakeModelServer

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("log10_driver.py")
MARKER = "@@LOG10-DRIVER@@"
LOG10_VERSION = "0.16.1"
EMOJI_SCHEMA = {
    "type": "object",
    "properties": {"feedback": {"type": "string", "enum": ["😀", "😬", "😐", "🙁", "😫"]}},
    "required": ["feedback"],
}


def venv_python() -> Path:
    venv = Path(os.environ.get("PLAUDIT_LOG10_VENV") or REPO / ".venv-log10")
    return venv / "bin" / "python"


@dataclass
class Log10:
    """Runs the real client in its venv against ``url`` and reads back through plaudit's API."""

    python: Path
    url: str
    org_id: str
    token: str
    fake: FakeModelServer
    workdir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    saved: dict[str, str] = field(default_factory=dict)  # values the last run's steps saved
    stderr: str = ""  # the last run's stderr: the client's logger writes there

    @property
    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "LOG10_URL": self.url,  # no trailing slash: the client builds f"{url}/api/..."
            "LOG10_TOKEN": self.token,
            "LOG10_ORG_ID": self.org_id,
            "OPENAI_API_KEY": "x",
            "OPENAI_BASE_URL": self.fake.openai_base_url,
            "ANTHROPIC_API_KEY": "x",
            "ANTHROPIC_BASE_URL": self.fake.anthropic_base_url,
            "COLUMNS": "400",  # rich tables: keep ids whole
            "PYTHONIOENCODING": "utf-8",
            "NO_COLOR": "1",
        }
        env.update(self.env_overrides)
        return env

    def run(self, steps: list[dict[str, Any]], timeout: float = 90) -> list[dict[str, Any]]:
        """Run the steps in one client process; one result per step."""
        done = subprocess.run(
            [str(self.python), str(DRIVER)], input=json.dumps(steps), capture_output=True,
            text=True, env=self.env, cwd=self.workdir, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0 or MARKER not in done.stdout:
            raise AssertionError(
                f"log10 driver failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                f"{done.stderr[-3000:]}"
            )
        payload = json.loads(done.stdout.rsplit(MARKER, 1)[1])
        self.saved, self.stderr = payload["saved"], done.stderr
        results: list[dict[str, Any]] = payload["results"]
        return results

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The installed ``log10`` console script itself, as a user runs it."""
        return subprocess.run(
            [str(self.python.parent / "log10"), *args], capture_output=True, text=True,
            env=self.env, cwd=self.workdir, timeout=timeout,
        )  # fmt: skip

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """plaudit's own API, to check what the server stored."""
        response = httpx.request(
            method, self.url + path, headers={"Authorization": f"Bearer {self.token}"},
            timeout=10, **kwargs,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    def completions(self, *tags: str) -> list[dict[str, Any]]:
        params = {"tags": ",".join(tags), "limit": 100} if tags else {"limit": 100}
        data: list[dict[str, Any]] = self.api("GET", "/api/v1/completions", params=params)["data"]
        return data
