"""A tiny application run as a subprocess by the SDK process tests.

usage: sdk_app_script.py calls <openai_base_url> <n>   → time n bare and n wrapped calls
       sdk_app_script.py fork <openai_base_url>        → one call before and one in a fork child
       sdk_app_script.py flush                          → just start, replay the spool, flush
Prints one JSON line on stdout.
"""

from __future__ import annotations

import os
import sys
import time

import orjson


def calls(base_url: str, n: int) -> dict[str, object]:
    import openai

    import plaudit

    messages = [{"role": "user", "content": "hello"}]
    bare = openai.OpenAI(base_url=base_url, api_key="k")
    wrapped = plaudit.OpenAI(base_url=base_url, api_key="k", tags=["offline-app"])
    for client in (bare, wrapped):  # warm both connections
        client.chat.completions.create(model="m", messages=messages)
    timings: dict[str, list[float]] = {"bare": [], "wrapped": []}
    ids = []
    for _ in range(n):
        for name, client in (("bare", bare), ("wrapped", wrapped)):
            start = time.perf_counter()
            reply = client.chat.completions.create(model="m", messages=messages)
            timings[name].append(time.perf_counter() - start)
            if name == "wrapped":
                ids.append(plaudit.completion_id(reply))
    return {"ids": ids, **{k: sorted(v)[len(v) // 2] for k, v in timings.items()}}


def fork(base_url: str) -> dict[str, object]:
    import plaudit

    client = plaudit.OpenAI(base_url=base_url, api_key="k", tags=["fork"])
    messages = [{"role": "user", "content": "hello"}]
    parent_id = plaudit.completion_id(client.chat.completions.create(model="m", messages=messages))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        child_id = plaudit.completion_id(
            client.chat.completions.create(model="m", messages=messages)
        )
        delivered = plaudit.flush(20)
        os.write(write, orjson.dumps({"child_id": child_id, "delivered": delivered}))
        os.close(write)
        os._exit(0)
    os.close(write)
    child = orjson.loads(os.read(read, 65536) or b"{}")
    os.waitpid(pid, 0)
    return {"parent_id": parent_id, **child, "parent_delivered": plaudit.flush(20)}


def main() -> None:
    mode = sys.argv[1]
    if mode == "calls":
        result = calls(sys.argv[2], int(sys.argv[3]))
    elif mode == "fork":
        result = fork(sys.argv[2])
    else:
        import plaudit

        result = {"flushed": plaudit.flush(60)}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
