"""Routes the unmodified log10-io client and CLI call (see reference/log10-client-api.md)."""

from plaudit.api.routes.log10 import completions, feedback, tasks

routers = [tasks.router, feedback.router, completions.router]
