"""Tags and tag selectors. A selector is a list of tag names matched with AND semantics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, and_, bindparam, exists, func, literal, select
from sqlalchemy.orm import Session

from plaudit.core.sql import chunked, insert_ignoring
from plaudit.db.base import new_id, utcnow
from plaudit.db.models import Completion, CompletionTag, Tag
from plaudit.errors import Invalid

MAX_TAG_LENGTH = 500
MAX_TAGS_PER_COMPLETION = 100
# How many links a tag's popularity probe reads at most: enough to tell a rare tag from a
# common one, cheap enough (one short index range) to run on every selector lookup.
RARITY_PROBE = 1000


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
        found.update(create_tags(session, org_id, missing))
    return found


def create_tags(session: Session, org_id: str, names: Iterable[str]) -> dict[str, str]:
    """Map each name to its tag id, for names that are probably new: one INSERT … ON CONFLICT
    DO NOTHING RETURNING for all of them, then a lookup of those that existed after all.
    Race-safe: a tag another transaction is creating is waited for, then found."""
    wanted = sorted(set(names))  # one order for every writer (PostgreSQL locks the new rows)
    if not wanted:
        return {}
    now = utcnow()
    rows = [{"id": new_id(), "org_id": org_id, "name": n, "created_at": now} for n in wanted]
    statement = _creating_tags(session.get_bind().dialect.name)
    created: dict[str, str] = {}
    for chunk in chunked(rows, 5000):
        created.update(session.connection().execute(statement, chunk).tuples().all())
    existing = [n for n in wanted if n not in created]
    if existing:
        created.update(find_tags(session, org_id, existing))
    return created


@cache
def _creating_tags(dialect: str) -> Any:
    """Built once per dialect: the tags of every model call and ingest group go through it."""
    table = cast(Table, Tag.__table__)
    return insert_ignoring(dialect, table).returning(table.c.name, table.c.id)


TagKey = tuple[str, str]  # (org id, tag name)


class CommittedTagIds(Mapping[TagKey, str]):
    """Tag ids by (org id, name), a read-only mapping learnt only from committed transactions:
    ingestion and the gateway resolve the same tags batch after batch, and a known tag then
    costs no query.

    Tags are never deleted or renamed, so an entry cannot go stale. The ids a transaction
    resolved are collected in its ``learned`` dict and kept (``keep``) only once it has
    committed, so a rolled-back transaction leaves no id of a tag that does not exist. Reading
    while another thread keeps is safe: an entry is either there, final, or not yet.
    """

    MAX_SIZE = 100_000

    def __init__(self) -> None:
        self._ids: dict[TagKey, str] = {}

    def __getitem__(self, key: TagKey) -> str:
        return self._ids[key]

    def __iter__(self) -> Iterator[TagKey]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def links(self, org_id: str, tagged: dict[str, list[str]]) -> list[tuple[str, str]] | None:
        """The (completion id, tag id) links of ``tagged`` (tag names by completion id) from the
        cache alone, or None if a tag is not known yet."""
        ids = self._ids
        try:
            return [(cid, ids[org_id, name]) for cid, names in tagged.items() for name in names]
        except KeyError:
            return None

    def resolve(
        self, session: Session, org_id: str, names: Iterable[str], learned: dict[TagKey, str]
    ) -> dict[str, str]:
        """name -> id for every name: from the cache or ``learned``, the others found or
        created in ``session`` (and added to ``learned``)."""
        found: dict[str, str] = {}
        missing = []
        for name in set(names):
            tag_id = self._ids.get((org_id, name)) or learned.get((org_id, name))
            if tag_id is None:
                missing.append(name)
            else:
                found[name] = tag_id
        if missing:
            resolved = create_tags(session, org_id, missing)
            found.update(resolved)
            learned.update(((org_id, name), tag_id) for name, tag_id in resolved.items())
        return found

    def keep(self, learned: dict[TagKey, str]) -> None:
        """Remember what a transaction that has now committed resolved."""
        if len(self._ids) > self.MAX_SIZE:
            self._ids.clear()
        self._ids.update(learned)


# Built once: ingestion and the gateway look tags up batch after batch, and building and
# cache-keying the statement cost more than running it.
_TAGS_NAMED = select(Tag.name, Tag.id).where(
    Tag.org_id == bindparam("org_id"), Tag.name.in_(bindparam("names", expanding=True))
)


def find_tags(session: Session, org_id: str, names: Iterable[str]) -> dict[str, str]:
    names = list(names)
    result: dict[str, str] = {}
    for start in range(0, len(names), 5000):
        chunk = names[start : start + 5000]
        rows = session.execute(_TAGS_NAMED, {"org_id": org_id, "names": chunk})
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


_LINKS = CompletionTag.__table__
_TAGS = Tag.__table__
_COMPLETIONS = Completion.__table__


def tagged_with_all(tag_ids: list[str]) -> Select[Any]:
    """Completion ids carrying every one of ``tag_ids`` (AND semantics).

    The first tag drives the lookup (an index range over its links), the others are probes,
    so pass the rarest first: ``selector_tag_ids`` orders them so."""
    first, *rest = tag_ids
    query = select(_LINKS.c.completion_id).where(_LINKS.c.tag_id == first)
    for tag_id in rest:
        other = _LINKS.alias()
        query = query.where(
            exists().where(
                and_(other.c.completion_id == _LINKS.c.completion_id, other.c.tag_id == tag_id)
            )
        )
    return query


# Hot-path statements are built once with bind parameters: constructing and cache-keying a
# fresh statement costs several times more than SQLite takes to run it.
_TAGS_WITH_POPULARITY = select(
    _TAGS.c.name,
    _TAGS.c.id,
    select(func.count())
    .select_from(
        select(_LINKS.c.completion_id)
        .where(_LINKS.c.tag_id == _TAGS.c.id)
        .limit(RARITY_PROBE)
        .correlate(_TAGS)
        .subquery()
    )
    .scalar_subquery(),
).where(_TAGS.c.org_id == bindparam("org_id"), _TAGS.c.name.in_(bindparam("names", expanding=True)))

_TAGS_BY_NAME = select(_TAGS.c.name, _TAGS.c.id, literal(0)).where(
    _TAGS.c.org_id == bindparam("org_id"), _TAGS.c.name.in_(bindparam("names", expanding=True))
)


@lru_cache(maxsize=MAX_TAGS_PER_COMPLETION)
def _tagged_with_all_statement(width: int) -> Select[Any]:
    """``tagged_with_all`` for ``width`` tags as binds ``tag_0``… plus ``limit``, with each
    completion's owner and creation time (one round trip: a primary-key probe per match)."""
    query = (
        select(_LINKS.c.completion_id, _COMPLETIONS.c.org_id, _COMPLETIONS.c.created_at)
        .join(_COMPLETIONS, _COMPLETIONS.c.id == _LINKS.c.completion_id)
        .where(_LINKS.c.tag_id == bindparam("tag_0"))
    )
    for i in range(1, width):
        other = _LINKS.alias(f"also_{i}")
        query = query.where(
            exists().where(
                other.c.completion_id == _LINKS.c.completion_id,
                other.c.tag_id == bindparam(f"tag_{i}"),
            )
        )
    return query.limit(bindparam("limit", type_=Integer))


def selector_tag_ids(session: Session, org_id: str, selector: list[str]) -> list[str] | None:
    """Tag ids for a selector, rarest first, or None when some tag does not exist (so nothing
    can match).

    Rarest first because AND-matching costs the link count of the driving tag: ``env=prod``
    AND ``user=42`` must start from the user's handful of rows, not every production row. On
    SQLite, which keeps no per-value statistics, how common a tag is gets counted up to
    RARITY_PROBE links in the same statement; PostgreSQL's planner orders the join itself from
    its statistics (and a correlated probe there would plan as a full bitmap scan per tag).
    """
    wanted = list(dict.fromkeys(selector))
    if not wanted:
        return []
    probe = len(wanted) > 1 and session.get_bind().dialect.name == "sqlite"
    statement = _TAGS_WITH_POPULARITY if probe else _TAGS_BY_NAME
    found: dict[str, tuple[str, int]] = {}
    for chunk in chunked(wanted, 5000):
        rows = session.execute(statement, {"org_id": org_id, "names": chunk})
        found.update((name, (tag_id, count or 0)) for name, tag_id, count in rows)
    if len(found) < len(wanted):
        return None
    ordered = sorted(wanted, key=lambda name: found[name][1])  # stable: ties keep input order
    return [found[name][0] for name in ordered]


def completions_tagged_with_all(
    session: Session, org_id: str, tag_ids: list[str], *, limit: int
) -> list[str]:
    """Ids of ``org_id``'s completions carrying every tag, oldest first, at most ``limit``.

    When more than ``limit`` match, which ``limit`` come back is unspecified (callers use that
    only to refuse an over-broad selector). The lookup starts from the tag links and only
    probes completions by primary key: ordering by ``created_at`` or filtering on ``org_id`` in
    SQL lets SQLite pick a scan of every completion of the organization instead, so both
    happen here.
    """
    if not tag_ids:
        return []
    params: dict[str, Any] = {f"tag_{i}": tag_id for i, tag_id in enumerate(tag_ids)}
    params["limit"] = limit
    rows = session.execute(_tagged_with_all_statement(len(tag_ids)), params)
    found = sorted((created, cid) for cid, owner, created in rows if owner == org_id)
    return [cid for _created, cid in found]
