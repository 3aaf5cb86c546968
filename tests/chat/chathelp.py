"""Helpers for chat tests: the API driver, the ontology, SSE parsing, model registration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from plaudit.db.session import make_sessionmaker, session_scope
from plaudit.gateway.registry import create_model

ONTOLOGY = {
    "type": "object",
    "properties": {
        "is_this_response_factually_correct": {"type": "string", "enum": ["yes", "no"]},
        "quality": {"type": "integer", "minimum": 1, "maximum": 5},
        "issues": {"type": "array", "items": {"enum": ["tone", "length", "facts"]},
                   "uniqueItems": True},
        "comment": {"type": "string"},
    },
    "required": ["is_this_response_factually_correct", "quality"],
}  # fmt: skip
GOOD = {"is_this_response_factually_correct": "yes", "quality": 4}


def register(engine: Engine, org_id: str, name: str, endpoint: str, **extra: Any) -> int:
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        model = create_model(
            session, org_id, name=name, adapter="openai", endpoint=endpoint,
            upstream_model=extra.pop("upstream", f"fake-{name}"), max_retries=0, **extra,
        )  # fmt: skip
        return model.id


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], orjson.loads(lines["data"])))
    return events


@dataclass
class Chat:
    """Drives the API as a job owner and as contributors (X-Plaudit-Contributor)."""

    client: TestClient
    org: Any
    models: list[int]
    last: dict[str, Any] = field(default_factory=dict)

    def h(self, who: str | None = None) -> dict[str, str]:
        headers = dict(self.org.headers)
        if who:
            headers["X-Plaudit-Contributor"] = who
        return headers

    def create(self, cml: str, *, ontology: Any = ONTOLOGY, status: int = 200, **extra: Any) -> Any:
        body = {"name": "chat job", "cml": cml, "ontology": ontology, **extra}
        response = self.client.post("/api/v1/jobs", json=body, headers=self.h())
        assert response.status_code == status, response.text
        return response.json()

    def upload(self, job_id: str, csv_text: str | bytes, status: int = 200) -> Any:
        data = csv_text.encode() if isinstance(csv_text, str) else csv_text
        response = self.client.post(f"/api/v1/jobs/{job_id}/units", content=data,
                                    headers={**self.h(), "Content-Type": "text/csv"})  # fmt: skip
        assert response.status_code == status, response.text
        return response.json()

    def launch(self, job_id: str) -> None:
        response = self.client.post(f"/api/v1/jobs/{job_id}/launch", headers=self.h())
        assert response.status_code == 200, response.text

    def job(self, cml: str, csv_text: str, *, ontology: Any = ONTOLOGY, **extra: Any) -> str:
        job_id: str = self.create(cml, ontology=ontology, **extra)["id"]
        self.upload(job_id, csv_text)
        self.launch(job_id)
        return job_id

    def next(self, job_id: str, who: str, status: int = 200) -> Any:
        response = self.client.post(f"/api/v1/jobs/{job_id}/next", headers=self.h(who))
        assert response.status_code == status, response.text
        return response.json()

    def state(self, aid: str, who: str) -> Any:
        response = self.client.get(f"/api/v1/assignments/{aid}", headers=self.h(who))
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, aid: str, who: str, prompt: str | None, status: int = 200) -> Any:
        body = {} if prompt is None else {"prompt": prompt}
        response = self.client.post(f"/api/v1/assignments/{aid}/turns", json=body,
                                    headers=self.h(who))  # fmt: skip
        assert response.status_code == status, response.text
        if status != 200:
            return response.json()
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse(response.text)

    def call(self, method: str, aid: str, who: str, path: str, body: Any = None,
             status: int = 200) -> Any:  # fmt: skip
        response = self.client.request(method, f"/api/v1/assignments/{aid}{path}", json=body,
                                       headers=self.h(who))  # fmt: skip
        assert response.status_code == status, response.text
        return response.json()

    def answer(self, aid: str, who: str, turn: int, label: str, answers: Any = None,
               status: int = 200) -> Any:  # fmt: skip
        return self.call("PUT", aid, who, f"/turns/{turn}/answers",
                         {"label": label, "answers": answers or GOOD}, status)  # fmt: skip

    def answer_all(self, aid: str, who: str, turn: int) -> Any:
        """Answer every done response of ``turn``; the turn's state as the last answer gave it."""
        state = self.state(aid, who)
        shown = state["turns"][turn]
        for response in shown["responses"]:
            if response["state"] == "done":
                shown = self.answer(aid, who, turn, response["label"])["turn"]
        return shown

    def select(self, aid: str, who: str, turn: int, status: int = 200, **body: Any) -> Any:
        return self.call("POST", aid, who, f"/turns/{turn}/select", body, status)

    def submit(self, aid: str, who: str, status: int = 200) -> Any:
        return self.call("POST", aid, who, "/submit", None, status)

    def results(self, job_id: str, fmt: str = "jsonl") -> Any:
        response = self.client.get(f"/api/v1/jobs/{job_id}/results", params={"format": fmt},
                                   headers=self.h())  # fmt: skip
        assert response.status_code == 200, response.text
        if fmt == "csv":
            return response.text
        return [orjson.loads(line) for line in response.content.splitlines()]


def tag(**attrs: str) -> str:
    body = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f"<cml:ai_chat_feedback {body} />"


def model_requests(fake: Any, prompt: str) -> list[dict[str, Any]]:
    """Bodies the fake model received whose last message is ``prompt``."""
    found = []
    for entry in fake.requests:
        body = entry.get("body")
        if isinstance(body, dict) and body.get("messages"):
            last = body["messages"][-1]
            if last.get("content") == prompt:
                found.append(body)
    return found


def ids_text(ids: list[int]) -> str:
    return "[" + ",".join(map(str, ids)) + "]"


def finish_turn(chat: Chat, aid: str, who: str, turn: int, **select: Any) -> Any:
    """Answer every response and select the first one (or as ``select`` says)."""
    shown = chat.answer_all(aid, who, turn)
    done = [r for r in shown["responses"] if r["state"] == "done"]
    if len(done) > 1:
        shown = chat.select(aid, who, turn, **(select or {"label": done[0]["label"]}))["turn"]
    return shown
