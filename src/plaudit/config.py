"""Settings, read once from the environment (``PLAUDIT_`` prefix) and injected where needed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLAUDIT_", extra="ignore")

    data_dir: Path = Field(Path(".plaudit"), description="Where the SQLite file and secrets live.")
    database_url: str = Field("", description="SQLAlchemy URL; default: SQLite under data_dir.")
    secret_key: str = Field("", description="Signs session cookies; generated under data_dir.")
    max_body_bytes: int = Field(10 * 1024 * 1024, description="Largest accepted request body.")
    max_json_depth: int = Field(64, description="Deepest accepted JSON nesting.")
    inbox_lease_seconds: int = Field(600, description="How long a reviewer holds an inbox item.")
    unit_lease_seconds: int = Field(1800, description="How long a contributor holds a chat unit.")
    ingest_queue_size: int = Field(20_000, description="Completions waiting for group commit.")
    ingest_window_ms: float = Field(5.0, description="Group-commit window (<= 50 ms).")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'plaudit.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
