"""Helpers shared by the SDK tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from plaudit.sdk import transport


def logged(server_url: str, org: Any, expected: int, timeout: float = 10.0, **params: Any) -> list:
    """Completions on the server, waiting (after a flush) until ``expected`` have arrived."""
    transport.flush(timeout)
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(
            f"{server_url}/api/v1/completions",
            params={"limit": 1000, **params},
            headers=org.headers,
            timeout=10,
        )
        answer.raise_for_status()
        data: list = answer.json()["data"]
        if len(data) >= expected or time.monotonic() > deadline:
            return data
        time.sleep(0.05)
