"""``plaudit demo`` (what ``make run`` runs): first run prints credentials once, later runs don't.

Runs the real console script in a temporary directory with its own SQLite file and free ports.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cli_helpers import unused_port

STARTUP_TIMEOUT_S = 90  # the first start imports the model SDKs; CI machines can be slow


def _executable() -> str:
    return str(Path(sys.executable).with_name("plaudit"))


@contextmanager
def running_demo(workdir: Path) -> Iterator[tuple[str, Path]]:
    """Start ``plaudit demo`` in ``workdir``; yield (url, log file) once /healthz answers."""
    port = unused_port()
    log = workdir / f"demo-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAUDIT_", "LOG10_"))}
    env.update({"PLAUDIT_DATA_DIR": str(workdir / ".plaudit"), "PYTHONUNBUFFERED": "1",
                "COLUMNS": "200"})  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_executable(), "demo", "--port", str(port), "--fake-model-port", "0"],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"demo did not start:\n{log.read_text()}")
        yield url, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _api_key(text: str) -> str:
    match = re.search(r"API key\s+(pl_\S+)", text)
    assert match, text
    return match.group(1)


def test_first_run_prints_credentials_once_and_seeds_data(tmp_path):
    with running_demo(tmp_path) as (url, log):
        first = log.read_text()
        key = _api_key(first)
        assert "shown ONCE" in first and "admin@demo.local" in first
        assert f"export PLAUDIT_URL={url}" in first and f"export PLAUDIT_API_KEY={key}" in first
        assert "LOG10_ORG_ID=" in first and "Fake model server: http://127.0.0.1:" in first
        headers = {"Authorization": f"Bearer {key}"}
        tasks = httpx.get(f"{url}/api/v1/feedback_task", headers=headers).json()
        assert [t["completion_tags_selector"] for t in tasks["data"]] == [["demo"]]
        completions = httpx.get(f"{url}/api/v1/completions?tags=demo", headers=headers).json()
        assert completions["total"] >= 3
        fake_url = re.search(r"Fake model server: (http://\S+)", first).group(1)  # type: ignore[union-attr]
        assert httpx.get(f"{fake_url}/healthz").status_code == 200

    with running_demo(tmp_path) as (url, log):
        second = log.read_text()
        assert "exists already" in second and "plaudit keys create --org demo" in second
        assert key not in second and "Password" not in second
        # Same database: the key from the first run still works, nothing was seeded twice.
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{url}/api/v1/feedback_task", headers=headers).json()["total"] == 1
    assert (tmp_path / ".plaudit" / "plaudit.db").exists()
