"""A full job through the API: CSV → chats with 3 models → QA → results (schema-valid)."""

from __future__ import annotations

import csv
import io

from chathelp import GOOD, tag
from jsonschema import Draft202012Validator

from plaudit.chat.results import results_schema


def test_full_job_three_models_qa_and_results(chat):
    ids = chat.models
    cml = "<h1>Chat</h1>" + tag(label="Chat", name="annotation",
                                source_data="[" + ",".join(map(str, ids)) + "]",
                                validates="required", enhanced="true")  # fmt: skip
    job_id = chat.job(cml, "topic\nweather\npacking\ncamping\n")
    validator = Draft202012Validator(results_schema())
    for who in ("ann", "bob"):
        state = chat.next(job_id, who)
        aid = state["assignment"]["id"]
        assert state["turns"] == [] and state["limits"]["can_send"]
        events = chat.send(aid, who, "hi there")
        kinds = [e for e, _ in events]
        assert kinds[0] == "turn" and kinds[-1] == "end"
        labels = [r["label"] for r in events[0][1]["responses"]]
        assert labels == ["Response A", "Response B", "Response C"]
        assert sorted(d["label"] for e, d in events if e == "done") == labels
        state = chat.state(aid, who)
        assert all("model" not in str(k) for r in state["turns"][0]["responses"] for k in r)
        # selection needs answers for every response first
        chat.select(aid, who, 0, label="Response B", confidence="better", status=409)
        state = chat.answer_all(aid, who, 0)
        chat.select(aid, who, 0, label="Response B", status=422)  # enhanced: confidence needed
        state = chat.select(aid, who, 0, label="Response B", confidence="better")
        assert state["turn"]["selection"]["label"] == "Response B"
        chat.submit(aid, who)
        again = chat.next(job_id, who)["assignment"]  # never the same unit twice
        assert again["unit_id"] != state["assignment"]["unit_id"]
        chat.call("POST", again["id"], who, "/abandon")
    status = chat.client.get(f"/api/v1/jobs/{job_id}/status", headers=chat.h()).json()
    assert status["judgments"] == 2 and status["slots"]["done"] == 2
    assert chat.client.post(f"/api/v1/jobs/{job_id}/finish", headers=chat.h()).status_code == 200

    records = chat.results(job_id)
    assert len(records) == 2
    for record in records:
        result = record["annotation"]
        assert not list(validator.iter_errors(result))
        turn = result["annotation"]["chat"]["0"]
        assert turn["prompt"] == "hi there" and turn["enableFeedback"] is True
        assert sorted(c["modelId"] for c in turn["completion"]) == sorted(ids)
        selected = [c for c in turn["completion"] if c["selection"]]
        assert len(selected) == 1 and selected[0]["confidence"] == "better"
        assert set(turn["feedback"]) == {str(i) for i in ids}
        entry = {e["name"]: e for e in turn["feedback"][str(ids[0])]}
        assert entry["is_this_response_factually_correct"]["answer"] == {"values": "yes"}
        assert entry["is_this_response_factually_correct"]["type"] == "Multiple Choice"
        assert entry["quality"]["type"] == "Rating Scale"
        assert result["annotation"]["model"] == "[" + ",".join(map(str, ids)) + "]"
        assert record["chat_0_prompt"] == "hi there"
        assert record["chat_0_selected_model"] == selected[0]["modelId"]
        assert record[f"chat_0_model_{ids[0]}_quality"] == 4
        assert record["chat_0_confidence"] == "better"
    rows = list(csv.DictReader(io.StringIO(chat.results(job_id, "csv"))))
    assert len(rows) == 2 and rows[0]["topic"] in ("weather", "packing")
    assert rows[0]["chat_0_prompt"] == "hi there"

    qa = chat.client.post(f"/api/v1/jobs/{job_id}/qa", headers=chat.h(),
                          json={"allow_continue": True}).json()  # fmt: skip
    assert qa["kind"] == "qa" and qa["qa_of"] == job_id and qa["units"] == 2
    chat.launch(qa["id"])
    state = chat.next(qa["id"], "qa-reviewer")
    aid = state["assignment"]["id"]
    review = state["turns"][0]
    assert review["origin"] == "review" and review["greyed"] and review["prompt"] == "hi there"
    assert review["selection"]["label"] is not None  # show-feedback-answers defaults to true
    assert review["responses"][0]["prior_answers"] == GOOD
    chat.submit(aid, "qa-reviewer", status=409)  # QA feedback on every response is required
    chat.answer_all(aid, "qa-reviewer", 0)
    events = chat.send(aid, "qa-reviewer", "and tomorrow?")  # allow-continue
    assert events[-1][0] == "end"
    chat.answer_all(aid, "qa-reviewer", 1)
    chat.select(aid, "qa-reviewer", 1, label="Response A", confidence="negligible")
    chat.submit(aid, "qa-reviewer")
    chat.client.post(f"/api/v1/jobs/{qa['id']}/finish", headers=chat.h())
    qa_records = chat.results(qa["id"])
    assert len(qa_records) == 1
    qa_result = qa_records[0]["annotation"]
    assert not list(validator.iter_errors(qa_result))
    assert list(qa_result["annotation"]["chat"]) == ["0", "1"]
    assert qa_result["annotation"]["chat"]["0"]["review"] is True
