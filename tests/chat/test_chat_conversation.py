"""Conversation rules: reload/disconnect, model error + retry, near identical, answers, ids."""

from __future__ import annotations

import time

import httpx
from chathelp import GOOD, ONTOLOGY, finish_turn, ids_text, parse_sse, register, tag

from plaudit.chat.ontology import normalise_ontology, questions
from plaudit.gateway.batch_writer import DEFER_S


def start(chat, cml, who="c1"):
    job_id = chat.job(cml, "topic\nx\n")
    return job_id, chat.next(job_id, who)["assignment"]["id"]


def test_a_dropped_stream_completes_server_side_and_reload_continues(
    chat, engine, org, fake, live_server
):
    slow = [register(engine, org.id, f"slow-{n}", fake.url_with(latency_ms=300) + "/v1",
                     upstream=f"fake-{n}") for n in ("echo", "terse")]  # fmt: skip
    job_id, aid = start(chat, tag(source_data=ids_text(slow)))
    headers = chat.h("c1")
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        with client.stream("POST", f"/api/v1/assignments/{aid}/turns", headers=headers,
                           json={"prompt": "are you still there?"}) as response:  # fmt: skip
            assert response.status_code == 200
            first = next(response.iter_text())
            assert first.startswith("event: turn")
        # the client went away before any model answered; the server keeps going
        deadline = time.monotonic() + 20
        while True:
            state = client.get(f"/api/v1/assignments/{aid}", headers=headers).json()
            responses = state["turns"][0]["responses"]
            if all(r["state"] == "done" for r in responses) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert [r["state"] for r in responses] == ["done", "done"]
    assert any(r["text"].startswith("You said: are you still there?") for r in responses)
    assert state["limits"]["can_send"] is False  # answers and a selection are still missing
    # every model call is logged as a completion tagged with job, unit, turn and model (the
    # log follows the stored responses by at most DEFER_S)
    assert logged_models(chat, f"job:{job_id},turn:0", len(slow)) == sorted(
        f"model:{m}" for m in slow
    )
    finish_turn(chat, aid, "c1", 0)
    chat.submit(aid, "c1")


def test_a_failed_model_can_be_retried_alone(chat, engine, org, fake):
    # fail_first counts per option set: a fresh seed makes this run's counter its own
    endpoint = fake.url_with(fail_first=1, seed=time.time_ns() % 1_000_000_007) + "/v1"
    flaky = register(engine, org.id, "flaky", endpoint, upstream="fake-terse")  # fmt: skip
    _, aid = start(chat, tag(source_data=ids_text([chat.models[0], flaky])))
    events = chat.send(aid, "c1", "flaky?")
    errors = [d for e, d in events if e == "error"]
    assert len(errors) == 1
    failed = errors[0]["label"]
    assert str(flaky) not in errors[0]["message"] and "flaky" not in errors[0]["message"]
    state = chat.state(aid, "c1")
    assert state["limits"]["can_send"] is False
    ok = next(r["label"] for r in state["turns"][0]["responses"] if r["label"] != failed)
    chat.call("POST", aid, "c1", "/turns/0/retry", {"label": ok}, status=409)  # did not fail
    chat.select(aid, "c1", 0, label=failed, status=409)
    response = chat.client.post(f"/api/v1/assignments/{aid}/turns/0/retry",
                                json={"label": failed}, headers=chat.h("c1"))  # fmt: skip
    retried = parse_sse(response.text)
    assert [e for e, _ in retried] == ["turn", *(["delta"] * (len(retried) - 3)), "done", "end"]
    assert retried[0][1]["responses"] == [{"label": failed, "position": ord(failed[-1]) - ord("A")}]
    state = chat.state(aid, "c1")
    again = next(r for r in state["turns"][0]["responses"] if r["label"] == failed)
    assert again["state"] == "done" and again["attempts"] == 2
    finish_turn(chat, aid, "c1", 0)


def test_near_identical_is_a_recorded_random_pick(chat):
    job_id, aid = start(chat, tag(source_data=ids_text(chat.models), enhanced="true"))
    chat.send(aid, "c1", "pick for me")
    chat.answer_all(aid, "c1", 0)
    state = chat.select(aid, "c1", 0, near_identical=True)
    selection = state["turn"]["selection"]
    assert selection["near_identical"] and selection["random_pick"]
    assert selection["label"] in {"Response A", "Response B", "Response C"}
    chat.submit(aid, "c1")
    record = chat.results(job_id)[0]
    turn = record["annotation"]["annotation"]["chat"]["0"]
    assert turn["nearIdentical"] is True
    assert sum(c["selection"] for c in turn["completion"]) == 1
    assert record["chat_0_near_identical"] is True


def test_answers_and_selection_gate_the_next_turn(chat):
    _, aid = start(chat, tag(source_data=ids_text(chat.models[:2])))
    chat.send(aid, "c1", "first")
    error = chat.send(aid, "c1", "second", status=409)["error"]["message"]
    assert "turn 0 is not complete" in error and "Response A: answers" in error
    chat.answer(aid, "c1", 0, "Response A", {"quality": 9}, status=422)
    chat.answer(aid, "c1", 0, "Response A", {"unknown": 1}, status=422)
    chat.answer(aid, "c1", 0, "Response Z", GOOD, status=422)
    chat.answer(aid, "c1", 0, "Response A", {"quality": 3})  # partial answers are kept
    state = chat.answer(aid, "c1", 0, "Response A", {"is_this_response_factually_correct": "no"})
    assert state["turn"]["responses"][0]["answers"] == {
        "quality": 3, "is_this_response_factually_correct": "no"}  # fmt: skip
    chat.answer(aid, "c1", 0, "Response B", GOOD)
    error = chat.send(aid, "c1", "second", status=409)["error"]["message"]
    assert "select the response" in error
    chat.select(aid, "c1", 0, label="Response B")
    chat.send(aid, "c1", "second")
    chat.select(aid, "c1", 0, label="Response A", status=409)  # turn 0 is closed now
    error = chat.submit(aid, "c1", status=409)["error"]["message"]
    assert "turn 1" in error


def test_answers_can_come_with_the_selection_in_one_call(chat):
    _, aid = start(chat, tag(source_data=ids_text(chat.models[:2])))
    chat.send(aid, "c1", "both at once")
    both = {"Response A": GOOD, "Response B": GOOD}
    # a bad answer fails the whole call: neither the answers nor the selection are kept
    bad = {**both, "Response B": {"quality": 9}}
    chat.select(aid, "c1", 0, label="Response B", responses=bad, status=422)
    state = chat.state(aid, "c1")["turns"][0]
    assert state["selection"] is None and all(r["answers"] == {} for r in state["responses"])
    chosen = chat.select(aid, "c1", 0, label="Response B", responses=both)["turn"]
    assert chosen["selection"]["label"] == "Response B" and chosen["problems"] == []
    assert [r["answers"] for r in chosen["responses"]] == [GOOD, GOOD]
    chat.send(aid, "c1", "next")  # the turn was complete
    for index in ("x", "-1", "1e3", "٣"):  # read after the key check: a 422 naming the index
        error = chat.call("POST", aid, "c1", f"/turns/{index}/select", {"label": "Response A"},
                          status=422)["error"]  # fmt: skip
        assert error["path"] == "index", error


def test_model_ids_are_never_shown_to_contributors(chat):
    _, aid = start(chat, tag(source_data=ids_text(chat.models)))
    events = chat.send(aid, "c1", "who are you?")
    finish_turn(chat, aid, "c1", 0)
    state = chat.state(aid, "c1")
    text = str(events) + str(state)
    assert "model_id" not in text and "modelId" not in text and "fake-" not in text
    order = [r["label"] for r in state["turns"][0]["responses"]]
    assert order == ["Response A", "Response B", "Response C"]


def test_ontology_question_ids_are_generated_and_kept_on_edit(chat):
    schema = normalise_ontology(ONTOLOGY)
    ids = {q.name: q.id for q in questions(schema)}
    assert len(set(ids.values())) == 4
    assert {q.name: q.type_name for q in questions(schema)} == {
        "is_this_response_factually_correct": "Multiple Choice", "quality": "Rating Scale",
        "issues": "Checkboxes", "comment": "Text"}  # fmt: skip
    job = chat.create(tag(source_data=str(chat.models[0])))
    first = job["ontology"]["properties"]["quality"]["x-question-id"]
    edited = {**ONTOLOGY, "properties": {**ONTOLOGY["properties"],
              "new_one": {"type": "string"}}}  # fmt: skip
    response = chat.client.patch(f"/api/v1/jobs/{job['id']}", json={"ontology": edited},
                                 headers=chat.h())  # fmt: skip
    props = response.json()["ontology"]["properties"]
    assert props["quality"]["x-question-id"] == first and props["new_one"]["x-question-id"]
    bad = {"type": "object", "properties": {"q": {"type": "object"}}}
    error = chat.create(tag(source_data=str(chat.models[0])), ontology=bad, status=422)["error"]
    assert error["path"] == "ontology.properties.q"


def test_a_response_stalled_by_a_lost_server_can_be_retried(chat, engine):
    from datetime import timedelta

    from sqlalchemy import update

    from plaudit.db.base import utcnow
    from plaudit.db.models import ChatResponse

    _, aid = start(chat, tag(source_data=ids_text(chat.models[:2])))
    chat.send(aid, "c1", "before the crash")
    chat.call("POST", aid, "c1", "/turns/0/retry", {"label": "Response A"}, status=409)
    with engine.begin() as conn:  # as if the server died mid-stream ten minutes ago
        conn.execute(update(ChatResponse).where(ChatResponse.label == "Response A").values(
            state="pending", text=None, updated_at=utcnow() - timedelta(minutes=11)))  # fmt: skip
    response = chat.client.post(f"/api/v1/assignments/{aid}/turns/0/retry",
                                json={"label": "Response A"}, headers=chat.h("c1"))  # fmt: skip
    assert parse_sse(response.text)[-2][0] == "done"
    state = chat.state(aid, "c1")
    assert state["turns"][0]["responses"][0]["state"] == "done"
    both = {"responses": {"Response A": GOOD, "Response B": GOOD}}
    state = chat.call("PUT", aid, "c1", "/turns/0/answers", both)  # several at once
    assert [r["answers"] for r in state["turn"]["responses"]] == [GOOD, GOOD]


def test_turn_actions_answer_that_turn_and_the_limits_as_the_full_state_shows_them(chat):
    _, aid = start(chat, tag(source_data=ids_text(chat.models[:2]), min_turns="3"))
    for turn in range(3):
        chat.send(aid, "c1", f"question {turn}")
        acted = [
            chat.answer(aid, "c1", turn, "Response A"),
            chat.answer(aid, "c1", turn, "Response B"),
            chat.select(aid, "c1", turn, label="Response B"),
        ]
        for state in acted:  # only the turn acted on, never the earlier ones
            assert set(state) == {"assignment", "turn", "limits"}
        full = chat.state(aid, "c1")
        assert acted[-1]["turn"] == full["turns"][turn]
        assert acted[-1]["assignment"] == full["assignment"]
        assert acted[-1]["limits"] == full["limits"]
        blocked = acted[0]["limits"]["send_blocked"]  # Response B is not answered yet
        assert not acted[0]["limits"]["can_send"] and "Response B: answers" in blocked
        assert full["limits"]["can_send"] and full["limits"]["turns_done"] == turn + 1
    assert full["limits"]["can_submit"]
    earlier = chat.answer(aid, "c1", 0, "Response A", {"quality": 1})  # a closed turn still takes
    assert earlier["turn"]["responses"][0]["answers"]["quality"] == 1  # answer changes
    assert earlier["limits"] == chat.state(aid, "c1")["limits"]


def logged_models(chat, tags: str, expected: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The model tags of the completions logged with ``tags``, once ``expected`` are (or 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        listed = chat.client.get("/api/v1/completions", params={"tags": tags},
                                 headers=chat.h()).json()  # fmt: skip
        found = sorted(t for c in listed["data"] for t in c["tags"] if t.startswith("model:"))
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(DEFER_S / 5)


def test_a_turn_whose_transaction_fails_cancels_its_model_calls(engine, org, fake):
    """The models are called before the turn's transaction commits (the commit overlaps their
    wait); if it fails, the calls are cancelled and nothing of them is stored or announced."""
    import asyncio

    from plaudit.chat.turns import ShownResponse, TurnPlan, TurnRunner
    from plaudit.core.completions import CompletionFilter, list_completions
    from plaudit.db.session import make_sessionmaker
    from plaudit.gateway import CallContext, Gateway, spec_from_row
    from plaudit.gateway.registry import models_by_ids

    slow = register(engine, org.id, "slow-doomed", fake.url_with(latency_ms=3000) + "/v1",
                    upstream="fake-echo")  # fmt: skip
    sessions = make_sessionmaker(engine, write=True)
    with sessions() as session:
        spec = spec_from_row(models_by_ids(session, org.id, [slow])[0])
    prompt = f"never stored {time.time_ns()}"
    context = CallContext(messages=[{"role": "user", "content": prompt}], tags=["doomed:turn"])
    plan = TurnPlan("turn-not-stored", 0, [ShownResponse("response-not-stored", slow,
                    "Response A", 0)], [spec], context)  # fmt: skip

    async def main() -> bytes:
        gateway = Gateway(sessions)
        runner = TurnRunner(gateway, sessions)
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stream = runner.start(plan, committed)
        deadline = time.monotonic() + 5
        while not any(prompt in str(r.get("body")) for r in fake.requests):
            assert time.monotonic() < deadline, "the model was not called before the commit"
            await asyncio.sleep(0.01)
        committed.set_exception(RuntimeError("the turn's transaction failed"))
        await runner.drain()
        await gateway.aclose()
        return b"".join(stream.events)

    started = time.monotonic()
    events = asyncio.run(main())
    assert time.monotonic() - started < 2.5  # cancelled, not waited for (the model takes 3 s)
    assert events.startswith(b"event: turn") and b"event: end" in events
    assert b"event: done" not in events and b"event: delta" not in events
    time.sleep(2 * DEFER_S)
    with sessions() as session:
        logged, total = list_completions(session, org.id, CompletionFilter(tags=["doomed:turn"]))
    assert total == 0 and logged == []


def test_the_same_prompt_sent_four_times_at_once_makes_one_turn(chat, live_server):
    """A double (quadruple) click: one turn is stored and streamed; the other sends get a
    clear 4xx, and their model calls, if they had started, leave nothing behind."""
    from concurrent.futures import ThreadPoolExecutor

    _, aid = start(chat, tag(source_data=ids_text(chat.models)))
    headers = chat.h("c1")

    def send(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            answer = client.post(f"/api/v1/assignments/{aid}/turns", headers=headers,
                                 json={"prompt": "only once, please"})  # fmt: skip
            return answer.status_code, answer.text

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    streamed = [text for status, text in answers if status == 200]
    refused = [(status, text) for status, text in answers if status != 200]
    assert len(streamed) == 1, answers
    assert "event: end" in streamed[0] and "event: done" in streamed[0]
    assert all(400 <= status < 500 for status, _ in refused), refused
    state = chat.client.get(f"/api/v1/assignments/{aid}", headers=headers).json()
    assert [t["prompt"] for t in state["turns"]] == ["only once, please"]
    assert all(r["state"] == "done" for r in state["turns"][0]["responses"])
