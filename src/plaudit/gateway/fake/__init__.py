"""A fake model server speaking the OpenAI and Anthropic wire formats, for tests and demos.

It is a real HTTP server (Starlette on uvicorn), so official SDKs and plaudit's gateway talk to
it exactly as to a hosted model. Replies are deterministic per (model name, messages); faults
and latency are injectable per server, per URL prefix (``/opts/k=v,...``) and per request
(``X-Fake-*`` headers). Module map:

- ``options``: :class:`FakeOptions` and how requests override them
- ``replies``: personalities and deterministic reply text / tool calls
- ``openai_format`` / ``anthropic_format``: the wire formats
- ``app``: routing, fault injection, request log
- ``server``: :class:`FakeModelServer` (background thread) and :func:`run_fake_model`
"""

from plaudit.gateway.fake.app import FakeState, create_fake_app
from plaudit.gateway.fake.options import MALFORMED_KINDS, FakeOptions
from plaudit.gateway.fake.replies import PERSONALITIES, model_names
from plaudit.gateway.fake.server import FakeModelServer, run_fake_model

__all__ = [
    "MALFORMED_KINDS",
    "PERSONALITIES",
    "FakeModelServer",
    "FakeOptions",
    "FakeState",
    "create_fake_app",
    "model_names",
    "run_fake_model",
]
