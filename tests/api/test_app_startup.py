"""Server startup: what it builds is left out of the garbage collector's full collections."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_first_app_freezes_what_startup_built(tmp_path):
    # A fresh interpreter, as `plaudit serve` is: the test process itself froze long ago.
    script = textwrap.dedent(f"""
        import gc
        from fastapi.testclient import TestClient
        from plaudit.api.app import create_app
        from plaudit.config import Settings
        from plaudit.db.migrate import upgrade
        from plaudit.db.session import make_engine

        url = "sqlite:///{tmp_path / "startup.db"}"
        upgrade(make_engine(url))
        before = gc.get_freeze_count()
        with TestClient(create_app(Settings(database_url=url))) as client:
            assert client.get("/healthz").status_code == 200
            frozen = gc.get_freeze_count()
        with TestClient(create_app(Settings(database_url=url))):
            again = gc.get_freeze_count()
            gc.freeze()  # what freezing once more would have added: this second app's objects
            second_app = gc.get_freeze_count() - again
        print(before, frozen, again, second_app)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    before, frozen, again, second_app = map(int, done.stdout.split())
    assert before == 0
    assert frozen > 100_000  # the app, SQLAlchemy, the model SDKs
    assert second_app > 1_000
    assert abs(again - frozen) < second_app / 2  # a second app in the process freezes nothing
