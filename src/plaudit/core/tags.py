"""Tags and tag selectors. A selector is a list of tag names matched with AND semantics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session

from plaudit.core.sql import insert_ignore
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import CompletionTag, Tag
from plaudit.errors import Invalid

MAX_TAG_LENGTH = 500
MAX_TAGS_PER_COMPLETION = 100


def normalise_tags(tags: Iterable[object], *, field: str = "tags") -> list[str]:
    """De-duplicate in order; refuse non-strings, empty and oversize names."""
    seen: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str):
            raise Invalid(f"{field} must be a list of strings", path=field)
        name = tag.strip()
        if not name:
            continue
        if len(name) > MAX_TAG_LENGTH or "\x00" in name:
            raise Invalid(
                f"tag '{name[:40]}…' is longer than {MAX_TAG_LENGTH} characters "
                "or holds a NUL byte",
                path=field,
            )
        seen[name] = None
    if len(seen) > MAX_TAGS_PER_COMPLETION:
        raise Invalid(f"at most {MAX_TAGS_PER_COMPLETION} tags per completion", path=field)
    return list(seen)


def parse_selector(value: object, *, field: str = "completion_tags_selector") -> list[str]:
    """Accept a list of names or one comma-separated string, as the log10 CLI sends."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise Invalid(f"{field} must be a list of tag names", path=field)
    return normalise_tags(value, field=field)


def ensure_tags(session: Session, org_id: str, names: Iterable[str]) -> dict[str, str]:
    """Map each name to its tag id, creating missing tags (race-safe)."""
    wanted = set(names)
    if not wanted:
        return {}
    found = find_tags(session, org_id, wanted)
    missing = wanted - found.keys()
    if missing:
        now = utcnow()
        insert_ignore(
            session,
            Tag,
            [{"id": new_id(), "org_id": org_id, "name": n, "created_at": now} for n in missing],
        )
        found.update(find_tags(session, org_id, missing))
    return found


def find_tags(session: Session, org_id: str, names: Iterable[str]) -> dict[str, str]:
    names = list(names)
    result: dict[str, str] = {}
    for start in range(0, len(names), 5000):
        rows = session.execute(
            select(Tag.name, Tag.id).where(
                Tag.org_id == org_id, Tag.name.in_(names[start : start + 5000])
            )
        )
        result.update(dict(rows.tuples().all()))
    return result


def search_tags(session: Session, org_id: str, query: str, limit: int = 20) -> list[Tag]:
    """Exact match first, then prefix matches (what the log10 CLI's tag lookup expects)."""
    exact = session.scalar(select(Tag).where(Tag.org_id == org_id, Tag.name == query))
    if exact is not None:
        return [exact]
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(
        session.scalars(
            select(Tag)
            .where(Tag.org_id == org_id, Tag.name.like(f"{escaped}%", escape="\\"))
            .order_by(func.length(Tag.name), Tag.name)
            .limit(limit)
        )
    )


def tagged_with_all(tag_ids: list[str]) -> Select[Any]:
    """Completion ids carrying every one of ``tag_ids`` (AND semantics)."""
    first, *rest = tag_ids
    query = select(CompletionTag.completion_id).where(CompletionTag.tag_id == first)
    for tag_id in rest:
        other = CompletionTag.__table__.alias()
        query = query.where(
            exists().where(
                and_(other.c.completion_id == CompletionTag.completion_id, other.c.tag_id == tag_id)
            )
        )
    return query


def selector_tag_ids(session: Session, org_id: str, selector: list[str]) -> list[str] | None:
    """Tag ids for a selector, or None when some tag does not exist (so nothing can match)."""
    found = find_tags(session, org_id, selector)
    if len(found) < len(set(selector)):
        return None
    return [found[name] for name in selector]
