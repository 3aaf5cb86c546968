"""Client-made completion ids (UUIDv7) and the response → id registry.

SDK response objects are pydantic models: weak-referenceable but unhashable, so a
WeakKeyDictionary cannot hold them. The registry maps ``id(obj)`` to a weak reference and the
completion id; the weak reference's callback removes the entry when the object dies, so an
address reused by a later object never resolves to a stale id.
"""

from __future__ import annotations

import weakref
from typing import Any

import uuid_utils

_registry: dict[int, tuple[weakref.ref[Any], str]] = {}


def new_completion_id() -> str:
    return str(uuid_utils.uuid7())


def remember(obj: Any, completion_id: str) -> None:
    key = id(obj)

    def forget(ref: weakref.ref[Any]) -> None:
        _forget(key, ref)

    try:
        ref = weakref.ref(obj, forget)
    except TypeError:
        return  # not weak-referenceable: completion_id() will answer None
    _registry[key] = (ref, completion_id)


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    entry = _registry.get(key)
    if entry is not None and entry[0] is ref:
        del _registry[key]


def completion_id(obj: Any) -> str | None:
    """The id plaudit logged ``obj`` (a response or a stream) under; None if not logged."""
    entry = _registry.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return entry[1]
