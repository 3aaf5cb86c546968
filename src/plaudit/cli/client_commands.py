"""Client-side command groups: they talk to a plaudit server over HTTP (``plaudit.cli.http``).

log10's command tree and flags, plus plaudit's own: ``feedback-task``, ``feedback``,
``completions`` and ``inbox``.
"""

from __future__ import annotations

import typer

from plaudit.cli.completions import completions_app
from plaudit.cli.feedback import feedback_app
from plaudit.cli.inbox import inbox_app
from plaudit.cli.tasks import tasks_app


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="feedback-task")
    app.add_typer(feedback_app, name="feedback")
    app.add_typer(completions_app, name="completions")
    app.add_typer(inbox_app, name="inbox")
