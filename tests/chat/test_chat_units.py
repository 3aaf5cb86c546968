"""CSV units: encodings, quoting, all-or-nothing with line numbers, 100,000 rows, multipart."""

from __future__ import annotations

import time

from chathelp import ids_text, tag


def job_with(chat, **attrs):
    attrs.setdefault("source_data", ids_text(chat.models[:1]))
    return chat.create(tag(**attrs))["id"]


def units_of(chat, job_id):
    return chat.client.get(f"/api/v1/jobs/{job_id}", headers=chat.h()).json()["units"]


def test_bom_quoted_newlines_and_crlf(chat):
    job_id = job_with(chat, seed="opener")
    body = '\ufeffopener,notes\r\n"Hello, ""world""\nsecond line",ä ✓\r\nplain,x\r\n'.encode()
    imported = chat.upload(job_id, body)
    assert imported["imported"] == 2 and imported["columns"] == ["opener", "notes"]
    chat.launch(job_id)
    state = chat.next(job_id, "c")
    assert state["input"]["seed"] == 'Hello, "world"\nsecond line'


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(chat):
    job_id = job_with(chat)
    cases = [
        (b"a,b\n1,2\n3\n", "line 3: 1 fields, but the header has 2"),
        (b'a,b\n1,2\n"x\ny",2,3\n', "line 4: 3 fields"),  # the quoted field spans lines 3-4
        (b"a\nok\n\xff\xfe\n", "line 3: not valid UTF-8"),
        (b"a,a\n1,2\n", "line 1: column 'a' appears twice"),
        (b"", "the CSV is empty"),
        (b"a\n", "no rows"),
    ]
    for body, message in cases:
        error = chat.upload(job_id, body, status=422)["error"]
        assert message in error["message"], (body, error)
    assert units_of(chat, job_id) == 0
    model_column = job_with(chat, source_data="{{m}}")
    error = chat.upload(model_column, f"m\n{chat.models[0]}\nabc\n", status=422)["error"]
    assert error["message"].startswith("line 3: column 'm'")
    assert units_of(chat, model_column) == 0


def test_header_must_hold_referenced_columns(chat):
    job_id = job_with(chat, seed="s", preamble="For {{who}}")
    error = chat.upload(job_id, "s\nhello\n", status=422)["error"]
    assert error["path"] == "preamble" and "'who'" in error["message"]
    error = chat.upload(job_id, "who\nme\n", status=422)["error"]
    assert error["path"] == "seed"
    assert chat.upload(job_id, "s,who\nhi,me\n")["imported"] == 1


def test_multipart_upload_and_later_uploads_join_a_running_job(chat):
    job_id = job_with(chat)
    response = chat.client.post(
        f"/api/v1/jobs/{job_id}/units", headers=chat.h(),
        files={"file": ("units.csv", b"topic\na\nb\n", "text/csv")},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    chat.launch(job_id)
    chat.upload(job_id, "topic\nc\n")
    seen = {chat.next(job_id, f"w{i}")["assignment"]["unit_id"] for i in range(3)}
    assert len(seen) == 3
    assert chat.next(job_id, "w9")["assignment"] is None


def test_one_hundred_thousand_rows_import_quickly(chat):
    job_id = job_with(chat, seed="prompt")
    rows = "".join(f'{i},"Question number {i}, please answer"\n' for i in range(100_000))
    started = time.perf_counter()
    imported = chat.upload(job_id, "n,prompt\n" + rows)
    elapsed = time.perf_counter() - started
    assert imported["imported"] == 100_000
    assert elapsed < 20, f"100,000 rows took {elapsed:.1f}s"
    started = time.perf_counter()
    chat.launch(job_id)  # one open slot per unit, inserted in one statement
    assert time.perf_counter() - started < 15
    status = chat.client.get(f"/api/v1/jobs/{job_id}/status", headers=chat.h()).json()
    assert status["slots"]["open"] == 100_000
