"""Helpers shared by the gateway tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from plaudit.core.completions import get_completion
from plaudit.db.models import Completion
from plaudit.gateway import CallContext, Delta, Gateway, ModelSpec

SECRET = "sk-test-S3CRET-value-never-shown-0123456789"
QUESTION = "What is the capital of France"


def ask(text: str = QUESTION, **fields: Any) -> CallContext:
    return CallContext(messages=[{"role": "user", "content": text}], **fields)


def run_all(
    gateway: Gateway, specs: list[ModelSpec], ctx: CallContext | dict[int, CallContext]
) -> list[Delta]:
    """Every delta of one ``stream_many`` call, in arrival order (gateway closed afterwards)."""

    async def main() -> list[Delta]:
        try:
            return [delta async for delta in gateway.stream_many(specs, ctx)]
        finally:
            await gateway.aclose()

    return asyncio.run(main())


def terminal(deltas: list[Delta], model_id: int) -> Delta:
    ends = [d for d in deltas if d.model_id == model_id and d.terminal]
    assert len(ends) == 1, f"model {model_id}: expected one terminal delta, got {ends}"
    return ends[0]


def stored(sessions: sessionmaker[Session], org_id: str, completion_id: str | None) -> Completion:
    assert completion_id, "the call was not recorded"
    with sessions() as session:
        completion = get_completion(session, org_id, completion_id)
        session.expunge(completion)
        return completion
