"""The plugin manager: built-in adapters plus any installed ``plaudit`` entry points."""

from __future__ import annotations

import threading

import pluggy

from plaudit.errors import Invalid
from plaudit.gateway import hookspecs
from plaudit.gateway.adapters.base import Adapter

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None
_adapters: dict[str, type[Adapter]] | None = None


def plugin_manager() -> pluggy.PluginManager:
    global _manager
    with _lock:
        if _manager is None:
            from plaudit.gateway.adapters import builtin

            manager = pluggy.PluginManager("plaudit")
            manager.add_hookspecs(hookspecs)
            manager.register(builtin, name="plaudit.builtin_adapters")
            manager.load_setuptools_entrypoints("plaudit")
            _manager = manager
        return _manager


def adapter_classes() -> dict[str, type[Adapter]]:
    """Adapter name → class, built-ins first; a later plugin may not shadow a name."""
    global _adapters
    if _adapters is None:
        found: dict[str, type[Adapter]] = {}

        def register(adapter: type[Adapter]) -> None:
            if not (isinstance(adapter, type) and issubclass(adapter, Adapter)) or not adapter.name:
                raise TypeError(f"{adapter!r} is not an Adapter subclass with a name")
            found.setdefault(adapter.name, adapter)

        plugin_manager().hook.register_adapters(register=register)
        _adapters = found
    return _adapters


def adapter_class(name: str) -> type[Adapter]:
    """The adapter registered as ``name``; ``Invalid`` listing the known names otherwise."""
    classes = adapter_classes()
    try:
        return classes[name]
    except KeyError:
        known = ", ".join(sorted(classes))
        raise Invalid(
            f"unknown adapter '{name}'; known adapters: {known}", path="adapter"
        ) from None
