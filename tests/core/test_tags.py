"""Tag ids: found or created in one go, the same id whichever transaction asked first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from plaudit.core.tags import create_tags, ensure_tags
from plaudit.db.models import Tag
from plaudit.db.session import make_sessionmaker, session_scope


def _count(sessions: sessionmaker[Session], org_id: str) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(Tag.org_id == org_id)) or 0)


def test_create_tags_returns_existing_and_new_ids_without_duplicates(engine, org):
    sessions = make_sessionmaker(engine, write=True)
    with session_scope(sessions) as session:
        first = ensure_tags(session, org.id, ["job:1", "unit:1"])
    with session_scope(sessions) as session:
        mixed = create_tags(session, org.id, ["unit:1", "turn:0", "job:1", "turn:0"])
    assert set(mixed) == {"job:1", "unit:1", "turn:0"}
    assert mixed["job:1"] == first["job:1"] and mixed["unit:1"] == first["unit:1"]
    assert _count(sessions, org.id) == 3
    with session_scope(sessions) as session:
        again = ensure_tags(session, org.id, ["turn:0", "job:1"])
    assert again == {"turn:0": mixed["turn:0"], "job:1": first["job:1"]}
    assert _count(sessions, org.id) == 3


def test_create_tags_of_nothing_writes_nothing(engine, org):
    sessions = make_sessionmaker(engine, write=True)
    with session_scope(sessions) as session:
        assert create_tags(session, org.id, []) == {}
        assert ensure_tags(session, org.id, []) == {}
    assert _count(sessions, org.id) == 0
