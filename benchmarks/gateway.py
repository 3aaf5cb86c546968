"""Claims: (1) the gateway adds <= 5 ms p50 to time-to-first-token compared with calling the
model directly; (2) four models with 100/200/400/800 ms latency called together finish within
the slowest one + 20 ms (until the last answer is delivered; the time until the last completion
row is committed is printed beside it).

The fake model server runs in its own process (loopback). (1) interleaves, call by call, the
bare ``openai`` SDK streaming from the fake with ``Gateway.stream_many`` on the same model
through the ``openai`` adapter (recording every call as a completion in SQLite), and the same
for raw ``httpx`` vs the ``http`` adapter; added = p50(gateway) - p50(direct). (2) times the
slowest model alone, directly, then all four through one ``stream_many``.

    .venv/bin/python benchmarks/gateway.py [--quick] [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from benchkit import _free_port, fresh_database, percentile, print_table, seed_org, verdict

from plaudit.db.session import make_sessionmaker
from plaudit.gateway import CallContext, Gateway, ModelSpec
from plaudit.gateway.service import warm_up_adapters

MESSAGES: list[Any] = [{"role": "user", "content": "What is the capital of France?"}]
LATENCIES_MS = (100, 200, 400, 800)
TTFT_TARGET_MS = 5.0
FANOUT_TARGET_MS = 20.0
FAKE_BOOT = (
    "import sys; from plaudit.gateway.fake import run_fake_model; "
    "run_fake_model(port=int(sys.argv[1]))"
)


class FakeProcess:
    """The fake model server in a process of its own, so it never competes for our GIL."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FakeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_BOOT, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the fake model server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def spec(model_id: int, org_id: str, adapter: str, endpoint: str, **fields: Any) -> ModelSpec:
    values: dict[str, Any] = {
        "id": model_id, "org_id": org_id, "name": f"bench-{model_id}", "adapter": adapter,
        "endpoint": endpoint, "upstream_model": "fake-terse", "secret": "sk-bench",
        "default_params": {}, "input_template": None, "output_path": None,
        "stream_path": None, "timeout_s": 30.0, "max_retries": 0, "concurrency": 64,
    }  # fmt: skip
    values.update(fields)
    return ModelSpec(**values)


async def ttft_direct_openai(client: openai.AsyncOpenAI) -> float:
    started = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model="fake-terse", messages=MESSAGES, stream=True
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
    assert first is not None
    return (first - started) * 1000


async def ttft_direct_http(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    first = None
    body = {"model": "fake-terse", "messages": MESSAGES, "stream": True}
    async with client.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if first is None and line.startswith("data:") and '"content":"' in line:
                if '"content":""' not in line:
                    first = time.perf_counter()
    assert first is not None
    return (first - started) * 1000


async def ttft_gateway(gateway: Gateway, model: ModelSpec) -> float:
    started = time.perf_counter()
    first = None
    async for delta in gateway.stream_many([model], CallContext(messages=MESSAGES)):
        if first is None and delta.kind == "delta":
            first = time.perf_counter()
        if delta.kind == "error":
            raise RuntimeError(delta.error)
    assert first is not None
    return (first - started) * 1000


async def measure_ttft(fake_url: str, gateway: Gateway, org_id: str, calls: int) -> list[Any]:
    chat_url = fake_url + "/v1/chat/completions"
    openai_spec = spec(1, org_id, "openai", fake_url + "/v1")
    http_spec = spec(
        2, org_id, "http", chat_url,
        input_template={"model": "fake-terse", "messages": "${messages}", "stream": True},
        stream_path="choices[0].delta.content",
    )  # fmt: skip
    direct_openai = openai.AsyncOpenAI(base_url=fake_url + "/v1", api_key="sk-bench")
    direct_http = httpx.AsyncClient()
    samples: dict[str, list[float]] = {k: [] for k in ("so", "go", "sh", "gh")}
    for i in range(calls + 5):  # 5 warm-up rounds, not counted
        pairs = [
            ("so", ttft_direct_openai(direct_openai)),
            ("go", ttft_gateway(gateway, openai_spec)),
            ("sh", ttft_direct_http(direct_http, chat_url)),
            ("gh", ttft_gateway(gateway, http_spec)),
        ]
        if i % 2:  # alternate the order so drift and warm caches favour neither side
            pairs = pairs[1::-1] + pairs[:1:-1]
        for key, call in pairs:
            value = await call
            if i >= 5:
                samples[key].append(value)
    await direct_openai.close()
    await direct_http.aclose()
    rows = []
    for label, direct_key, gw_key in (
        ("openai SDK / openai adapter", "so", "go"),
        ("httpx / http adapter", "sh", "gh"),
    ):
        direct, through = samples[direct_key], samples[gw_key]
        added = percentile(through, 50) - percentile(direct, 50)
        rows.append([
            label, len(direct), percentile(direct, 50), percentile(through, 50), added,
            percentile(through, 50) / percentile(direct, 50), verdict(added <= TTFT_TARGET_MS),
        ])  # fmt: skip
    return rows


async def measure_fanout(fake_url: str, gateway: Gateway, org_id: str, rounds: int) -> list[Any]:
    models = [
        spec(10 + i, org_id, "openai", f"{fake_url}/opts/latency_ms={ms}/v1")
        for i, ms in enumerate(LATENCIES_MS)
    ]
    slowest = models[-1]
    client = openai.AsyncOpenAI(base_url=slowest.endpoint, api_key="sk-bench")
    await gateway.complete(slowest, CallContext(messages=MESSAGES))  # warm the pools
    alone, together, recorded = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model="fake-terse", messages=MESSAGES, stream=True
        )
        async for _chunk in stream:
            pass
        alone.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        ends = 0
        async for delta in gateway.stream_many(models, CallContext(messages=MESSAGES)):
            if delta.kind == "error":
                raise RuntimeError(delta.error)
            ends += delta.terminal
            if ends == len(models) and delta.terminal:  # every answer is in the caller's hands
                together.append((time.perf_counter() - started) * 1000)
        recorded.append((time.perf_counter() - started) * 1000)  # ... and every row committed
    await client.close()
    slow, total = statistics.median(alone), statistics.median(together)
    return [[
        f"{len(models)} models {'/'.join(map(str, LATENCIES_MS))} ms", rounds, slow, total,
        total - slow, total / slow, statistics.median(recorded) - slow,
        verdict(total - slow <= FANOUT_TARGET_MS),
    ]]  # fmt: skip


async def run(args: argparse.Namespace, fake_url: str, workdir: Path) -> None:
    db = fresh_database("sqlite", workdir)
    org = seed_org(db.engine)
    gateway = Gateway(make_sessionmaker(db.engine, write=True))
    try:
        ttft = await measure_ttft(fake_url, gateway, org.id, args.calls)
        fanout = await measure_fanout(fake_url, gateway, org.id, args.rounds)
    finally:
        await gateway.aclose()
        db.dispose()
    print_table(
        f"Time to first token, direct vs through the gateway (target: added p50 <= "
        f"{TTFT_TARGET_MS:g} ms; every gateway call recorded in SQLite)",
        ["path", "calls", "direct p50 ms", "gateway p50 ms", "added ms", "ratio", "verdict"],
        ttft,
    )
    print_table(
        f"Fan-out, slowest model alone vs all together (target: <= slowest + "
        f"{FANOUT_TARGET_MS:g} ms)",
        [
            "call",
            "rounds",
            "slowest alone ms",
            "together ms",
            "added ms",
            "ratio",
            "added ms incl. last DB write",
            "verdict",
        ],  # fmt: skip
        fanout,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--calls", type=int, help="TTFT calls per path (default 200)")
    parser.add_argument("--rounds", type=int, help="fan-out rounds (default 10)")
    args = parser.parse_args()
    args.calls = args.calls or (20 if args.quick else 200)
    args.rounds = args.rounds or (3 if args.quick else 10)
    warm_up_adapters()
    with FakeProcess() as fake, tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args, fake.url, Path(workdir)))


if __name__ == "__main__":
    main()
