"""Helpers for the ingestion/SDK benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time

import httpx
from benchkit import ServerProcess


class SlowStartServer(ServerProcess):
    """benchkit's ``plaudit serve`` process, patient with a CPU-starved machine (the server
    imports the model SDKs at startup, which takes long when other jobs hog the cores)."""

    START_TIMEOUT_S = 300.0

    def __enter__(self) -> SlowStartServer:
        env = {**os.environ, "PLAUDIT_DATABASE_URL": self.database_url,
               "PLAUDIT_DATA_DIR": str(self.workdir)}  # fmt: skip
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from plaudit.cli.main import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited: {self.log.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")
