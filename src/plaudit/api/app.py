"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from plaudit import __version__
from plaudit.api.errors import add_exception_handlers
from plaudit.api.jsonio import ORJSONResponse
from plaudit.api.middleware import BodyLimitMiddleware, CollapseSlashesMiddleware
from plaudit.api.routes import health, log10, openai_compat, v1
from plaudit.config import Settings, get_settings
from plaudit.core.ingest import install_ingest
from plaudit.db.session import make_engine, make_sessionmaker
from plaudit.gateway.service import install_gateway
from plaudit.web import routes as web


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. The database must already be migrated (``plaudit serve`` does it)."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in app.state.startup_hooks:
            await hook(app)
        if not gc.get_freeze_count():  # the process's first app (a server has one)
            # What startup built (the app, SQLAlchemy, the model SDKs: ~400,000 objects) lives
            # as long as the process: leave it out of full collections, which otherwise walk
            # it all with the GIL held (138 ms seen in the middle of a chat turn).
            gc.freeze()
        yield
        for hook in reversed(app.state.shutdown_hooks):
            await hook(app)

    app = FastAPI(
        title="plaudit",
        version=__version__,
        description="Self-hosted human feedback for LLM output.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.read_sessions = make_sessionmaker(engine)
    app.state.write_sessions = make_sessionmaker(engine, write=True)
    # Not on SQLite: a write session's first statement takes the process write lock, and the
    # key lookup would then hold it from the auth dependency's threadpool hop on (in-process
    # SQLite has no round trips to save).
    app.state.auth_in_request_session = engine.dialect.name != "sqlite"
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    install_gateway(app)
    install_ingest(app)
    add_exception_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CollapseSlashesMiddleware)
    app.include_router(health.router)
    app.include_router(web.router)
    app.mount("/static", web.static, name="static")
    app.include_router(openai_compat.router)  # /v1/chat/completions, /v1/models
    for router in v1.routers:  # plaudit's own routes first: they hold the fixed paths
        app.include_router(router)
    for router in log10.routers:
        app.include_router(router)
    return app
