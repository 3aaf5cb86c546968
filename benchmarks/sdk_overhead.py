"""Claim: plaudit's SDK adds <= 20 µs p50 per call on the caller's thread, and <= 1/20 of what
log10-io's wrapper adds.

The same chat calls go to plaudit's fake model server (its own process, loopback, no latency)
with (a) the bare ``openai`` client, (b) ``plaudit.OpenAI`` logging to a real ``plaudit serve``
(its own process), and (c) log10-io's ``log10.load.OpenAI`` logging to the same server. log10-io
pins openai<2, so (c) runs in ``.venv-log10`` as a subprocess with its own bare-openai baseline
(a'), measured in that process before log10 patches openai. (a) and (b) are interleaved call by
call so drift hits both equally. Added time = p50(wrapped) - p50(bare); every logged completion
is checked to have reached the server.

    .venv/bin/python benchmarks/sdk_overhead.py [--quick] [--calls N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from benchkit import _free_port, fresh_database, percentile, print_table, seed_org
from ingest_kit import SlowStartServer as ServerProcess

ROOT = Path(__file__).resolve().parent.parent
LOG10_PYTHON = Path(os.environ.get("PLAUDIT_LOG10_VENV", ROOT / ".venv-log10")) / "bin" / "python"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]

# Runs in .venv-log10. The shim times the SDK's own create() (the HTTP call to the model) so
# that "added" = total - inner is measured per call, immune to the model server's jitter.
LOG10_DRIVER = r"""
import sys, time, json
import openai
from openai.resources.chat.completions import Completions
base_url, calls = sys.argv[1], int(sys.argv[2])
messages = [{"role": "user", "content": "What is the capital of France?"}]
inner = []
original = Completions.create
def timed(self, *args, **kwargs):
    t = time.perf_counter()
    try:
        return original(self, *args, **kwargs)
    finally:
        inner.append(time.perf_counter() - t)
Completions.create = timed
def run(client, n):
    out = []
    inner.clear()
    for _ in range(n):
        t = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        out.append(time.perf_counter() - t)
    return out, list(inner)
bare = openai.OpenAI(base_url=base_url, api_key="k")
run(bare, 20)
bare_times, bare_inner = run(bare, calls)
from log10.load import OpenAI   # patches openai globally from here on (wrapping our shim)
wrapped = OpenAI(base_url=base_url, api_key="k", tags=["log10-bench"])
run(wrapped, 20)
wrapped_times, wrapped_inner = run(wrapped, calls)
print(json.dumps({"bare": bare_times, "bare_inner": bare_inner, "wrapped": wrapped_times,
                  "wrapped_inner": wrapped_inner}))
"""


@contextlib.contextmanager
def fake_model_process() -> Any:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from plaudit.cli.main import main; main()", "fake-model",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url + "/v1"
    finally:
        proc.terminate()
        proc.wait(10)


def shim_inner_timer() -> list[float]:
    """Time openai's own ``Completions.create`` (the model call) inside every client's call."""
    from openai.resources.chat.completions import Completions

    inner: list[float] = []
    original = Completions.create

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            inner.append(time.perf_counter() - started)

    Completions.create = timed  # type: ignore[method-assign]
    return inner


def measure_plaudit(base_url: str, calls: int, inner: list[float]) -> dict[str, list[float]]:
    import openai

    import plaudit

    bare = openai.OpenAI(base_url=base_url, api_key="k")
    wrapped = plaudit.OpenAI(base_url=base_url, api_key="k", tags=["plaudit-bench"])
    ids = []
    for _ in range(20):  # warm connections, imports and the transport worker
        bare.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        ids.append(plaudit.completion_id(
            wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)))  # fmt: skip
    out: dict[str, list[float]] = {"bare": [], "bare_inner": [], "wrapped": [],
                                   "wrapped_inner": []}  # fmt: skip
    inner.clear()
    for _ in range(calls):
        started = time.perf_counter()
        bare.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        middle = time.perf_counter()
        reply = wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        ended = time.perf_counter()
        out["bare"].append(middle - started)
        out["wrapped"].append(ended - middle)
        out["bare_inner"].append(inner[-2])
        out["wrapped_inner"].append(inner[-1])
        ids.append(plaudit.completion_id(reply))
    out["ids"] = [i for i in ids if i]  # type: ignore[list-item]
    return out


def wrapper_path_alone(samples: int = 20_000) -> float:
    """p50 µs of what the wrapper does around the model call (take the clocks, copy the
    messages list, remember the response's id, enqueue), without any network, with warm caches:
    the floor of (b)'s added time."""
    from types import SimpleNamespace

    from openai.types.chat import ChatCompletion

    from plaudit.sdk.calls import log_result

    reply = ChatCompletion.model_construct(id="x", choices=[], created=0, model="m",
                                           object="chat.completion")  # fmt: skip
    client = SimpleNamespace(_plaudit_tags=("plaudit-path",))
    times = []
    for i in range(samples):
        kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES}
        started = time.perf_counter()
        log_result("openai", "chat", kwargs, client, time.time_ns(), time.perf_counter(), reply)
        times.append(time.perf_counter() - started)
        if i % 400 == 0:
            time.sleep(0.06)  # let the worker drain, as between real calls
    return us(percentile(times, 50))


def measure_log10(base_url: str, calls: int, server: str, org_id: str, key: str) -> dict:
    env = {**os.environ, "LOG10_URL": server, "LOG10_TOKEN": key, "LOG10_ORG_ID": org_id}
    done = subprocess.run(
        [str(LOG10_PYTHON), "-c", LOG10_DRIVER, base_url, str(calls)],
        env=env, capture_output=True, timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"log10 driver failed: {done.stderr.decode()[-2000:]}")
    result: dict = orjson.loads(done.stdout.splitlines()[-1])
    return result


def count(server: str, key: str, tag: str) -> int:
    answer = httpx.get(f"{server}/api/v1/completions", params={"tags": tag, "limit": 1},
                       headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
    answer.raise_for_status()
    return int(answer.json()["total"])


def us(seconds: float) -> float:
    return seconds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 calls instead of 2,000")
    parser.add_argument("--calls", type=int, default=None)
    args = parser.parse_args()
    calls = args.calls or (200 if args.quick else 2000)
    if not LOG10_PYTHON.exists():
        print(f"missing {LOG10_PYTHON}: python3 -m venv .venv-log10 && "
              ".venv-log10/bin/pip install 'log10-io[cli]==0.16.1'")  # fmt: skip
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db = fresh_database("sqlite", workdir)
        org = seed_org(db.engine)
        with ServerProcess(db.url, workdir) as server, fake_model_process() as base_url:
            import plaudit

            plaudit.configure(url=server.url, api_key=org.api_key, spool_dir=workdir / "spool")
            inner = shim_inner_timer()
            mine = measure_plaudit(base_url, calls, inner)
            ids = mine.pop("ids")
            assert plaudit.flush(60), "plaudit SDK did not deliver in time"
            delivered = count(server.url, org.api_key, "plaudit-bench")
            # Diagnostic: the same with the worker kept asleep (it takes nothing until the
            # flush after), to show how much of (b)'s added time the background transport
            # causes: batching, gzip and the POSTs happening during the caller's calls.
            plaudit.configure(batch_interval_s=3600.0, batch_size=10**6)
            paused = measure_plaudit(base_url, calls, inner)
            assert plaudit.flush(60)
            plaudit.configure(batch_interval_s=0.05, batch_size=500)
            path_alone = wrapper_path_alone(2000 if args.quick else 20_000)
            assert plaudit.flush(60)
            log10 = measure_log10(base_url, calls, server.url, org.id, org.api_key)
            time.sleep(1.0)  # log10 posts its last "finished" rows from a thread
            log10_logged = count(server.url, org.api_key, "log10-bench")
        db.dispose()

    def added(run: dict[str, list[float]], name: str) -> float:
        """p50 of (whole call - the SDK's model call), minus the same for the bare client."""
        own = [t - i for t, i in zip(run[name], run[name + "_inner"], strict=True)]
        base = [t - i for t, i in zip(run["bare"], run["bare_inner"], strict=True)]
        return us(percentile(own, 50) - percentile(base, 50))

    plaudit_added, log10_added = added(mine, "wrapped"), added(log10, "wrapped")
    paused_added = added(paused, "wrapped")
    naive_plaudit = us(percentile(mine["wrapped"], 50) - percentile(mine["bare"], 50))
    naive_log10 = us(percentile(log10["wrapped"], 50) - percentile(log10["bare"], 50))
    rows = [
        ["(a) bare openai", us(percentile(mine["bare"], 50)), "-", "-", "-"],
        ["(b) plaudit.OpenAI", us(percentile(mine["wrapped"], 50)), plaudit_added,
         naive_plaudit, f"{delivered}/{len(ids)}"],
        ["(a') bare openai 1.x (log10 venv)", us(percentile(log10["bare"], 50)), "-", "-", "-"],
        ["(c) log10.load.OpenAI", us(percentile(log10["wrapped"], 50)), log10_added,
         naive_log10, f"{log10_logged}/{calls + 20}"],
    ]  # fmt: skip
    print_table(
        f"SDK overhead per chat call, caller's thread ({calls} calls each, µs)",
        ["client", "call p50", "added p50", "p50 - bare p50", "logged"],
        rows,
    )
    print("added p50 = p50(call - model call inside it) - same for the bare client; "
          "'p50 - bare p50' is the noisier difference of whole-call medians")  # fmt: skip
    ratio = plaudit_added / log10_added if log10_added > 0 else float("inf")
    ok_abs = plaudit_added <= 20
    ok_ratio = ratio <= 1 / 20
    print(f"\nplaudit adds {plaudit_added:.1f} µs p50 "
          f"(target <= 20: {'PASS' if ok_abs else 'FAIL'})")  # fmt: skip
    print(f"plaudit's wrapper code path alone (no network): {path_alone:.1f} µs p50")
    print(f"plaudit with its worker asleep during the calls: {paused_added:.1f} µs p50")
    print(f"log10-io adds {log10_added:.1f} µs p50")
    inverse = f"1/{1 / ratio:.0f}" if ratio > 0 else "0"
    print(f"ratio plaudit/log10 = {ratio:.4f} = {inverse} "
          f"(target <= 1/20: {'PASS' if ok_ratio else 'FAIL'})")  # fmt: skip
    print(f"plaudit delivered {delivered} of {len(ids)} logged completions")
    return 0 if (ok_abs and ok_ratio and delivered == len(ids)) else 1


if __name__ == "__main__":
    sys.exit(main())
