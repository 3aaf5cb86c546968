"""Group commit: writes queued together share a transaction; deferred writes wait their turn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plaudit.core.tags import create_tags
from plaudit.db.models import Tag
from plaudit.gateway.batch_writer import DEFER_S, BatchWriter


class TagWrites:
    """A real write (one tag per item) that notes which transaction each item was in."""

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self.transactions: list[list[str]] = []

    def __call__(self, session: Session, names: Sequence[str]) -> list[float]:
        create_tags(session, self.org_id, names)
        self.transactions.append(list(names))
        return [time.monotonic()] * len(names)


def test_writes_queued_together_commit_in_one_transaction(sessions: sessionmaker[Session], org):
    writes = TagWrites(org.id)

    async def main() -> list[Any]:
        writer = BatchWriter(sessions)
        return await asyncio.gather(*(writer.write(writes, f"t{i}") for i in range(5)))

    asyncio.run(main())
    assert writes.transactions == [["t0", "t1", "t2", "t3", "t4"]]
    with sessions() as session:
        stored = session.scalars(select(Tag.name).where(Tag.org_id == org.id)).all()
    assert sorted(stored) == ["t0", "t1", "t2", "t3", "t4"]


def test_a_deferred_write_waits_and_stays_out_of_the_urgent_batch(
    sessions: sessionmaker[Session], org
):
    """What a chat turn relies on: the completion log (deferred) does not lengthen the
    transaction of the response rows (urgent) that the turn's ``end`` waits for."""
    writes = TagWrites(org.id)

    async def main() -> tuple[float, float, float, bool]:
        writer = BatchWriter(sessions)
        started = time.monotonic()
        deferred = [asyncio.ensure_future(writer.write(writes, f"log{i}", defer=True))
                    for i in range(2)]  # fmt: skip
        urgent = await writer.write(writes, "response")
        log_still_waiting = not any(d.done() for d in deferred)
        first, second = await asyncio.gather(*deferred)
        assert first == second  # the deferred writes committed together
        return started, urgent, first, log_still_waiting

    started, urgent, logged, log_still_waiting = asyncio.run(main())
    assert log_still_waiting
    assert writes.transactions == [["response"], ["log0", "log1"]]
    assert urgent - started < DEFER_S
    assert logged - started >= DEFER_S
    with sessions() as session:
        names = session.scalars(select(Tag.name).where(Tag.org_id == org.id)).all()
    assert sorted(names) == ["log0", "log1", "response"]
