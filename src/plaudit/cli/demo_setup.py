"""What ``plaudit demo`` does before serving: the demo organization, its data, the fake model.

Imported only when the demo runs, so the other commands start without SQLAlchemy or Alembic.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.cli.output import console, fail
from plaudit.config import get_settings
from plaudit.core import completions, tasks
from plaudit.core.orgs import CreatedOrg, create_organization
from plaudit.db.migrate import upgrade
from plaudit.db.models import Organization
from plaudit.db.session import make_engine, make_sessionmaker, session_scope
from plaudit.errors import PlauditError

DEMO_ORG = "Demo"
DEMO_SLUG = "demo"
DEMO_TAG = "demo"

RATING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rating": {"type": "integer", "minimum": 1, "maximum": 5, "title": "Overall quality"},
        "helpful": {"type": "boolean", "title": "Did it answer the question?"},
        "emoji": {"type": "string", "enum": ["😀", "😬", "😐", "🙁", "😫"]},
    },
    "required": ["rating"],
}

DEMO_CHATS = [
    ("What is the capital of France?", "The capital of France is Paris.", "geography"),
    (
        "Write a haiku about autumn.",
        "Crisp leaves drift and fall,\nred and gold on quiet paths,\nthe year breathes slower.",
        "poetry",
    ),  # fmt: skip
    ("How many legs does a spider have?", "Spiders have six legs.", "trivia"),
    ("Translate 'good morning' into Spanish.", "Buenos días.", "translation"),
    ("Summarise: the meeting moved to Tuesday at 3pm.", "Meeting: Tuesday, 3 pm.", "summary"),
]


def seed_demo_data(session: Session, org_id: str) -> str:
    """A few tagged completions and a task whose selector matches them; returns the task id."""
    for index, (prompt, reply, topic) in enumerate(DEMO_CHATS, start=1):
        completions.upsert_completion(
            session,
            org_id,
            None,
            {
                "status": "finished",
                "kind": "chat",
                "model": "fake-neutral",
                "provider": "fake",
                "request": {"model": "fake-neutral",
                            "messages": [{"role": "user", "content": prompt}]},
                "response": {"object": "chat.completion", "model": "fake-neutral",
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": reply}}]},
                "usage": {"prompt_tokens": 8 + index, "completion_tokens": 6 + index,
                          "total_tokens": 14 + 2 * index},
                "latency_ms": 120.0 + 15 * index,
                "tags": [DEMO_TAG, f"topic:{topic}"],
            },
        )  # fmt: skip
    task = tasks.create_task(
        session,
        org_id,
        name="Rate the reply",
        json_schema=RATING_SCHEMA,
        completion_tags_selector=[DEMO_TAG],
        instruction="Read the question and the reply. Is it correct and helpful?",
    )
    return task.id


def _ensure_demo_org(session: Session) -> tuple[Organization, CreatedOrg | None, str | None]:
    existing = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    if existing is not None:
        return existing, None, None
    created = create_organization(session, DEMO_ORG)
    return created.org, created, seed_demo_data(session, created.org.id)


def _start_fake_model(port: int) -> Any:
    from plaudit.gateway.fake import FakeModelServer

    try:
        return FakeModelServer(port=port).start()
    except OSError:  # the port is taken (another demo, a fake-model run): any free one will do
        return FakeModelServer(port=0).start()


def _register_demo_models(session: Session, org_id: str, fake_url: str) -> int | None:
    """Demo models pointing at the fake model; None when the gateway does not provide them."""
    try:
        module = importlib.import_module("plaudit.gateway.demo")
    except ModuleNotFoundError as exc:
        if exc.name not in ("plaudit.gateway.demo", "plaudit.gateway"):
            raise
        return None
    register = getattr(module, "register_demo_models", None)
    if register is None:
        return None
    return len(register(session, org_id, fake_url))


def _print_first_run(created: CreatedOrg, url: str, task_id: str | None) -> None:
    key = created.api_key
    lines = [
        "[bold]Demo organization created. These are shown ONCE — save them now:[/bold]",
        f"  Web UI / API   {url}/",
        f"  Login          [bold]{created.admin_email}[/bold]",
        f"  Password       [bold]{created.admin_password}[/bold]",
        f"  API key        [bold]{key}[/bold]",
        f"  Org id         {created.org.id}",
        f"  Demo task      {task_id}  (Rate the reply; completions tagged '{DEMO_TAG}')",
        "",
        "In another terminal:",
        f"  export PLAUDIT_URL={url}",
        f"  export PLAUDIT_API_KEY={key}",
        f"  .venv/bin/plaudit completions list --tags {DEMO_TAG}",
        "",
        f"log10 client: export LOG10_URL={url} LOG10_TOKEN=$PLAUDIT_API_KEY "
        f"LOG10_ORG_ID={created.org.id}",
    ]
    console.rule("[bold]plaudit demo[/bold]")
    for line in lines:  # soft_wrap: a key or id is never broken across lines
        console.print(line, highlight=False, soft_wrap=True)
    console.rule()


def _print_later_run(org: Organization, url: str) -> None:
    console.print(
        f"The demo organization '{org.slug}' exists already (id {org.id}); its login and key "
        f"were printed on the first run.\nNeed a new API key?  "
        f"[bold].venv/bin/plaudit keys create --org {DEMO_SLUG}[/bold]\n"
        f"Then: export PLAUDIT_URL={url} PLAUDIT_API_KEY=<the new key>",
        highlight=False,
        soft_wrap=True,
    )


def prepare(host: str, port: int, fake_model_port: int) -> Any:
    """Migrate, create the org on first run, start the fake model; returns the running fake."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    fake = None
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine, write=True)
        with session_scope(sessions) as session:
            org, created, task_id = _ensure_demo_org(session)
        fake = _start_fake_model(fake_model_port)
        with session_scope(sessions) as session:
            models = _register_demo_models(session, org.id, fake.url)
        url = f"http://{host}:{port}"
        if created is not None:
            _print_first_run(created, url, task_id)
        else:
            _print_later_run(org, url)
        registered = f"; {models} demo models registered" if models is not None else ""
        console.print(
            f"Fake model server: {fake.url} (OpenAI base URL {fake.openai_base_url}){registered}",
            highlight=False,
            soft_wrap=True,
        )
    except PlauditError as exc:
        if fake is not None:
            fake.stop()
        fail(exc.message)
    finally:
        engine.dispose()
    return fake
