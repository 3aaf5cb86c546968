"""Plugin hooks, in the style of simonw/llm: a plugin registers adapter classes.

A third-party package adds an adapter with an entry point in the ``plaudit`` group::

    [project.entry-points.plaudit]
    my_adapter = "my_package.plaudit_plugin"

    # my_package/plaudit_plugin.py
    from plaudit.gateway.hookspecs import hookimpl

    @hookimpl
    def register_adapters(register):
        register(MyAdapter)          # a subclass of plaudit.gateway.adapters.base.Adapter
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("plaudit")
hookimpl = pluggy.HookimplMarker("plaudit")


@hookspec
def register_adapters(register: Callable[[Any], None]) -> None:
    """Call ``register(adapter_class)`` for each adapter this plugin provides."""
