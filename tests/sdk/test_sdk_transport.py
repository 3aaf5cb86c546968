"""The background transport: back-off on 503, overflow to the spool, bad records set aside."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from sdk_helpers import logged

from plaudit.sdk.config import SDKConfig
from plaudit.sdk.transport import Transport


def _records(prefix: str, n: int) -> list[dict[str, object]]:
    return [{"id": f"{prefix}-{i}", "status": "finished", "tags": ["transport"]} for i in range(n)]


def test_import_plaudit_is_cheap_and_lazy():
    code = (
        "import sys, plaudit; "
        "heavy = [m for m in ('openai', 'anthropic', 'sqlalchemy', 'fastapi', 'plaudit.api', "
        "'plaudit.db', 'plaudit.core') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "plaudit.tags; plaudit.flush; "
        "assert 'openai' not in sys.modules and 'sqlalchemy' not in sys.modules; "
        "plaudit.OpenAI; assert 'openai' in sys.modules and 'anthropic' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 + Retry-After: 1 to the first request, then accepts."""

    seen: list[tuple[float, int]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = gzip.decompress(self.rfile.read(int(self.headers["Content-Length"])))
        count = len(orjson.loads(body)["completions"])
        _Flaky.seen.append((time.monotonic(), count))
        if len(_Flaky.seen) == 1:
            self.send_response(503)
            self.send_header("Retry-After", "1")
            payload = b'{"error": {"code": "overloaded"}}'
        else:
            self.send_response(200)
            payload = orjson.dumps({"accepted": count})
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_503_is_retried_after_retry_after(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = SDKConfig(url=f"http://127.0.0.1:{server.server_address[1]}", api_key="k",
                        spool_dir=tmp_path / "spool", retry_budget_s=5)  # fmt: skip
        transport = Transport(cfg)
        for record in _records("r", 10):
            transport.enqueue(record)
        assert transport.flush(10)
        (first, n1), (second, n2) = _Flaky.seen
        assert n1 == n2 == 10
        assert second - first >= 0.95  # honoured Retry-After, not the 0.1 s back-off
        assert transport.delivered == 10 and transport.spool.written == 0
        transport.shutdown(1)
    finally:
        server.shutdown()


def test_overflow_spills_to_spool_and_next_start_replays(sdk, live_server, org, tmp_path):
    spool = tmp_path / "overflow-spool"
    dead = SDKConfig(url="http://127.0.0.1:9", api_key=org.api_key, spool_dir=spool,
                     queue_size=5, retry_budget_s=0.2)  # fmt: skip
    offline = Transport(dead)
    started = time.perf_counter()
    for record in _records("o", 40):
        offline.enqueue(record)  # never raises, never blocks on the network
    assert time.perf_counter() - started < 5
    assert offline.flush(10)
    offline.shutdown(1)
    lines = sum(len(p.read_bytes().splitlines()) for p in spool.glob("*.jsonl"))
    assert lines == 40
    back = Transport(SDKConfig(url=live_server.url, api_key=org.api_key, spool_dir=spool))
    assert back.flush(20)
    ids = {r["id"] for r in logged(live_server.url, org, 40)}
    assert ids == {f"o-{i}" for i in range(40)}
    assert not list(spool.glob("*.jsonl"))
    back.shutdown(1)


def test_invalid_record_is_set_aside_and_the_rest_delivered(sdk, live_server, org, tmp_path):
    spool = tmp_path / "spool-422"
    transport = Transport(SDKConfig(url=live_server.url, api_key=org.api_key, spool_dir=spool))
    records = _records("v", 5)
    records[2]["status"] = "bogus"
    for record in records:
        transport.enqueue(record)
    assert transport.flush(10)
    ids = {r["id"] for r in logged(live_server.url, org, 4)}
    assert ids == {"v-0", "v-1", "v-3", "v-4"}
    rejected = list(spool.glob("rejected-*"))
    assert len(rejected) == 1
    kept = [orjson.loads(line) for line in rejected[0].read_bytes().splitlines()]
    assert [k["record"]["id"] for k in kept] == ["v-2"] and "422" in kept[0]["reason"]
    transport.shutdown(1)


class _Accepting(BaseHTTPRequestHandler):
    """Accepts every batch, noting when it arrived and how many records it held."""

    seen: list[tuple[float, int]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = gzip.decompress(self.rfile.read(int(self.headers["Content-Length"])))
        count = len(orjson.loads(body)["completions"])
        _Accepting.seen.append((time.monotonic(), count))
        payload = orjson.dumps({"accepted": count})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_worker_wakes_when_idle_and_when_a_batch_fills_not_per_item(tmp_path):
    """enqueue() wakes the worker only for the first item and for a full batch; the items in
    between are collected on the worker's timer (a long one here, so a wake-up shows)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Accepting.seen = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cfg = SDKConfig(url=url, api_key="k", spool_dir=tmp_path / "spool", batch_size=50,
                        batch_interval_s=3.0)  # fmt: skip
        transport = Transport(cfg)
        assert transport.flush(10)  # worker started, nothing to replay
        started = time.monotonic()
        for record in _records("w", 50):  # a full batch: sent at once, not after 3 s
            transport.enqueue(record)
        deadline = time.monotonic() + 2.5
        while not _Accepting.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _Accepting.seen and _Accepting.seen[0][1] == 50
        assert _Accepting.seen[0][0] - started < 2.0
        transport.enqueue(_records("late", 1)[0])  # idle worker: woken, waits its interval
        time.sleep(1.0)
        assert len(_Accepting.seen) == 1  # still lingering for more items
        assert transport.flush(10)  # flush cuts the linger short
        assert [n for _, n in _Accepting.seen] == [50, 1]
        assert transport.delivered == 51 and transport.spool.written == 0
        transport.shutdown(1)
    finally:
        server.shutdown()
