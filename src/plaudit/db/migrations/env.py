"""Alembic environment: uses the connection handed over by ``plaudit.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import plaudit.db.models  # noqa: F401  (registers every table on the metadata)
from plaudit.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # ALTER TABLE via copy-and-move on SQLite
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
