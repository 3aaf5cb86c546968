"""SDK configuration: PLAUDIT_URL / PLAUDIT_API_KEY from the environment, or ``configure()``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _default_spool_dir() -> Path:
    configured = os.environ.get("PLAUDIT_SPOOL_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "plaudit" / "spool"


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class SDKConfig:
    url: str = ""
    api_key: str = ""
    spool_dir: Path = field(default_factory=_default_spool_dir)
    queue_size: int = 10_000  # records held in memory before spilling to the spool file
    batch_size: int = 500
    batch_interval_s: float = 0.05
    request_timeout_s: float = 10.0
    retry_budget_s: float = 5.0  # how long one batch is retried before it goes to the spool
    exit_timeout_s: float = 5.0  # atexit flush bound; what is left is spooled
    enabled: bool = True

    @property
    def ingest_url(self) -> str:
        return self.url.rstrip("/") + "/api/v1/completions/batch"


def from_environment() -> SDKConfig:
    return SDKConfig(
        url=os.environ.get("PLAUDIT_URL", "").rstrip("/"),
        api_key=os.environ.get("PLAUDIT_API_KEY", ""),
        retry_budget_s=_float_env("PLAUDIT_RETRY_BUDGET_S", 5.0),
        exit_timeout_s=_float_env("PLAUDIT_EXIT_TIMEOUT_S", 5.0),
        enabled=os.environ.get("PLAUDIT_DISABLED", "") not in ("1", "true", "yes"),
    )


_config: SDKConfig | None = None


def current() -> SDKConfig:
    global _config
    if _config is None:
        _config = from_environment()
    return _config


def configure(
    url: str | None = None,
    api_key: str | None = None,
    *,
    spool_dir: str | Path | None = None,
    **options: object,
) -> SDKConfig:
    """Override the environment. Unknown options raise ``TypeError``."""
    global _config
    changes: dict[str, object] = dict(options)
    if url is not None:
        changes["url"] = url.rstrip("/")
    if api_key is not None:
        changes["api_key"] = api_key
    if spool_dir is not None:
        changes["spool_dir"] = Path(spool_dir)
    _config = replace(current(), **changes)  # type: ignore[arg-type]
    from plaudit.sdk import transport

    transport.reconfigure(_config)
    return _config
