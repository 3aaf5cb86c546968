"""The real log10-io 0.16.1 client (own venv) against a real plaudit server and the fake model.

The client pins openai<2, so it lives in its own venv: ``PLAUDIT_LOG10_VENV`` (default
``<repo>/.venv-log10``; ``make test`` creates it). Missing venv: the tests fail when
``PLAUDIT_REQUIRE_LOG10=1`` (CI), else they are skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from log10_harness import LOG10_VERSION, Log10, venv_python

from plaudit.gateway.fake import FakeModelServer


@pytest.fixture(scope="session")
def log10_python() -> Path:
    python = venv_python()
    problem = None
    if not python.exists():
        problem = f"no log10 venv at {python.parent.parent}"
    else:
        probe = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('log10-io'))"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if probe.stdout.strip() != LOG10_VERSION:
            problem = f"{python} has no log10-io=={LOG10_VERSION}: {probe.stderr[-300:]}"
    if problem:
        hint = f"create it: python3 -m venv .venv-log10 && .venv-log10/bin/pip install 'log10-io[cli]=={LOG10_VERSION}'"  # noqa: E501
        if os.environ.get("PLAUDIT_REQUIRE_LOG10") == "1":
            pytest.fail(f"{problem} (PLAUDIT_REQUIRE_LOG10=1); {hint}")
        pytest.skip(f"{problem}; {hint}")
    return python


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModelServer]:
    # Default options: chat streams end without `data: [DONE]`, which log10's async stream
    # detection needs on a host whose name lacks "openai".
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def log10(
    log10_python: Path, live_server: Any, org: Any, fake_model: FakeModelServer, tmp_path: Path
) -> Log10:
    return Log10(log10_python, live_server.url, org.id, org.api_key, fake_model, tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _warm_sdk_imports() -> None:
    """The app's startup imports openai/anthropic; do it once up front so the live server's
    start deadline does not also pay for it on a loaded CI machine."""
    import anthropic  # noqa: F401
    import openai  # noqa: F401
