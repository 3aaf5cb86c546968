"""Helpers for the ingestion/SDK benchmarks."""

from __future__ import annotations

from benchkit import ServerProcess


class SlowStartServer(ServerProcess):
    """benchkit's ``plaudit serve`` process, patient with a CPU-starved machine (the server
    imports the model SDKs at startup, which takes long when other jobs hog the cores)."""

    START_TIMEOUT_S = 300.0
