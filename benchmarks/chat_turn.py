"""Claim: a chat turn adds little to the models' own latency.

A turn is: prompt in → all 3 models' answers streamed back (SSE) → ontology answers and the
selection saved, in one call (what a screen's "continue with this response" sends; every fourth
solo turn saves them in two calls, PUT answers then POST select, reported on a row of its own).
The baseline, measured in the same run, is the fake model's own latency: the same 3 streaming
calls made straight to the fake server, concurrently, by the same client.

- one contributor: added p50 (turn p50 − baseline p50) ≤ 10 ms with 3 models
- 50 contributors chatting at the same time on one server, each in their own conversation and
  sending a turn every 1–3 s (a person takes far longer to read three answers and fill the
  ontology): added p95 (turn p95 − baseline p95 measured at the same pace) ≤ 50 ms
- for information, the lockstep worst case: all 50 send at the same instant, round after round.
  That row measures throughput: the whole round's server CPU (50 × the CPU of a turn, printed
  below the table) queues on one core, shared with the fake server and this load generator.

plaudit (``plaudit serve``, SQLite) and the fake model server each run in their own process.
Run: ``.venv/bin/python benchmarks/chat_turn.py [--quick] [--latency-ms 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from benchkit import recreate_postgres_database

from plaudit.core.orgs import create_organization
from plaudit.db.migrate import upgrade
from plaudit.db.session import make_engine, make_sessionmaker, session_scope
from plaudit.gateway.registry import create_model

ANSWERS = {"correct": "yes", "quality": 4}
ONTOLOGY = {
    "type": "object",
    "properties": {"correct": {"type": "string", "enum": ["yes", "no"]},
                   "quality": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["correct", "quality"],
}  # fmt: skip
PERSONALITIES = ("echo", "terse", "pirate")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], health: str) -> Iterator[int]:
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{args[-4:]} exited: {log.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(health, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{health} did not come up")
            time.sleep(0.1)
        try:
            yield proc.pid
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-6000:])
            raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def cpu_ms(pid: int) -> float | None:
    """CPU time (user + system) the process used so far, in ms; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def baseline_call(client: aiohttp.ClientSession, fake_url: str, prompt: str) -> float:
    """The 3 models called straight, streaming, concurrently: the fake's own latency."""

    async def one(name: str) -> None:
        body = {"model": f"fake-{name}", "stream": True,
                "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
        async with client.post(f"{fake_url}/v1/chat/completions", json=body) as r:
            async for _ in r.content.iter_any():
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in PERSONALITIES))
    return (time.perf_counter() - started) * 1000


async def call(client: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               **kwargs: Any) -> Any:  # fmt: skip
    async with client.request(method, url, headers=headers, **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def chat_turn(client: aiohttp.ClientSession, server: str, aid: str,
                    headers: dict[str, str], turn: int, prompt: str, separate: bool = False
                    ) -> float:  # fmt: skip
    """Send the prompt, read the streamed answers, then save the ontology answers and the
    selection: in one call (``select`` with ``responses``, what a screen's "continue with this
    response" sends), or ``separate``: PUT answers, then POST select."""
    started = time.perf_counter()
    async with client.post(f"{server}/api/v1/assignments/{aid}/turns", headers=headers,
                           json={"prompt": prompt}) as response:  # fmt: skip
        assert response.status == 200, await response.text()
        async for line in response.content:  # read until the server closes after `end`
            if line.startswith(b"event: error"):
                raise RuntimeError("a model failed during the benchmark")
    url = f"{server}/api/v1/assignments/{aid}/turns/{turn}"
    answers = {f"Response {c}": ANSWERS for c in "ABC"}
    selection: dict[str, Any] = {"label": "Response B"}
    if separate:
        await call(client, "PUT", f"{url}/answers", headers, json={"responses": answers})
    else:
        selection["responses"] = answers
    await call(client, "POST", f"{url}/select", headers, json=selection)
    return (time.perf_counter() - started) * 1000


def fresh_database(workdir: Path, postgres_url: str | None) -> str:
    if not postgres_url:
        return f"sqlite:///{workdir / 'bench.db'}"
    return recreate_postgres_database(postgres_url)


def setup(url: str, fake_url: str) -> tuple[str, list[int]]:
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        created = create_organization(session, "Bench")
        ids = [
            create_model(session, created.org.id, name=n, adapter="openai",
                         endpoint=f"{fake_url}/v1", upstream_model=f"fake-{n}",
                         max_retries=0, concurrency=200).id
            for n in PERSONALITIES
        ]  # fmt: skip
    engine.dispose()
    return created.api_key, ids


async def prepare_job(client: aiohttp.ClientSession, server: str, headers: dict[str, str],
                      ids: list[int], units: int) -> str:  # fmt: skip
    cml = f'<cml:ai_chat_feedback source-data="[{",".join(map(str, ids))}]" />'
    body = {"name": "bench", "cml": cml, "ontology": ONTOLOGY}
    job = await call(client, "POST", f"{server}/api/v1/jobs", headers, json=body)
    csv_text = "topic\n" + "".join(f"t{i}\n" for i in range(units))
    await call(client, "POST", f"{server}/api/v1/jobs/{job['id']}/units",
               {**headers, "Content-Type": "text/csv"}, data=csv_text.encode())  # fmt: skip
    await call(client, "POST", f"{server}/api/v1/jobs/{job['id']}/launch", headers)
    return str(job["id"])


async def run(args: argparse.Namespace) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="plaudit-chat-bench-"))
    fake_port, server_port = free_port(), free_port()
    fake_url, server_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{server_port}"
    base = [sys.executable, "-c", "from plaudit.cli.main import main; main()"]
    env = dict(os.environ)
    fake_args = [*base, "fake-model", "--port", str(fake_port), "--latency-ms",
                 str(args.latency_ms)]  # fmt: skip
    with process(fake_args, env, f"{fake_url}/healthz"):
        url = fresh_database(workdir, args.postgres_url)
        key, ids = setup(url, fake_url)
        args.database_url = url
        args.backend = "PostgreSQL" if args.postgres_url else "SQLite"
        env.update(PLAUDIT_DATABASE_URL=url, PLAUDIT_DATA_DIR=str(workdir))
        serve = [*base, "serve", "--port", str(server_port)]
        with process(serve, env, f"{server_url}/healthz") as server_pid:
            args.server_pid = server_pid
            return await measure(args, server_url, fake_url, key, ids)


@dataclass
class Driver:
    """The load generator's view of the running server: one client, the job, the fake."""

    client: aiohttp.ClientSession
    server_url: str
    fake_url: str
    owner: dict[str, str]
    job_id: str = ""

    async def contributor(self, name: str) -> tuple[str, dict[str, str]]:
        """A contributor's headers and the assignment ``next`` gives them."""
        headers = {**self.owner, "X-Plaudit-Contributor": name}
        url = f"{self.server_url}/api/v1/jobs/{self.job_id}/next"
        claimed = await call(self.client, "POST", url, headers)
        return str(claimed["assignment"]["id"]), headers

    async def baseline(self, prompt: str) -> float:
        return await baseline_call(self.client, self.fake_url, prompt)

    async def turn(self, aid: str, headers: dict[str, str], turn: int, prompt: str,
                   separate: bool = False) -> float:  # fmt: skip
        return await chat_turn(self.client, self.server_url, aid, headers, turn, prompt, separate)


@dataclass
class Samples:
    baseline: list[float] = field(default_factory=list)
    turns: list[float] = field(default_factory=list)

    def added(self, q: float) -> float:
        return percentile(self.turns, q) - percentile(self.baseline, q)


async def measure(args: argparse.Namespace, server_url: str, fake_url: str, key: str,
                  ids: list[int]) -> bool:  # fmt: skip
    # The load generator is aiohttp: httpx's pool walks every connection on each request,
    # which made the client itself the bottleneck with 50 contributors (150 model streams).
    owner = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        driver = Driver(client, server_url, fake_url, owner)
        units = 2 * args.contributors + 1
        driver.job_id = await prepare_job(client, server_url, owner, ids, units)
        for warm in range(3):  # connections, caches, the SDK clients inside the server
            await driver.baseline(f"warm {warm}")
        solo, separate, gateway_alone, cpu_per_turn = await one_contributor(args, driver)
        paced = await paced_contributors(args, driver)
        lockstep = await lockstep_contributors(args, driver)
    n = args.contributors
    rows = [
        ("1 contributor", solo, 50, 10.0),
        ("  (3 calls/turn)", separate, 50, None),
        (f"{n} contributors", paced, 95, 50.0),
        (f"{n} in lockstep", lockstep, 95, None),
    ]
    print(
        f"\nchat turn, 3 models, fake latency {args.latency_ms:g} ms "
        f"({args.backend}, 1 server process)"
    )
    print(f"{'case':<18} {'turns':>6} {'model ms':>9} {'turn ms':>9} {'added ms':>9} "
          f"{'stat':>5} {'limit':>6} {'ratio':>6}  verdict")  # fmt: skip
    ok = True
    for case, samples, q, limit in rows:
        verdict, shown = "info", "-"  # a row without a limit is for comparison only
        added = samples.added(q)
        if limit is not None:
            passed = added <= limit
            ok &= passed
            verdict, shown = ("PASS" if passed else "FAIL"), f"{limit:.0f}"
        model, total, stat = percentile(samples.baseline, q), percentile(samples.turns, q), f"p{q}"
        print(f"{case:<18} {len(samples.turns):>6} {model:>9.1f} {total:>9.1f} {added:>9.1f} "
              f"{stat:>5} {shown:>6} {total / model:>6.2f}  {verdict}")  # fmt: skip
    gateway_added = gateway_alone.added(50)
    print(f"of which the model gateway alone (3 streamed calls, each recorded as a completion, "
          f"called in-process): {gateway_added:.1f} ms at p50; the chat server's own share: "
          f"{solo.added(50) - gateway_added:.1f} ms")  # fmt: skip
    if cpu_per_turn is not None:
        print(f"server CPU per solo turn (user + system, /proc, the completion log written after "
              f"the turn included): {cpu_per_turn:.1f} ms")  # fmt: skip
    print(f"contributors: think {args.think_min:g}–{args.think_max:g} s between turns; lockstep: "
          f"all {n} send at the same instant, {args.rounds} rounds")  # fmt: skip
    return ok


async def one_contributor(
    args: argparse.Namespace, driver: Driver
) -> tuple[Samples, Samples, Samples, float | None]:
    """One conversation, turn after turn. The server's CPU is read over the whole loop (it is
    idle during the baseline calls), so work done after a turn's answer still counts."""
    aid, headers = await driver.contributor("solo")
    solo, separate, alone = Samples(), Samples(), Samples()
    gateway, specs = gateway_for(args.database_url)
    cpu_before = cpu_ms(args.server_pid)
    for turn in range(args.turns):
        prompt = f"question {turn}"
        base = await driver.baseline(prompt)
        alone.baseline.append(base)
        alone.turns.append(await gateway_call(gateway, specs, prompt))
        split = turn % 4 == 3  # every fourth turn: answers and selection as two calls
        samples = separate if split else solo
        samples.baseline.append(base)
        samples.turns.append(await driver.turn(aid, headers, turn, prompt, split))
    await asyncio.sleep(0.2)  # the last turn's completion log
    cpu_after = cpu_ms(args.server_pid)
    await gateway.aclose()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return solo, separate, alone, None if cpu is None else cpu / args.turns


async def paced_contributors(args: argparse.Namespace, driver: Driver) -> Samples:
    """``--contributors`` people chatting at the same time, each in their own conversation,
    sending a turn every ``--think-min``–``--think-max`` s (far quicker than anyone reads three
    answers and fills the ontology). The baseline is measured at the same pace, interleaved."""
    rng = random.Random(7)
    people = [await driver.contributor(f"paced-{i}") for i in range(args.contributors)]

    async def person(i: int) -> Samples:
        aid, headers = people[i]
        own = Samples()
        for turn in range(args.rounds):
            await asyncio.sleep(rng.uniform(args.think_min, args.think_max))
            own.baseline.append(await driver.baseline(f"paced {turn} {i}"))
            await asyncio.sleep(rng.uniform(args.think_min, args.think_max))
            own.turns.append(await driver.turn(aid, headers, turn, f"paced {turn} {i}"))
        return own

    everyone = Samples()
    for own in await asyncio.gather(*(person(i) for i in range(len(people)))):
        everyone.baseline += own.baseline
        everyone.turns += own.turns
    return everyone


async def lockstep_contributors(args: argparse.Namespace, driver: Driver) -> Samples:
    """The worst case: every contributor sends at the same instant, round after round. The
    server's CPU for the whole round then queues on one core: it shows throughput, not the
    latency one person sees."""
    people = [await driver.contributor(f"lockstep-{i}") for i in range(args.contributors)]
    samples = Samples()
    for turn in range(args.rounds):
        samples.baseline += await asyncio.gather(*(
            driver.baseline(f"round {turn} {i}") for i in range(len(people))
        ))  # fmt: skip
        samples.turns += await asyncio.gather(*(
            driver.turn(aid, headers, turn, f"round {turn} {i}")
            for i, (aid, headers) in enumerate(people)
        ))  # fmt: skip
    return samples


def gateway_for(database_url: str) -> tuple[Any, list[Any]]:
    from sqlalchemy import select

    from plaudit.db.models import Model
    from plaudit.gateway import Gateway, spec_from_row

    writes = make_sessionmaker(make_engine(database_url), write=True)
    with session_scope(writes) as session:
        specs = [spec_from_row(m) for m in session.scalars(select(Model).order_by(Model.id))]
    return Gateway(writes), specs


async def gateway_call(gateway: Any, specs: list[Any], prompt: str) -> float:
    from plaudit.gateway import CallContext

    started = time.perf_counter()
    context = CallContext(messages=[{"role": "user", "content": prompt}], tags=["bench"])
    async for _delta in gateway.stream_many(specs, context):
        pass
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="fake model latency")
    parser.add_argument("--turns", type=int, default=60, help="turns for one contributor")
    parser.add_argument("--contributors", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="turns per simultaneous contributor")
    parser.add_argument("--think-min", type=float, default=1.0, help="seconds between turns, min")
    parser.add_argument("--think-max", type=float, default=3.0, help="seconds between turns, max")
    parser.add_argument("--postgres-url", default="", help="run on this (recreated) PostgreSQL DB")
    args = parser.parse_args()
    if args.quick:
        args.turns, args.contributors, args.rounds = 8, 10, 1
        args.think_min, args.think_max = 0.1, 0.3
    ok = asyncio.run(run(args))
    sys.exit(0 if ok or args.quick else 1)


if __name__ == "__main__":
    main()
