"""`plaudit jobs …` end to end against a real server."""

from __future__ import annotations

import httpx
import orjson
from chathelp import GOOD, ONTOLOGY, parse_sse
from typer.testing import CliRunner

from plaudit.cli.main import app, normalise_argv


def run(args, env):
    result = CliRunner().invoke(app, normalise_argv(args), env=env)
    return result


def test_jobs_cli_create_upload_launch_status_results(chat, live_server, tmp_path):
    env = {"PLAUDIT_URL": live_server.url, "PLAUDIT_API_KEY": chat.org.api_key}
    ids = chat.models[:2]
    (tmp_path / "job.cml").write_text(
        '<p>Talk</p><cml:ai_chat_feedback name="annotation" source-data="{{m}}" />'
    )
    (tmp_path / "ontology.json").write_bytes(orjson.dumps(ONTOLOGY))
    (tmp_path / "units.csv").write_text(f'm\n"[{ids[0]},{ids[1]}]"\n')
    (tmp_path / "bad.csv").write_text("m\n999\n")
    models = ",".join(map(str, ids))
    created = run(["jobs", "create", "--cml", str(tmp_path / "job.cml"), "--ontology",
                   str(tmp_path / "ontology.json"), "--models", models, "--name", "cli job",
                   "-q"], env)  # fmt: skip
    assert created.exit_code == 0, created.output
    job_id = created.output.strip()
    bad = run(["jobs", "upload-units", job_id, str(tmp_path / "bad.csv")], env)
    assert bad.exit_code == 1 and "line 2" in bad.output and "999" in bad.output
    uploaded = run(["jobs", "upload-units", job_id, str(tmp_path / "units.csv")], env)
    assert uploaded.exit_code == 0 and "imported 1 unit" in uploaded.output
    assert run(["jobs", "launch", job_id], env).output.strip().endswith("is running")
    again = run(["jobs", "launch", job_id], env)
    assert again.exit_code == 1 and "409" in again.output

    headers = {**chat.h("cli-contributor")}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as api:
        aid = api.post(f"/api/v1/jobs/{job_id}/next").json()["assignment"]["id"]
        events = parse_sse(api.post(f"/api/v1/assignments/{aid}/turns",
                                    json={"prompt": "hello cli"}).text)  # fmt: skip
        labels = [d["label"] for e, d in events if e == "done"]
        for label in labels:
            api.put(f"/api/v1/assignments/{aid}/turns/0/answers",
                    json={"label": label, "answers": GOOD}).raise_for_status()  # fmt: skip
        api.post(f"/api/v1/assignments/{aid}/turns/0/select",
                 json={"label": labels[0]}).raise_for_status()  # fmt: skip
        api.post(f"/api/v1/assignments/{aid}/submit").raise_for_status()

    status = run(["jobs", "status", job_id, "--json"], env)
    assert orjson.loads(status.output)["judgments"] == 1
    out = tmp_path / "out.jsonl"
    downloaded = run(["jobs", "results", job_id, "-f", str(out)], env)
    assert downloaded.exit_code == 0, downloaded.output
    record = orjson.loads(out.read_bytes().splitlines()[0])
    assert record["annotation"]["annotation"]["chat"]["0"]["prompt"] == "hello cli"
    as_csv = tmp_path / "out.csv"
    assert run(["jobs", "results", job_id, "-f", str(as_csv)], env).exit_code == 0
    assert as_csv.read_text().splitlines()[0].startswith("judgment_id,")
    assert run(["jobs", "finish", job_id], env).exit_code == 0
