"""Tags carried by a contextvar: nestable, thread- and asyncio-task-safe."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[tuple[str, ...]] = ContextVar("plaudit_tags", default=())


@contextmanager
def tags(*names: str | Iterable[str]) -> Iterator[tuple[str, ...]]:
    """Add tags to every completion logged inside the block (and in tasks started there).

    ``with plaudit.tags("session-42", "beta"):`` — blocks nest; inner tags add to outer ones.
    """
    added: list[str] = []
    for name in names:
        if isinstance(name, str):
            added.append(name)
        else:
            added.extend(name)
    token = _current.set(merge(_current.get(), added))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# The tags in force here: the ContextVar's own (C) method, called on every logged call.
current_tags = _current.get


def merge(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    """Concatenate, keeping the first occurrence of each tag."""
    return tuple(dict.fromkeys((*first, *second)))
