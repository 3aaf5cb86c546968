"""insert_ignore: rows that exist already are skipped, for a few rows and for many."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from plaudit.core.sql import FEW_ROWS, insert_ignore
from plaudit.db.base import utcnow
from plaudit.db.models import Tag
from plaudit.db.session import make_sessionmaker, session_scope


@pytest.mark.parametrize("count", [3, FEW_ROWS * 3])
def test_insert_ignore_skips_existing_rows(engine, org, count):
    sessions = make_sessionmaker(engine, write=True)
    now = utcnow()

    def rows(names: range) -> list[dict[str, object]]:
        return [{"id": f"tag-{count}-{n}", "org_id": org.id, "name": f"t{n}", "created_at": now}
                for n in names]  # fmt: skip

    with session_scope(sessions) as session:
        insert_ignore(session, Tag, rows(range(count)))
    with session_scope(sessions) as session:  # half again (same ids), half new
        insert_ignore(session, Tag, rows(range(count // 2, count + count // 2)))
    with sessions() as session:
        stored = session.scalar(select(func.count()).where(Tag.org_id == org.id))
        last = session.scalar(select(Tag.name).where(Tag.id == f"tag-{count}-{count}"))
    assert stored == count + count // 2
    assert last == f"t{count}"
