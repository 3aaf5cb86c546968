"""Database layer: declarative models, engine/session setup and Alembic migrations."""
