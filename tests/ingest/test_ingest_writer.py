"""The group-commit writer itself: bulk path vs the general upsert path inside one group, the
tag-id cache, and the validation rules the fast item parser must keep."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import Engine, func, select, text

from plaudit.core.ingest import IngestWriter
from plaudit.core.ingest_items import parse_batch_body, parse_item
from plaudit.db.models import Completion, CompletionTag, Tag
from plaudit.db.session import make_sessionmaker
from plaudit.errors import Forbidden, Invalid


@pytest.fixture
def writer(engine: Engine) -> Iterator[IngestWriter]:
    writer = IngestWriter(make_sessionmaker(engine, write=True), window_s=0)
    writer.start()
    yield writer
    writer.stop()


def _body(*items: dict[str, object]) -> bytes:
    return orjson.dumps({"completions": list(items)})


def _batch(writer: IngestWriter, org_id: str, *items: dict[str, object]):
    return writer.prepare(org_id, parse_batch_body(_body(*items)))


def _count(engine: Engine, model: type, **where: str) -> int:
    with make_sessionmaker(engine)() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(session.scalar(query) or 0)


def _wait_for_blocked_group(writer: IngestWriter) -> None:
    # The first job has been taken (the queue is empty again): the writer now waits on the lock.
    deadline = threading.Event()
    for _ in range(500):
        if writer.queued == 0:
            return
        deadline.wait(0.01)
    raise AssertionError("the writer never took the first job")


def test_same_ids_twice_in_one_group_are_written_once(engine, write_lock, writer, org):
    items = [{"id": f"dup-{i}", "tags": ["twice"], "model": "m"} for i in range(30)]
    with write_lock():
        blocker = writer.submit(_batch(writer, org.id, {"id": "blocker"}))
        _wait_for_blocked_group(writer)
        first = writer.submit(_batch(writer, org.id, *items))
        retry = writer.submit(_batch(writer, org.id, *items))  # a client retrying at once
        groups_before = writer.groups_committed
    assert blocker.result(30) == 1
    assert first.result(30) == 30 and retry.result(30) == 30
    assert writer.groups_committed == groups_before + 2  # blocker's group, then both together
    assert _count(engine, Completion, org_id=org.id) == 31
    assert _count(engine, CompletionTag) == 30


def test_existing_ids_take_the_upsert_path_and_merge(engine, writer, org):
    writer.submit(_batch(writer, org.id, {"id": "u-1", "status": "started", "tags": ["a"]})).result(
        30
    )
    answer = writer.submit(
        _batch(writer, org.id, {"id": "u-1", "status": "finished", "tags": ["b"]}, {"id": "u-2"})
    )
    assert answer.result(30) == 2
    with make_sessionmaker(engine)() as session:
        row = session.get(Completion, "u-1")
        assert row is not None and row.status == "finished" and row.tags == ["b"]
        names = session.scalars(
            select(Tag.name).join(CompletionTag, CompletionTag.tag_id == Tag.id)
            .where(CompletionTag.completion_id == "u-1")
        ).all()  # fmt: skip
    assert names == ["b"]
    assert _count(engine, Completion, org_id=org.id) == 2


def test_new_ids_are_inserted_without_looking_them_up_first(engine, writer, org):
    checked = writer.groups_checked
    assert writer.submit(_batch(writer, org.id, {"id": "n-1"}, {"id": "n-2"})).result(30) == 2
    assert writer.groups_checked == checked  # one attempt, no existence query
    # A retry of a committed batch fails the optimistic INSERT on its primary key and is done
    # again with the check: still one row per id, the retry's fields merged in.
    again = _batch(writer, org.id, {"id": "n-1", "model": "retried"}, {"id": "n-2"})
    assert writer.submit(again).result(30) == 2
    assert writer.groups_checked == checked + 1
    assert _count(engine, Completion, org_id=org.id) == 2
    with make_sessionmaker(engine)() as session:
        row = session.get(Completion, "n-1")
        assert row is not None and row.model == "retried"


def test_a_failed_group_leaves_no_tag_id_in_the_cache(engine, write_lock, writer, org, other_org):
    writer.submit(_batch(writer, other_org.id, {"id": "theirs"})).result(30)
    with write_lock():
        writer.submit(_batch(writer, org.id, {"id": "blocker"}))
        _wait_for_blocked_group(writer)
        good = writer.submit(_batch(writer, org.id, {"id": "mine", "tags": ["fresh"]}))
        bad = writer.submit(_batch(writer, org.id, {"id": "theirs", "tags": ["fresh"]}))
    assert good.result(30) == 1
    with pytest.raises(Forbidden):
        bad.result(30)
    # The group's tag insert was rolled back (the jobs were then redone one by one), so its
    # tag id must not have been remembered.
    assert (org.id, "fresh") not in writer._tag_ids
    groups = writer.groups_committed
    writer.submit(_batch(writer, org.id, {"id": "later", "tags": ["fresh"]})).result(30)
    assert writer.groups_committed == groups + 1  # the bulk path, not the one-by-one fallback
    with make_sessionmaker(engine)() as session:
        stored = dict(session.execute(select(Tag.id, Tag.name)).tuples().all())
    assert stored[writer._tag_ids[(org.id, "fresh")]] == "fresh"
    assert _count(engine, CompletionTag) == 2


def test_a_batch_redone_alone_keeps_its_items_and_their_generated_ids(
    engine, write_lock, writer, org, other_org
):
    writer.submit(_batch(writer, other_org.id, {"id": "theirs-2"})).result(30)
    with write_lock():
        writer.submit(_batch(writer, org.id, {"id": "blocker-2"}))
        _wait_for_blocked_group(writer)
        # An item without an id gets one when parsed; the batch then lets go of its parsed
        # items and parses the body again for the one-by-one fallback.
        good = _batch(writer, org.id, {"model": "no-id", "request": {"q": 1}}, {"id": "named"})
        assert good.parsed_items is None and good.ids is not None
        done = writer.submit(good)
        bad = writer.submit(_batch(writer, org.id, {"id": "theirs-2"}))
    assert done.result(30) == 2
    with pytest.raises(Forbidden):
        bad.result(30)
    with make_sessionmaker(engine)() as session:
        row = session.get(Completion, good.ids[0])
        assert row is not None and row.model == "no-id" and row.request == {"q": 1}
    assert _count(engine, Completion, org_id=org.id) == 3  # blocker-2, the id-less one, named


def test_known_tags_cost_no_tag_query(engine, writer, org):
    writer.submit(_batch(writer, org.id, {"id": "t-1", "tags": ["x", "y"]})).result(30)
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", record)
    try:
        writer.submit(_batch(writer, org.id, {"id": "t-2", "tags": ["y", "x"]})).result(30)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in seen if "FROM tags" in s], seen
    assert _count(engine, CompletionTag) == 4


def _links(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT ct.completion_id, t.name FROM completion_tags ct JOIN tags t"
                 " ON t.id = ct.tag_id")
        )  # fmt: skip
        return {(row[0], row[1]) for row in rows}


def test_links_come_from_the_cache_only_when_every_tag_is_known(engine, writer, org):
    writer.submit(_batch(writer, org.id, {"id": "k-1", "tags": ["x", "y"]})).result(30)
    known = _batch(writer, org.id, {"id": "k-2", "tags": ["y"]}, {"id": "k-3", "tags": ["x"]})
    assert known.links is not None and len(known.links) == 2  # made in the request thread
    fresh = _batch(writer, org.id, {"id": "k-4", "tags": ["x", "z"]}, {"id": "k-5"})
    assert fresh.links is None  # "z" is new: the writer creates it and links both
    writer.submit(known).result(30)
    writer.submit(fresh).result(30)
    assert _links(engine) == {("k-1", "x"), ("k-1", "y"), ("k-2", "y"), ("k-3", "x"),
                              ("k-4", "x"), ("k-4", "z")}  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"kind": 3}, "kind"),
        ({"latency_ms": True}, "latency_ms"),
        ({"status": None}, "status"),
        ({"metadata": [1]}, "metadata"),
        ({"request": "[1]"}, "request"),
        ({"request": "{nope"}, "request"),
        ({"tags": ["a", 2]}, "tags"),
        ({"created_at": 5}, "created_at"),
    ],
)
def test_item_rules(raw, path):
    with pytest.raises(Invalid) as caught:
        parse_item(raw)
    assert caught.value.path == path


def _nested(levels: int) -> object:
    value: object = {}
    for _ in range(levels - 1):
        value = {"d": value}
    return value


def test_depth_limit_is_exact_and_applies_to_json_strings():
    assert parse_item({"request": _nested(62)})[1]["request"] == _nested(62)
    with pytest.raises(Invalid) as caught:
        parse_item({"request": _nested(63)})
    assert caught.value.path == "request"
    # brackets inside strings only make the cheap bound walk; they do not count as depth
    assert parse_item({"response": {"text": "[{" * 100}})[2]["response"].startswith('{"text"')
    with pytest.raises(Invalid) as caught:  # log10 sends request as a JSON string
        parse_item({"request": orjson.dumps(_nested(63)).decode()})
    assert caught.value.path == "request"


def test_null_kind_means_not_given_like_put(engine, writer, org):
    fields = parse_item({"id": "k-1", "kind": None})[1]
    assert "kind" not in fields
    writer.submit(_batch(writer, org.id, {"id": "k-1", "kind": None})).result(30)
    with make_sessionmaker(engine)() as session:
        row = session.get(Completion, "k-1")
        assert row is not None and row.kind == "chat"


def test_serving_raises_the_young_gc_threshold(client):
    import gc

    from plaudit.core.ingest import GC_YOUNG_THRESHOLD

    assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD  # the app's startup hook ran


def test_sqlite_wal_is_checkpointed_on_its_own_thread(engine, writer, org):
    items = [{"id": f"wal-{i}", "model": "m", "tags": ["w"]} for i in range(50)]
    assert writer.submit(_batch(writer, org.id, *items)).result(30) == 50
    writer.stop()  # the checkpointer runs once more on its way out
    if engine.dialect.name != "sqlite":
        assert writer._checkpointer is None  # PostgreSQL: no WAL file of ours to checkpoint
        return
    assert writer._checkpointer is not None and writer._checkpointer.checkpoints >= 1
    # The database file itself (the WAL ignored) holds the rows: the checkpoint moved them
    # there; SQLite's own autocheckpoint would have waited for 1,000 pages of WAL.
    file = sqlite3.connect(f"file:{engine.url.database}?immutable=1", uri=True)
    try:
        stored = file.execute("SELECT count(*) FROM completions WHERE id LIKE 'wal-%'")
        assert stored.fetchone()[0] == 50
    finally:
        file.close()
