"""plaudit's own REST API under /api/v1. Order matters: fixed paths before `{id}` paths."""

from plaudit.api.routes.v1 import (
    completions,
    contributor,
    feedback,
    inbox,
    ingest,
    jobs,
    models,
    tasks,
)

routers = [
    ingest.router,  # /completions/batch before /completions/{id}
    completions.router,
    tasks.router,
    inbox.router,
    feedback.router,
    jobs.router,
    contributor.router,
    models.router,
]
