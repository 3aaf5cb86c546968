"""Runs INSIDE the log10-io venv (not plaudit's): drives the real, unmodified client and CLI.

Usage: ``python log10_driver.py < steps.json``. Each step is one of

- ``{"cli": [args...], "save": {"name": "regex with one group"}}``: the ``log10`` CLI (its click
  group, invoked in this process so one interpreter start serves many commands); ``$name`` in
  args is replaced by values saved from earlier outputs;
- ``{"call": "<function below>", "kwargs": {...}, "save_as": "name"}``: an SDK path (its
  result's ``id`` saved as ``$name``; ``$name`` in kwargs strings is replaced too);
- either may carry ``"env": {...}``, set for that step only.

It prints one JSON line, after MARKER, holding one result per step. Configuration comes from the
environment (LOG10_URL, LOG10_TOKEN, LOG10_ORG_ID, OPENAI_*, ANTHROPIC_*), read by log10 at import.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import string
import sys
from typing import Any

MARKER = "@@LOG10-DRIVER@@"


def _http_error(exc: Exception) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    out: dict[str, Any] = {"raised": type(exc).__name__, "message": str(exc)}
    if response is not None:
        out["status"] = response.status_code
        try:
            out["body"] = response.json()
        except ValueError:
            out["body"] = response.text
    return out


def _content(response: Any) -> str:
    return response.choices[0].message.content


def openai_chat(tags: list[str], prompt: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    from log10.load import OpenAI

    client = OpenAI(tags=tags)
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], temperature=0
    )
    return {"content": _content(response)}


def openai_stream(tags: list[str], prompt: str) -> dict[str, Any]:
    from log10.load import OpenAI

    client = OpenAI(tags=tags)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
    )
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    return {"content": text}


def async_openai(tags: list[str], prompt: str, stream_prompt: str) -> dict[str, Any]:
    import openai
    from log10._httpx_utils import finalize
    from log10.load import log10, log10_session

    log10(openai)  # patches openai.AsyncOpenAI.__init__ (log10.load exports no AsyncOpenAI)

    async def main() -> dict[str, Any]:
        client = openai.AsyncOpenAI()
        messages = [{"role": "user", "content": prompt}]
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": stream_prompt}],
            stream=True,
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await finalize()  # the log posts are fire-and-forget tasks
        return {"content": _content(response), "stream_content": "".join(parts)}

    with log10_session(tags=tags):
        return asyncio.run(main())


def anthropic_messages(tags: list[str], prompt: str, stream_prompt: str) -> dict[str, Any]:
    from log10.load import Anthropic

    client = Anthropic(tags=tags)
    message = client.messages.create(
        model="claude-3-haiku-20240307",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": prompt}],
    )
    with client.messages.stream(
        model="claude-3-haiku-20240307",
        max_tokens=64,
        messages=[{"role": "user", "content": stream_prompt}],
    ) as stream:
        streamed = "".join(stream.text_stream)
    return {"content": message.content[0].text, "stream_content": streamed}


def mock_chat(tags: list[str], prompt: str, reply: str, token: str | None = None) -> dict[str, Any]:
    from log10.completions.completions import Completions
    from log10.llm import Log10Config

    result = Completions(Log10Config(token=token)).mock_chat_completions(
        model="gpt-4o",
        messages=[{"role": "user", "content": prompt}],
        response_content=reply,
        tags=tags,
    )
    if result is None:  # the client logs a failed post and returns None
        return {"id": None}
    return {"id": result.id.removeprefix("chatcmpl-"), "content": _content(result)}


def task_create(token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    from log10.feedback.feedback_task import FeedbackTask
    from log10.llm import Log10Config

    try:
        response = FeedbackTask(Log10Config(token=token)).create(**kwargs)
    except Exception as exc:  # the client re-raises httpx errors after logging them
        return _http_error(exc)
    return {"status": response.status_code, "body": response.json()}


def task_get(id: str) -> dict[str, Any]:
    from log10.feedback.feedback_task import FeedbackTask

    try:
        response = FeedbackTask().get(id)
    except Exception as exc:
        return _http_error(exc)
    return {"status": response.status_code, "body": response.json()}


def feedback_create(token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    from log10.feedback.feedback import Feedback
    from log10.llm import Log10Config

    try:
        response = Feedback(Log10Config(token=token)).create(**kwargs)
    except Exception as exc:
        return _http_error(exc)
    return {"status": response.status_code, "body": response.json()}


def feedback_list(token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    from log10.feedback.feedback import Feedback
    from log10.llm import Log10Config

    try:
        response = Feedback(Log10Config(token=token)).list(**kwargs)
    except Exception as exc:
        return _http_error(exc)
    return {"status": response.status_code, "body": response.json()}


def post_completion_log(completion_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Send log rows for one id in the given order with log10's own poster (httpx path)."""
    from log10._httpx_utils import _try_post_request
    from log10.llm import Log10Config

    url = f"{Log10Config().url}/api/completions/{completion_id}"
    statuses = []
    for row in rows:
        response = _try_post_request(url, dict(row))
        statuses.append(response.status_code if response is not None else None)
    return {"statuses": statuses}


def legacy_llm_session() -> dict[str, Any]:
    """The legacy `LLM` abstraction starts with POST /api/sessions (its later logging refuses
    any host but log10.io, so only this first step can work against plaudit)."""
    from log10.llm import LLM, Log10Config

    llm = LLM({"model": "gpt-4o-mini"}, log10_config=Log10Config())
    return {"session_id": llm.session_id, "logging": llm.log10_config is not None}


CALLS = {
    f.__name__: f
    for f in (
        openai_chat, openai_stream, async_openai, anthropic_messages, mock_chat,
        task_create, task_get, feedback_create, feedback_list, post_completion_log,
        legacy_llm_session,
    )
}  # fmt: skip


def run_cli(args: list[str]) -> dict[str, Any]:
    from click.testing import CliRunner
    from log10.__main__ import cli

    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    exception = result.exception
    return {
        "exit_code": result.exit_code,
        "output": result.output,
        "exception": None if exception is None or isinstance(exception, SystemExit)
        else f"{type(exception).__name__}: {exception}",
    }  # fmt: skip


def main() -> None:
    steps = json.load(sys.stdin)
    saved: dict[str, str] = {}
    results = []
    for step in steps:
        before = {k: os.environ.get(k) for k in step.get("env", {})}
        os.environ.update(step.get("env", {}))  # read by Log10Config() when a command builds one
        if "cli" in step:
            args = [string.Template(a).safe_substitute(saved) for a in step["cli"]]
            result = run_cli(args)
            for name, pattern in step.get("save", {}).items():
                found = re.search(pattern, result["output"])
                if found:
                    saved[name] = found.group(1)
        else:
            kwargs = json.loads(
                string.Template(json.dumps(step.get("kwargs", {}))).safe_substitute(saved)
            )
            result = CALLS[step["call"]](**kwargs)
            if "save_as" in step:
                saved[step["save_as"]] = str(result.get("id"))
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        results.append(result)
    sys.stdout.write("\n" + MARKER + json.dumps({"results": results, "saved": saved}) + "\n")


if __name__ == "__main__":
    main()
