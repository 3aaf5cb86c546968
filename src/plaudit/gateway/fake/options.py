"""Fault and latency options of the fake model server, and how requests override them.

Options come from three places, later ones winning: the server's defaults (constructor
arguments / CLI flags), a ``/opts/k=v,k=v`` path prefix (so a registered endpoint URL can carry
them), and ``X-Fake-<Option>`` request headers (``X-Fake-Latency-Ms: 100``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MALFORMED_KINDS = ("json", "shape", "stream", "truncate", "hang")
HEADER_PREFIX = "x-fake-"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"", "none", "null"}


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    return float(str(value).strip())


def _integer(value: object) -> int:
    number = _number(value)
    if not number.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(number)


def _optional_integer(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
        return None
    return _integer(value)


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _malformed(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _NONE:
        return None
    if text not in MALFORMED_KINDS:
        raise ValueError(f"expected one of {', '.join(MALFORMED_KINDS)}, got {value!r}")
    return text


_COERCE: dict[str, Callable[[object], Any]] = {
    "latency_ms": _number,
    "chunk_delay_ms": _number,
    "error_rate": _number,
    "error_status": _integer,
    "status": _optional_integer,
    "retry_after": _number,
    "malformed": _malformed,
    "done_marker": _boolean,
    "fail_first": _integer,
    "seed": _integer,
}


@dataclass(frozen=True)
class FakeOptions:
    """Everything that makes the fake misbehave; the all-defaults value is a well-behaved model.

    Frozen and hashable so it can key the per-option ``fail_first`` counters.
    """

    latency_ms: float = 0.0
    """Delay before the first byte of any answer (errors included)."""
    chunk_delay_ms: float = 0.0
    """Delay between two stream chunks."""
    error_rate: float = 0.0
    """Probability (0..1) that a call answers ``error_status``; drawn from a seeded RNG."""
    error_status: int = 500
    """HTTP status of injected errors (``error_rate`` and ``fail_first``)."""
    status: int | None = None
    """Force this HTTP status on every call (e.g. 429); wins over ``error_status``."""
    retry_after: float = 1.0
    """Seconds announced in ``Retry-After`` (and ``retry-after-ms``) on 429/503 answers."""
    malformed: str | None = None
    """One of json, shape, stream, truncate, hang: a broken answer instead of a good one."""
    done_marker: bool = False
    """Send the trailing ``data: [DONE]`` line on chat completion streams (off: log10 quirk)."""
    fail_first: int = 0
    """The first N calls carrying these options fail, later ones succeed (retry tests)."""
    seed: int = 0
    """Seed of the ``random.Random`` that decides ``error_rate`` draws."""

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.chunk_delay_ms < 0 or self.retry_after < 0:
            raise ValueError("latency_ms, chunk_delay_ms and retry_after must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within 0..1, got {self.error_rate}")
        if not 400 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 4xx/5xx status, got {self.error_status}")
        if self.status is not None and not 200 <= self.status <= 599:
            raise ValueError(f"status must be within 200..599, got {self.status}")
        if self.malformed is not None and self.malformed not in MALFORMED_KINDS:
            kinds = ", ".join(MALFORMED_KINDS)
            raise ValueError(f"malformed must be one of {kinds}, got {self.malformed!r}")
        if self.fail_first < 0:
            raise ValueError("fail_first must be >= 0")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    def with_overrides(self, overrides: Mapping[str, object]) -> FakeOptions:
        """Return a copy with ``overrides`` applied; values may be strings (from URLs/headers).

        Raises ``ValueError`` on unknown names or bad values, so a typo fails loudly instead of
        silently testing the happy path.
        """
        if not overrides:
            return self
        changes: dict[str, Any] = {}
        for name, raw in overrides.items():
            key = name.strip().lower().replace("-", "_")
            coerce = _COERCE.get(key)
            if coerce is None:
                raise ValueError(f"unknown fake option {name!r}; known: {', '.join(self.names())}")
            try:
                changes[key] = coerce(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bad value for fake option {key!r}: {exc}") from None
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, as recorded in the request log."""
        return dataclasses.asdict(self)


def parse_path_options(text: str) -> dict[str, str]:
    """Parse the ``latency_ms=100,error_rate=0.5`` segment of an ``/opts/...`` URL prefix."""
    result: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"fake option {item!r} in the URL needs the form name=value")
        result[name.strip()] = value.strip()
    return result


def header_options(headers: Mapping[str, str]) -> dict[str, str]:
    """Collect ``X-Fake-*`` headers as option overrides (``X-Fake-Latency-Ms`` → latency_ms)."""
    return {
        key[len(HEADER_PREFIX) :].replace("-", "_"): value
        for key, value in ((k.lower(), v) for k, v in headers.items())
        if key.startswith(HEADER_PREFIX)
    }


def format_path_options(**options: object) -> str:
    """Inverse of :func:`parse_path_options`, used to build ``/opts/...`` URLs."""
    FakeOptions().with_overrides(options)  # validate early, in the caller's stack
    parts = []
    for name, value in options.items():
        text = "none" if value is None else str(value).lower() if isinstance(value, bool) else value
        parts.append(f"{name}={text}")
    return ",".join(parts)
