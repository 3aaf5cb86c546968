"""The SDK across processes: server down for a whole app run, replay by the next process, fork."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sdk_helpers import logged

SCRIPT = str(Path(__file__).with_name("sdk_app_script.py"))


def _dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: nobody listens


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[dict, float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, SCRIPT, *args], env={**os.environ, **env}, capture_output=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return orjson.loads(done.stdout.splitlines()[-1]), elapsed


@pytest.mark.timeout(400)
def test_server_down_for_the_whole_run_then_next_process_replays(
    fake_model, live_server, org, tmp_path
):
    spool = tmp_path / "spool"
    env = {"PLAUDIT_URL": _dead_url(), "PLAUDIT_API_KEY": org.api_key,
           "PLAUDIT_SPOOL_DIR": str(spool), "PLAUDIT_RETRY_BUDGET_S": "0.5",
           "PLAUDIT_EXIT_TIMEOUT_S": "2"}  # fmt: skip
    result, _ = _run(["calls", fake_model.openai_base_url, "60"], env)
    assert len(result["ids"]) == 60 and all(result["ids"])
    # Normal speed: the wrapped call's median is within noise of the bare client's.
    assert result["wrapped"] <= result["bare"] * 1.5 + 0.002, result
    assert list(spool.glob("*.jsonl")), "undeliverable completions were spooled"
    assert logged(live_server.url, org, 0) == []

    replay, _ = _run(["flush"], {**env, "PLAUDIT_URL": live_server.url})
    assert replay["flushed"] is True
    rows = logged(live_server.url, org, 61)
    ids = {r["id"] for r in rows}
    assert set(result["ids"]) <= ids
    assert len(rows) == 61  # the warm-up call too; nothing twice
    assert all(r["tags"] == ["offline-app"] for r in rows)
    assert not list(spool.glob("*.jsonl"))


@pytest.mark.timeout(400)
def test_forked_child_logs_through_its_own_worker(fake_model, live_server, org, tmp_path):
    env = {"PLAUDIT_URL": live_server.url, "PLAUDIT_API_KEY": org.api_key,
           "PLAUDIT_SPOOL_DIR": str(tmp_path / "spool")}  # fmt: skip
    result, _ = _run(["fork", fake_model.openai_base_url], env)
    assert result["delivered"] is True and result["parent_delivered"] is True
    rows = {r["id"]: r for r in logged(live_server.url, org, 2)}
    assert set(rows) == {result["parent_id"], result["child_id"]}
    assert all(r["tags"] == ["fork"] for r in rows.values())
