"""``plaudit jobs …``: run an AI Chat Feedback job end to end without the UI (over HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import typer

from plaudit.cli.http import client, error_message
from plaudit.cli.output import console, fail, print_json, print_table

jobs_app = typer.Typer(
    help="AI Chat Feedback jobs: CML + ontology + models, CSV units, launch, results.",
    no_args_is_help=True,
)
PATH = "/api/v1/jobs"
JsonFlag = typer.Option(False, "--json", help="Print the server's JSON instead of a table.")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read the {what} file {path}: {exc.strerror or exc}")


def _show(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    rows = [(k, job.get(k)) for k in ("id", "name", "kind", "state", "model_ids",
                                      "judgments_per_unit", "units", "qa_of")]  # fmt: skip
    print_table(f"Job {job['name']}", ["field", "value"], rows)


@jobs_app.command("create")
def create(
    cml: Path = typer.Option(..., "--cml", help="File with the <cml:ai_chat_feedback/> markup."),
    ontology: Path | None = typer.Option(None, "--ontology", help="JSON Schema file."),
    models: str | None = typer.Option(None, "--models", help="Model ids, e.g. 18,19."),
    name: str | None = typer.Option(None, "--name", help="Job name (default: the CML file's)."),
    instructions: Path | None = typer.Option(None, "--instructions", help="Markdown file."),
    judgments: int = typer.Option(1, "--judgments-per-unit", help="Judgments per unit."),
    kind: str = typer.Option("chat", "--kind", help="chat, or qa (units hold prior results)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the new job id."),
    as_json: bool = JsonFlag,
) -> None:
    """Create a draft job."""
    body: dict[str, Any] = {
        "name": name or cml.stem, "cml": _read(cml, "CML").decode("utf-8", "replace"),
        "judgments_per_unit": judgments, "kind": kind,
    }  # fmt: skip
    if ontology is not None:
        try:
            body["ontology"] = orjson.loads(_read(ontology, "ontology"))
        except orjson.JSONDecodeError as exc:
            fail(f"the ontology file {ontology} is not JSON: {exc}")
    if instructions is not None:
        body["instructions"] = _read(instructions, "instructions").decode("utf-8", "replace")
    if models:
        try:
            body["model_ids"] = [int(m) for m in models.replace(" ", "").split(",") if m]
        except ValueError:
            fail(f"--models must be comma-separated model ids, got {models!r}")
    with client() as c:
        job = c.post(PATH, body)
    if quiet:
        typer.echo(job["id"])
        return
    _show(job, as_json)


@jobs_app.command("upload-units")
def upload_units(
    job_id: str = typer.Argument(..., help="Job id."),
    csv_file: Path = typer.Argument(..., help="CSV: one row per conversation to collect."),
) -> None:
    """Upload units (all rows or none; a bad row is reported by line)."""
    if not csv_file.is_file():
        fail(f"no such CSV file: {csv_file}")
    with client(timeout=600) as c, csv_file.open("rb") as handle:
        try:
            response = c._client.post(
                f"{PATH}/{job_id}/units", content=handle, headers={"Content-Type": "text/csv"}
            )
        except httpx.HTTPError as exc:
            fail(f"upload to {c.url} failed: {exc or type(exc).__name__}")
    if response.status_code >= 400:
        fail(error_message(response))
    result = response.json()
    console.print(f"imported {result['imported']} unit(s); job has {result['units']}")


def _state_command(verb: str, doc: str) -> None:
    def command(
        job_id: str = typer.Argument(..., help="Job id."), as_json: bool = JsonFlag
    ) -> None:
        with client() as c:
            job = c.post(f"{PATH}/{job_id}/{verb}")
        if as_json:
            print_json(job)
        else:
            console.print(f"job {job['id']} is {job['state']}")

    command.__doc__ = doc
    jobs_app.command(verb)(command)


for _verb, _doc in (("launch", "Open the job to contributors."),
                    ("pause", "Stop handing out new units."),
                    ("resume", "Hand out units again."),
                    ("finish", "Close the job.")):  # fmt: skip
    _state_command(_verb, _doc)


@jobs_app.command("status")
def status(job_id: str = typer.Argument(..., help="Job id."), as_json: bool = JsonFlag) -> None:
    """Units, judgments and slots of a job."""
    with client() as c:
        result = c.get(f"{PATH}/{job_id}/status")
    if as_json:
        print_json(result)
        return
    slots = result["slots"]
    rows = [("state", result["state"]), ("units", result["units"]),
            ("judgments", f"{result['judgments']} / {result['judgments_expected']}"),
            ("open / claimed / done", f"{slots['open']} / {slots['claimed']} / {slots['done']}"),
            ("contributors", result["contributors"])]  # fmt: skip
    print_table(f"Job {job_id}", ["field", "value"], rows)


@jobs_app.command("list")
def list_jobs(as_json: bool = JsonFlag) -> None:
    """Jobs of your organization."""
    with client() as c:
        result = c.get(PATH)
    if as_json:
        print_json(result)
        return
    rows = [(j["id"], j["name"], j["kind"], j["state"], j["units"]) for j in result["data"]]
    print_table("Jobs", ["id", "name", "kind", "state", "units"], rows)


@jobs_app.command("results")
def results(
    job_id: str = typer.Argument(..., help="Job id."),
    output: Path = typer.Option(..., "--file", "-f", help="Where to write the results."),
    fmt: str = typer.Option("", "--format", help="jsonl or csv (default: from the file name)."),
) -> None:
    """Download every judgment (JSON Lines or CSV), streamed to a file."""
    chosen = fmt or ("csv" if output.suffix.lower() == ".csv" else "jsonl")
    if chosen not in ("jsonl", "csv"):
        fail(f"--format must be jsonl or csv, got {chosen!r}")
    written = 0
    with client(timeout=600) as c, c.stream(f"{PATH}/{job_id}/results", format=chosen) as resp:
        try:
            with output.open("wb") as handle:
                for chunk in resp.iter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    console.print(f"wrote {written} bytes of {chosen} to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
