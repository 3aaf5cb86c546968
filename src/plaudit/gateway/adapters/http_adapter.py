"""``http``: any JSON endpoint, driven by an input-schema template and output paths.

The request body is ``input_template`` rendered with the conversation (see
:mod:`plaudit.gateway.templates`). Without ``stream_path`` the reply text is read at
``output_path`` in the JSON answer; with it, the answer is read as a stream (SSE ``data:``
lines, or JSON lines) and each chunk's text delta is read at ``stream_path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import orjson

from plaudit.errors import Invalid
from plaudit.gateway.adapters.base import (
    CallRecord,
    HTTPPoolAdapter,
    call_params,
    chat_messages,
    lines_of,
)
from plaudit.gateway.errors import (
    UpstreamError,
    WrongShape,
    body_message,
    malformed,
)
from plaudit.gateway.templates import MISSING, check_template, extract, parse_path, render
from plaudit.gateway.types import CallContext, ModelSpec

JSON_TYPES = ("application/json", "text/json")


class HTTPAdapter(HTTPPoolAdapter):
    name: ClassVar[str] = "http"
    description: ClassVar[str] = "Any JSON endpoint: input-schema template + output path."
    needs_endpoint: ClassVar[bool] = True
    follow_redirects: ClassVar[bool] = False

    @classmethod
    def check_config(cls, fields: dict[str, Any]) -> None:
        super().check_config(fields)
        template = fields.get("input_template")
        if template is None:
            raise Invalid(
                "adapter 'http' needs an input_template (the JSON body, with ${...} placeholders)",
                path="input_template",
            )
        check_template(template)
        if not fields.get("output_path") and not fields.get("stream_path"):
            raise Invalid(
                "adapter 'http' needs an output_path to the reply text, e.g. "
                "'choices[0].message.content'",
                path="output_path",
            )
        for field in ("output_path", "stream_path"):
            if fields.get(field):
                parse_path(fields[field], field)

    async def stream(
        self, spec: ModelSpec, ctx: CallContext, call: CallRecord
    ) -> AsyncIterator[str]:
        if not spec.endpoint or spec.input_template is None:
            raise UpstreamError("the model has no endpoint or input_template configured")
        params = call_params(spec, ctx)
        values = {
            "messages": chat_messages(ctx, params, preamble=False),
            "prompt": ctx.prompt,
            "system_prompt": params.get("system_prompt"),
            "model": spec.upstream_name,
            "params": params,
            "dynamic_attrs": ctx.dynamic_attrs,
        }
        body = render(spec.input_template, values)
        call.request = body if isinstance(body, dict) else {"body": body}
        async with self.post_json(
            spec, spec.endpoint, body, _headers(spec, params)
        ) as response:  # fmt: skip
            content_type = response.headers.get("content-type", "").lower()
            if spec.stream_path and not content_type.startswith(JSON_TYPES):
                sse = "event-stream" in content_type
                async for text in _read_stream(response, spec.stream_path, sse, call):
                    yield text
            else:
                yield _read_document(await response.read(), spec, call)


def _headers(spec: ModelSpec, params: dict[str, Any]) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    extra = params.get("headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    if spec.secret:
        name = str(params.get("auth_header") or "Authorization")
        headers[name] = f"Bearer {spec.secret}" if name.lower() == "authorization" else spec.secret
    return headers


def _read_document(raw: bytes, spec: ModelSpec, call: CallRecord) -> str:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed(exc, "the answer") from None
    path = spec.output_path or spec.stream_path or ""
    value = extract(document, parse_path(path))
    if isinstance(document, dict) and isinstance(document.get("usage"), dict):
        call.usage = document["usage"]
    if value is MISSING or not isinstance(value, str):
        found = (
            f"top-level keys: {', '.join(list(document)[:10])}"
            if isinstance(document, dict)
            else f"a JSON {type(document).__name__}"
        )
        what = "no text" if value is MISSING else f"a {type(value).__name__}, not text,"
        raise WrongShape(f"{what} at output_path '{path}' in the answer (wrong shape; {found})")
    return value


async def _read_stream(
    response: aiohttp.ClientResponse, stream_path: str, sse: bool, call: CallRecord
) -> AsyncIterator[str]:
    tokens = parse_path(stream_path, "stream_path")
    matched = unmatched = 0
    async for raw_line in lines_of(response):
        line = raw_line.strip()
        if not line:
            continue
        if sse:
            if not line.startswith(b"data:"):
                continue  # event:, id:, retry: and comment lines
            line = line[5:].strip()
            if line == b"[DONE]":
                break
        try:
            chunk = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise malformed(exc, f"stream chunk {matched + unmatched + 1}") from None
        if isinstance(chunk, dict):
            if chunk.get("error"):
                raise UpstreamError(f"the stream reported an error: {body_message(line)}")
            if isinstance(chunk.get("usage"), dict):
                call.usage = chunk["usage"]
        value = extract(chunk, tokens)
        if value is MISSING or value is None:
            unmatched += 1
            continue
        if not isinstance(value, str):
            raise WrongShape(
                f"stream chunk {matched + unmatched + 1} has a {type(value).__name__}, not text, "
                f"at stream_path '{stream_path}' (wrong shape)"
            )
        matched += 1
        yield value
    if not matched:
        raise WrongShape(
            f"no chunk of the stream had text at stream_path '{stream_path}' "
            f"({unmatched} chunks; wrong shape)"
        )
    call.finish_reason = call.finish_reason or "stop"
