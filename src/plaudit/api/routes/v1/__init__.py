"""plaudit's own REST API under /api/v1. Order matters: fixed paths before `{id}` paths."""

from plaudit.api.routes.v1 import completions, contributor, feedback, inbox, jobs, tasks

routers = [
    completions.router,
    tasks.router,
    inbox.router,
    feedback.router,
    jobs.router,
    contributor.router,
]
