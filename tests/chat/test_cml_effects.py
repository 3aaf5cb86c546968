"""Every <cml:ai_chat_feedback> attribute, shown to take effect through the HTTP API."""

from __future__ import annotations

import pytest
from chathelp import finish_turn, ids_text, model_requests, tag


def start(chat, cml, csv_text="topic\nx\n", who="c1", **extra):
    job_id = chat.job(cml, csv_text, **extra)
    state = chat.next(job_id, who)
    return job_id, state["assignment"]["id"], state


def test_label_and_name(chat):
    job_id, aid, state = start(chat, tag(source_data=str(chat.models[0]), label="Rate it",
                                         name="chat_out"))  # fmt: skip
    assert state["job"]["label"] == "Rate it"
    chat.send(aid, "c1", "hello")
    chat.answer_all(aid, "c1", 0)
    chat.submit(aid, "c1")
    record = chat.results(job_id)[0]
    assert "chat_out" in record and "annotation" not in record
    assert record["chat_out"]["annotation"]["chat"]["0"]["completion"][0]["selection"] is True


def test_source_data_single_id_and_column(chat):
    one = chat.models[1]
    _, aid, _ = start(chat, tag(source_data=str(one)))
    events = chat.send(aid, "c1", "single model")
    assert [d["label"] for e, d in events if e == "done"] == ["Response A"]
    csv_text = f'topic,models\na,"{ids_text(chat.models[:2])}"\nb,{chat.models[2]}\n'
    job_id = chat.job(tag(source_data="{{models}}"), csv_text)
    shown = []
    for who in ("p", "q"):
        aid = chat.next(job_id, who)["assignment"]["id"]
        shown.append(len(chat.send(aid, who, "which models?")[0][1]["responses"]))
        finish_turn(chat, aid, who, 0)
        chat.submit(aid, who)
    assert shown == [2, 1]
    models = sorted(r["annotation"]["annotation"]["model"] for r in chat.results(job_id))
    assert models == sorted([ids_text(chat.models[:2]), f"[{chat.models[2]}]"])


def test_source_data_errors_through_the_api(chat):
    error = chat.create(tag(source_data="[999]"), status=422)["error"]
    assert error["path"] == "source-data" and "999" in error["message"]
    job_id = chat.create(tag(source_data="{{models}}"))["id"]
    bad = chat.upload(job_id, "topic\nx\n", status=422)["error"]
    assert bad["path"] == "source-data" and "models" in bad["message"]
    bad = chat.upload(job_id, f"models\n{chat.models[0]}\n555\n", status=422)["error"]
    assert bad["message"].startswith("line 3:") and "555" in bad["message"]


def test_preamble_reaches_the_model_with_columns_resolved(chat, fake):
    cml = tag(source_data=ids_text(chat.models[:1]), preamble="You help {{persona}}.")
    _, aid, _ = start(chat, cml, "persona\nsailors\n")
    events = chat.send(aid, "c1", "preamble check")
    done = [d for e, d in events if e == "done"][0]
    assert "(context: You help sailors.)" in done["text"]
    sent = model_requests(fake, "preamble check")[0]["messages"]
    assert sent[0] == {"role": "system", "content": "You help sailors."}


def test_preamble_reaches_http_template_models_as_dynamic_attrs(chat, engine, org, fake):
    from plaudit.db.session import make_sessionmaker, session_scope
    from plaudit.gateway.registry import create_model

    with session_scope(make_sessionmaker(engine, write=True)) as session:
        model = create_model(
            session, org.id, name="templated", adapter="http",
            endpoint=fake.openai_base_url + "/chat/completions", max_retries=0,
            input_template={"model": "fake-echo", "messages": "${messages}",
                            "preamble_override": "${dynamic_attrs.preamble}"},
            output_path="choices[0].message.content",
        ).id  # fmt: skip
    _, aid, _ = start(chat, tag(source_data=str(model), preamble="Be brief"))
    chat.send(aid, "c1", "template check")
    body = model_requests(fake, "template check")[0]
    assert body["preamble_override"] == "Be brief"


def test_live_preamble_asked_first_then_sent(chat, fake):
    cml = tag(source_data=str(chat.models[0]), live_preamble="[true,'Who is the customer?']")
    _, aid, state = start(chat, cml)
    assert state["live_preamble"] == {"required": True, "instruction": "Who is the customer?",
                                      "text": None}  # fmt: skip
    assert chat.send(aid, "c1", "hello", status=409)["error"]["message"].startswith(
        "provide the live preamble first"
    )
    chat.call("PUT", aid, "c1", "/live-preamble", {"text": "A pilot <script>x</script>"})
    chat.send(aid, "c1", "live check")
    assert model_requests(fake, "live check")[0]["messages"][0] == {
        "role": "system", "content": "A pilot"}  # fmt: skip
    chat.call("PUT", aid, "c1", "/live-preamble", {"text": "too late"}, status=409)
    default = tag(source_data=str(chat.models[0]), live_preamble="[true]")
    _, _, state = start(chat, default, who="c2")
    assert state["live_preamble"]["instruction"] == (
        "Please provide the model with the necessary context for the conversation."
    )


REVIEW = (
    '{"ableToAnnotate": true, "annotation": {"chat": {"0": {"id": "0", "prompt": "What is up?",'
    ' "completion": [{"modelId": MID, "completion": "Not much.", "selection": true}],'
    ' "feedback": {}, "enableFeedback": true}}, "model": "[MID]"}}'
)


def test_review_data_history_is_greyed_and_seen_by_the_model(chat, fake):
    mid = chat.models[0]
    review = REVIEW.replace("MID", str(mid)).replace('"', '""')
    cml = tag(source_data=str(mid), review_data="history")
    _, aid, state = start(chat, cml, f'history\n"{review}"\n')
    prior = state["turns"][0]
    assert prior["origin"] == "review" and prior["greyed"] and prior["prompt"] == "What is up?"
    assert prior["responses"][0]["text"] == "Not much."
    chat.send(aid, "c1", "history check")
    messages = model_requests(fake, "history check")[0]["messages"]
    assert messages[:2] == [{"role": "user", "content": "What is up?"},
                            {"role": "assistant", "content": "Not much."}]  # fmt: skip
    # the history needs no answers outside QA: answer the new turn only and submit
    chat.answer_all(aid, "c1", 1)
    chat.submit(aid, "c1")
    bad = chat.create(cml)["id"]
    error = chat.upload(bad, 'history\n"{not json"\n', status=422)["error"]
    assert error["message"].startswith("line 2:") and "review-data" in error["message"]


def test_seed_prompt_is_fixed(chat, fake):
    cml = tag(source_data=str(chat.models[0]), seed="opener")
    _, aid, state = start(chat, cml, "opener\nWhat should I pack?\n")
    assert state["input"]["seed"] == "What should I pack?"
    assert state["input"]["prompt_editable"] is False
    error = chat.send(aid, "c1", "something else", status=422)["error"]
    assert error["path"] == "prompt" and "seed" in error["message"]
    chat.send(aid, "c1", None)  # the seed is sent as is
    assert chat.state(aid, "c1")["turns"][0]["prompt"] == "What should I pack?"
    chat.answer_all(aid, "c1", 0)
    chat.send(aid, "c1", "and a free second prompt")  # only the first is fixed


def test_min_turns_blocks_submit(chat):
    _, aid, _ = start(chat, tag(source_data=str(chat.models[0]), min_turns="2"))
    chat.send(aid, "c1", "one")
    chat.answer_all(aid, "c1", 0)
    error = chat.submit(aid, "c1", status=422)["error"]
    assert error["path"] == "min-turns" and "at least 2" in error["message"]
    assert chat.state(aid, "c1")["limits"]["can_submit"] is False
    chat.send(aid, "c1", "two")
    chat.answer_all(aid, "c1", 1)
    chat.submit(aid, "c1")


def test_max_turns_blocks_more_turns(chat):
    _, aid, _ = start(chat, tag(source_data=str(chat.models[0]), max_turns="1"))
    chat.send(aid, "c1", "one")
    chat.answer_all(aid, "c1", 0)
    error = chat.send(aid, "c1", "two", status=409)["error"]
    assert "max-turns is 1" in error["message"]
    assert chat.state(aid, "c1")["limits"]["turns_left"] == 0


def test_custom_response_replaces_the_selected_one(chat, fake):
    off = tag(source_data=ids_text(chat.models[:2]))
    _, aid, _ = start(chat, off)
    chat.send(aid, "c1", "x")
    chat.call("PUT", aid, "c1", "/turns/0/custom-response", {"text": "mine"}, status=409)
    on = tag(source_data=ids_text(chat.models[:2]), custom_response="true")
    job_id, aid, _ = start(chat, on, who="c2")
    chat.send(aid, "c2", "first custom")
    finish_turn(chat, aid, "c2", 0)
    chat.call("PUT", aid, "c2", "/turns/0/custom-response", {"text": "My <b>better</b> answer"})
    chat.send(aid, "c2", "second custom")
    messages = model_requests(fake, "second custom")[0]["messages"]
    assert messages[1] == {"role": "assistant", "content": "My <b>better</b> answer"}
    finish_turn(chat, aid, "c2", 1)
    chat.submit(aid, "c2")
    record = chat.results(job_id)[0]
    assert record["annotation"]["annotation"]["chat"]["0"]["customResponse"] == (
        "My <b>better</b> answer"
    )
    assert record["chat_0_custom_response"] == "My <b>better</b> answer"


def test_rich_prompts_are_sanitised_plain_prompts_kept(chat):
    rich = tag(source_data=str(chat.models[0]), rich="true")
    _, aid, state = start(chat, rich)
    assert state["input"]["rich"] is True
    chat.send(aid, "c1", "<b>bold</b><script>alert(1)</script>")
    assert chat.state(aid, "c1")["turns"][0]["prompt"] == "<b>bold</b>"
    _, aid, state = start(chat, tag(source_data=str(chat.models[0])), who="c2")
    assert state["input"]["rich"] is False
    chat.send(aid, "c2", "a < b and <b>c</b>")
    assert chat.state(aid, "c2")["turns"][0]["prompt"] == "a < b and <b>c</b>"


def test_expanded_data_on_off_and_with_num_responses(chat):
    for flag, expect in (("true", True), ("false", False)):
        cml = tag(source_data=ids_text(chat.models[:2]), expanded_data=flag)
        job_id, aid, _ = start(chat, cml, who=f"e{flag}")
        chat.send(aid, f"e{flag}", "expand?")
        finish_turn(chat, aid, f"e{flag}", 0)
        chat.submit(aid, f"e{flag}")
        record = chat.results(job_id)[0]
        assert ("chat_0_prompt" in record) is expect
        assert (f"chat_0_model_{chat.models[0]}_completion" in record) is expect
    job = chat.create(tag(source_data=ids_text(chat.models), num_responses="2"))
    assert job["config"]["expanded_data"] is False
    error = chat.create(tag(source_data=ids_text(chat.models), num_responses="2",
                            expanded_data="true"), status=422)["error"]  # fmt: skip
    assert error["path"] == "expanded-data"


def test_enhanced_confidence(chat):
    plain = tag(source_data=ids_text(chat.models[:2]))
    _, aid, state = start(chat, plain)
    assert state["input"]["confidence_options"] == []
    chat.send(aid, "c1", "x")
    chat.answer_all(aid, "c1", 0)
    assert chat.select(aid, "c1", 0, label="Response A", confidence="better",
                       status=422)["error"]["path"] == "confidence"  # fmt: skip
    enhanced = tag(source_data=ids_text(chat.models[:2]), enhanced="true")
    _, aid, state = start(chat, enhanced, who="c2")
    assert state["input"]["confidence_options"] == [
        "much-better", "better", "slightly-better", "negligible"]  # fmt: skip
    chat.send(aid, "c2", "x")
    chat.answer_all(aid, "c2", 0)
    assert chat.select(aid, "c2", 0, label="Response A", status=422)["error"]["path"] == (
        "confidence"
    )
    chat.select(aid, "c2", 0, label="Response A", confidence="great", status=422)
    state = chat.select(aid, "c2", 0, label="Response A", confidence="much-better")
    assert state["turn"]["selection"]["confidence"] == "much-better"


def test_num_responses_random_subset_recorded_per_turn(chat):
    cml = tag(source_data=ids_text(chat.models), num_responses="2")
    job_id, aid, _ = start(chat, cml)
    for turn in range(4):
        events = chat.send(aid, "c1", f"round {turn}")
        assert len(events[0][1]["responses"]) == 2
        finish_turn(chat, aid, "c1", turn)
    chat.submit(aid, "c1")
    result = chat.results(job_id)[0]["annotation"]["annotation"]
    shown = [sorted(c["modelId"] for c in t["completion"]) for t in result["chat"].values()]
    assert all(len(s) == 2 and set(s) <= set(chat.models) for s in shown)
    assert all(set(t["feedback"]) == {str(m) for m in s}
               for t, s in zip(result["chat"].values(), shown, strict=True))  # fmt: skip


@pytest.mark.parametrize("show", ["true", "false"])
def test_qa_show_feedback_answers(chat, show):
    qa_id = _qa_job(chat, show_feedback_answers=show)
    state = chat.next(qa_id, "rev")
    review = state["turns"][0]
    if show == "true":
        assert review["selection"]["label"] == "Response A"
        assert review["responses"][0]["prior_answers"] == {"verdict": "good"}
    else:
        assert review["selection"] is None
        assert "prior_answers" not in review["responses"][0]
        assert "selected" not in review["responses"][0]


def _qa_job(chat, **attrs):
    mid = chat.models[0]
    prior = (
        '{"annotation": {"chat": {"0": {"id": "0", "prompt": "Hi", "completion": [{"modelId": '
        f'{mid}, "completion": "Hello", "selection": true}}], "feedback": {{"{mid}": '
        '[{"questionId": "q", "type": "Multiple Choice", "name": "verdict", "answer": '
        '{"values": "good"}}]}, "enableFeedback": true, "customResponse": "Hey there"}}}}'
    ).replace('"', '""')
    ontology = {"type": "object", "properties": {"verdict": {"type": "string",
                "enum": ["good", "bad"]}}, "required": ["verdict"]}  # fmt: skip
    cml = tag(source_data=str(mid), review_data="prior", **attrs)
    return chat.job(cml, f'prior\n"{prior}"\n', ontology=ontology, kind="qa")


def test_qa_allow_continue(chat):
    blocked = _qa_job(chat)
    aid = chat.next(blocked, "rev")["assignment"]["id"]
    assert "allow-continue" in chat.send(aid, "rev", "more?", status=409)["error"]["message"]
    assert chat.state(aid, "rev")["limits"]["can_send"] is False
    chat.answer(aid, "rev", 0, "Response A", {"verdict": "bad"})
    chat.submit(aid, "rev")
    allowed = _qa_job(chat, allow_continue="true")
    aid = chat.next(allowed, "rev")["assignment"]["id"]
    chat.answer(aid, "rev", 0, "Response A", {"verdict": "bad"})
    assert chat.send(aid, "rev", "more?")[-1][0] == "end"


def test_qa_allow_custom_response_edit(chat, fake):
    blocked = _qa_job(chat, allow_continue="true")
    aid = chat.next(blocked, "rev")["assignment"]["id"]
    chat.call("PUT", aid, "rev", "/turns/0/custom-response", {"text": "edited"}, status=409)
    allowed = _qa_job(chat, allow_continue="true", allow_custom_response_edit="true")
    aid = chat.next(allowed, "rev2")["assignment"]["id"]
    state = chat.call("PUT", aid, "rev2", "/turns/0/custom-response", {"text": "Hey, edited"})
    assert state["turn"]["custom_response"] == "Hey, edited"
    assert state["turn"]["original_custom_response"] == "Hey there"
    chat.answer(aid, "rev2", 0, "Response A", {"verdict": "good"})
    chat.send(aid, "rev2", "after the edit")
    messages = model_requests(fake, "after the edit")[0]["messages"]
    assert messages[1] == {"role": "assistant", "content": "Hey, edited"}


def test_validates_required(chat):
    _, aid, _ = start(chat, tag(source_data=str(chat.models[0]), validates="required"))
    assert "at least one message" in chat.submit(aid, "c1", status=409)["error"]["message"]
    _, aid, _ = start(chat, tag(source_data=str(chat.models[0])), who="c2")
    chat.submit(aid, "c2")  # not required: an empty chat may be submitted


def test_disable_paste_and_prompt_validators(chat):
    cml = tag(source_data=str(chat.models[0]), disable_paste="true", regex="\\?$",
              min_length="5", max_length="20")  # fmt: skip
    _, aid, state = start(chat, cml)
    assert state["input"]["disable_paste"] is True
    assert (state["input"]["regex"], state["input"]["min_length"]) == ("\\?$", 5)
    assert "min-length" in chat.send(aid, "c1", "ok?", status=422)["error"]["message"]
    assert "max-length" in chat.send(aid, "c1", "x" * 30 + "?", status=422)["error"]["message"]
    assert "regex" in chat.send(aid, "c1", "no question", status=422)["error"]["message"]
    assert chat.send(aid, "c1", "is it ok?")[-1][0] == "end"
    assert chat.state(aid, "c1")["turns"][0]["prompt"] == "is it ok?"
