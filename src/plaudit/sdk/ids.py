"""Client-made completion ids (UUIDv7) and the response → id registry.

Every logged call needs an id on the caller's thread, so taking one must cost next to nothing.
A call takes a nanosecond timestamp (which it needs anyway for ``created_at``) and a number from
a per-process sequence; the UUID string is formatted from those two only when someone asks for it
(the transport's worker, or :func:`completion_id`). Calling a C extension here (``uuid_utils``)
cost ~15 µs per call in place: its code and state are cold after every model call.

Layout (RFC 9562 UUIDv7): 48-bit Unix milliseconds | version 7 | 12 bits of sub-millisecond time
(method 3) | variant | 62-bit counter starting at a random value drawn per process (method 1,
with a random seed). The counter makes ids unique within a process; its random start (re-drawn in
a forked child, which would otherwise repeat its parent's sequence) and the clock keep processes
apart.

SDK response objects are pydantic models: weak-referenceable but unhashable, so a
WeakKeyDictionary cannot hold them. The registry maps ``id(obj)`` to a weak reference carrying the
id's parts (or, briefly, to the queued call that holds the object: see ``registry``); the
reference's callback removes the entry when the object dies, so an address reused by a later
object never resolves to a stale id.
"""

from __future__ import annotations

import itertools
import os
import secrets
import weakref
from time import time_ns
from typing import Any

_MS = 1_000_000
_TIMESTAMP_MASK = (1 << 48) - 1
_RAND_B_MASK = (1 << 62) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)


def _fresh_sequence() -> itertools.count[int]:
    return itertools.count(secrets.randbits(62))


# ``next(ids.sequence)`` is atomic under the GIL (itertools.count is implemented in C).
sequence = _fresh_sequence()


def format_id(ns: int, seq: int) -> str:
    """The UUIDv7 string of a call started at ``ns`` (time.time_ns()) with sequence ``seq``."""
    ms, sub_ms = divmod(ns, _MS)
    value = (
        (ms & _TIMESTAMP_MASK) << 80
        | (sub_ms * 4096 // _MS) << 64
        | _VERSION_AND_VARIANT
        | (seq & _RAND_B_MASK)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_completion_id() -> str:
    """A fresh id, for callers that want the string straight away."""
    return format_id(time_ns(), next(sequence))


class Ref(weakref.ref):
    __slots__ = ("key", "ns", "seq")
    key: int
    ns: int
    seq: int


# id(obj) -> a Ref; or, for a returned call still in the transport's queue, the queued tuple
# itself (``(factory, obj, ns, seq, ...)``, see calls.log_result): storing it costs the caller's
# thread one dict store instead of making a weak reference. The tuple holds ``obj``, so its
# address cannot be reused meanwhile; the worker swaps it for a Ref (:func:`settle`).
registry: dict[int, Ref | tuple[Any, ...]] = {}


def forget(ref: Ref) -> None:
    # Runs while the object is being freed, before its address can be reused.
    if registry.get(ref.key) is ref:
        del registry[ref.key]


def settle(obj: Any, ns: int, seq: int) -> None:
    """The queued tuple registered for ``obj`` was taken: keep only a weak reference."""
    entry = registry.get(id(obj))
    if isinstance(entry, tuple) and entry[1] is obj:
        remember(obj, ns, seq)  # or, not weak-referenceable, drop the entry
        if registry.get(id(obj)) is entry:
            del registry[id(obj)]


def remember(obj: Any, ns: int, seq: int) -> None:
    try:
        ref = Ref(obj, forget)
    except TypeError:
        return  # not weak-referenceable: completion_id() will answer None
    key = ref.key = id(obj)
    ref.ns = ns
    ref.seq = seq
    registry[key] = ref


def completion_id(obj: Any) -> str | None:
    """The id plaudit logged ``obj`` (a response or a stream) under; None if not logged."""
    entry = registry.get(id(obj))
    if isinstance(entry, tuple):
        return format_id(entry[2], entry[3]) if entry[1] is obj else None
    if entry is None or entry() is not obj:
        return None
    return format_id(entry.ns, entry.seq)


def _after_fork_in_child() -> None:
    global sequence
    sequence = _fresh_sequence()
    # The parent's queued calls stay with the parent; here nobody will settle them.
    for entry in [e for e in registry.values() if isinstance(e, tuple)]:
        settle(entry[1], entry[2], entry[3])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
