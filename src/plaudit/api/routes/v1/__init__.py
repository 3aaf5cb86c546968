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

# Routes are matched in order, one by one: the hot paths (SDK ingest, a contributor's chat
# actions) come first. Order matters otherwise only for fixed paths before `{id}` paths.
routers = [
    ingest.router,  # /completions/batch before /completions/{id}
    contributor.router,
    completions.router,
    tasks.router,
    inbox.router,
    feedback.router,
    jobs.router,
    models.router,
]
