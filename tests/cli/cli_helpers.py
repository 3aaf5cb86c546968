"""Shared by the CLI tests (a module, not conftest, so test files can import it by name)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import httpx
import orjson

EMOJI_SCHEMA = (
    '{"type": "object", "properties": {"feedback": {"type": "string", '
    '"enum": ["😀", "😬", "😐", "🙁", "😫"]}}, "required": ["feedback"]}'
)


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return orjson.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def log_completion(
    api: httpx.Client, completion_id: str, tags: list[str], text: str = "hi"
) -> None:
    answer = api.put(
        f"/api/v1/completions/{completion_id}",
        json={"tags": tags, "model": "fake-echo",
              "request": {"messages": [{"role": "user", "content": f"say {text}"}]},
              "response": {"choices": [{"message": {"role": "assistant", "content": text}}]}},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
