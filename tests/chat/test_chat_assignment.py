"""Assignment under leases: judgments per unit, never twice, expiry, 20 concurrent contributors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from chathelp import ids_text, tag
from sqlalchemy import update

from plaudit.db.base import utcnow
from plaudit.db.models import ChatSlot


def simple_job(chat, units, **extra):
    csv_text = "topic\n" + "".join(f"t{i}\n" for i in range(units))
    return chat.job(tag(source_data=ids_text(chat.models[:1])), csv_text, **extra)


def test_next_is_idempotent_and_judgments_per_unit_go_to_different_people(chat):
    job_id = simple_job(chat, 2, judgments_per_unit=2)
    first = chat.next(job_id, "a")["assignment"]
    assert chat.next(job_id, "a")["assignment"]["id"] == first["id"]  # a reload: same unit
    b = chat.next(job_id, "b")["assignment"]
    assert b["unit_id"] == first["unit_id"]  # the second judgment of the same unit
    chat.submit(first["id"], "a")
    again = chat.next(job_id, "a")["assignment"]
    assert again["unit_id"] != first["unit_id"]
    chat.submit(again["id"], "a")
    assert chat.next(job_id, "a")["assignment"] is None  # a has judged both units
    chat.submit(b["id"], "b")
    assert chat.next(job_id, "c")["assignment"]["unit_id"] == again["unit_id"]


def test_expired_lease_returns_the_unit(chat, engine):
    job_id = simple_job(chat, 1)
    held = chat.next(job_id, "slow")["assignment"]
    assert chat.next(job_id, "fast")["assignment"] is None
    with engine.begin() as conn:
        conn.execute(update(ChatSlot).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    taken = chat.next(job_id, "fast")["assignment"]
    assert taken["unit_id"] == held["unit_id"]
    error = chat.send(held["id"], "slow", "am I late?", status=409)["error"]
    assert "lease" in error["message"]
    assert chat.state(held["id"], "slow")["assignment"]["state"] == "expired"


def test_an_expired_lease_nobody_took_is_renewed_by_activity(chat, engine):
    job_id = simple_job(chat, 1)
    held = chat.next(job_id, "a")["assignment"]
    with engine.begin() as conn:
        conn.execute(update(ChatSlot).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    chat.send(held["id"], "a", "still here")
    state = chat.state(held["id"], "a")
    assert state["assignment"]["state"] == "active"
    assert state["assignment"]["lease_expires_at"] > utcnow().isoformat()


def test_other_contributors_cannot_touch_an_assignment(chat):
    job_id = simple_job(chat, 1)
    aid = chat.next(job_id, "owner")["assignment"]["id"]
    response = chat.client.get(f"/api/v1/assignments/{aid}", headers=chat.h("intruder"))
    assert response.status_code == 403


def test_job_states_gate_assignment(chat):
    job_id = chat.create(tag(source_data=ids_text(chat.models[:1])))["id"]
    post = lambda verb: chat.client.post(f"/api/v1/jobs/{job_id}/{verb}", headers=chat.h())  # noqa: E731
    assert post("launch").status_code == 409  # no units yet
    assert chat.next(job_id, "x", status=409)["error"]["message"].endswith("is draft")
    chat.upload(job_id, "topic\na\nb\n")
    assert post("pause").status_code == 409  # not running
    assert post("launch").status_code == 200
    edit = chat.client.patch(f"/api/v1/jobs/{job_id}", json={"name": "x"}, headers=chat.h())
    assert edit.status_code == 409 and "draft" in edit.json()["error"]["message"]
    held = chat.next(job_id, "x")["assignment"]
    assert post("pause").status_code == 200
    assert "paused" in chat.next(job_id, "y", status=409)["error"]["message"]
    assert chat.next(job_id, "x")["assignment"]["id"] == held["id"]  # own work continues
    assert post("resume").status_code == 200
    assert chat.next(job_id, "y")["assignment"] is not None
    assert post("finish").status_code == 200
    assert post("resume").status_code == 409
    assert chat.send(held["id"], "x", "hello?", status=409)["error"]["message"].endswith(
        "is finished"
    )


def test_contributor_header_needs_an_admin_key(chat, client, engine, org):
    from plaudit.core.orgs import create_api_key
    from plaudit.db.session import make_sessionmaker, session_scope

    job_id = simple_job(chat, 1)
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        key = create_api_key(session, org.id, "feedback")
    response = client.post(f"/api/v1/jobs/{job_id}/next",
                           headers={"Authorization": f"Bearer {key}",
                                    "X-Plaudit-Contributor": "someone"})  # fmt: skip
    assert response.status_code == 403


def claim_concurrently(url, headers, job_id, contributors):
    def claim(who):
        with httpx.Client(base_url=url, timeout=60) as client:
            response = client.post(f"/api/v1/jobs/{job_id}/next",
                                   headers={**headers, "X-Plaudit-Contributor": who})  # fmt: skip
            assert response.status_code == 200, response.text
            assignment = response.json()["assignment"]
            return None if assignment is None else assignment["unit_id"]

    with ThreadPoolExecutor(len(contributors)) as pool:
        return list(pool.map(claim, contributors))


def test_twenty_concurrent_contributors_never_share_a_unit(chat, live_server):
    job_id = simple_job(chat, 15)
    who = [f"c{i}" for i in range(20)]
    units = claim_concurrently(live_server.url, chat.h(), job_id, who)
    claimed = [u for u in units if u]
    assert len(claimed) == 15 and len(set(claimed)) == 15  # 5 found nothing left
    status = chat.client.get(f"/api/v1/jobs/{job_id}/status", headers=chat.h()).json()
    assert status["slots"] == {"open": 0, "claimed": 15, "done": 0}


SERVERS = 2  # `plaudit serve` processes sharing one database


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_processes(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PLAUDIT_DATABASE_URL": url, "PLAUDIT_DATA_DIR": str(tmp_path)}
    procs, urls = [], []
    for _ in range(SERVERS):
        port = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "plaudit.cli.main", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    for base in urls:
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "plaudit serve did not start"
            time.sleep(0.1)
    yield urls
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=20)


def test_twenty_contributors_across_server_processes(chat, server_processes):
    job_id = simple_job(chat, 12)
    who = [f"p{i}" for i in range(20)]

    def claim(index):
        return claim_concurrently(
            server_processes[index % SERVERS], chat.h(), job_id, [who[index]]
        )[0]

    with ThreadPoolExecutor(20) as pool:
        units = list(pool.map(claim, range(20)))
    claimed = [u for u in units if u]
    assert len(claimed) == 12 and len(set(claimed)) == 12


def test_roles_contributors_chat_reviewers_qa(chat, engine, org):
    from plaudit.chat.jobs import get_job
    from plaudit.chat.state import next_unit
    from plaudit.core.principal import Principal
    from plaudit.db.session import make_sessionmaker, session_scope
    from plaudit.errors import Forbidden

    job_id = simple_job(chat, 2)
    contributor = Principal(org.id, org.slug, "contributor", user_id="u-1", role="contributor")
    reviewer = Principal(org.id, org.slug, "reviewer", user_id="u-2", role="reviewer")
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        job = get_job(session, org.id, job_id)
        state = next_unit(session, contributor, job, contributor.actor_id, 60)
        assert state["assignment"]["unit_id"]
        with pytest.raises(Forbidden):
            next_unit(session, reviewer, job, reviewer.actor_id, 60)
        job.kind = "qa"  # a QA job is the reviewers'
        with pytest.raises(Forbidden):
            next_unit(session, contributor, job, "u-3", 60)
        job.kind = "chat"


def test_draft_jobs_can_be_deleted_launched_ones_not(chat):
    draft = chat.create(tag(source_data=ids_text(chat.models[:1])))["id"]
    chat.upload(draft, "topic\na\n")
    assert chat.client.delete(f"/api/v1/jobs/{draft}", headers=chat.h()).status_code == 200
    assert chat.client.get(f"/api/v1/jobs/{draft}", headers=chat.h()).status_code == 404
    running = simple_job(chat, 1)
    response = chat.client.delete(f"/api/v1/jobs/{running}", headers=chat.h())
    assert response.status_code == 409 and "draft" in response.json()["error"]["message"]


def test_activity_renews_a_lease_once_it_is_older_than_a_tenth_of_its_length(chat, engine):
    from sqlalchemy import select

    from plaudit.db.models import ChatAssignment

    job_id = simple_job(chat, 1)
    held = chat.next(job_id, "a")["assignment"]
    slot_lease = lambda: engine.connect().execute(select(ChatSlot.lease_expires_at)).scalar()  # noqa: E731
    claimed = slot_lease()
    chat.send(held["id"], "a", "fresh lease")
    assert slot_lease() == claimed  # renewed a moment ago: no UPDATE
    lease = chat.client.app.state.settings.unit_lease_seconds
    aged = utcnow() + timedelta(seconds=lease * 0.85)  # renewed 15 % of a lease ago
    with engine.begin() as conn:
        conn.execute(update(ChatSlot).values(lease_expires_at=aged))
    chat.answer_all(held["id"], "a", 0)
    renewed = slot_lease()
    assert renewed > aged + timedelta(seconds=lease * 0.1)
    with engine.connect() as conn:
        assert conn.execute(select(ChatAssignment.lease_expires_at)).scalar() == renewed
