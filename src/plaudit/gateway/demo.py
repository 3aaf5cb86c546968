"""Demo models that need no API key: personalities of the fake model server, plus SmolLM2.

Each fake model carries its latency in the endpoint's ``/opts/...`` prefix, so a side-by-side
chat shows answers arriving at different times, through three different adapters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.db.models import Model
from plaudit.gateway.adapters.local_adapter import unavailable_reason
from plaudit.gateway.registry import create_model, update_model

LOCAL_MODEL_NAME = "smollm2-local"


def demo_model_fields(fake_base_url: str) -> list[dict[str, Any]]:
    """Field sets of the demo models for a fake server at ``fake_base_url`` (no trailing /v1)."""
    root = fake_base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]

    def opts(latency_ms: int, chunk_delay_ms: int) -> str:
        return f"{root}/opts/latency_ms={latency_ms},chunk_delay_ms={chunk_delay_ms}"

    models: list[dict[str, Any]] = [
        {
            "name": "fake-terse",
            "adapter": "openai",
            "endpoint": opts(120, 10) + "/v1",
            "upstream_model": "fake-terse",
            "default_params": {"temperature": 0.2},
        },
        {
            "name": "fake-verbose",
            "adapter": "openai",
            "endpoint": opts(450, 25) + "/v1",
            "upstream_model": "fake-verbose",
            "default_params": {"temperature": 0.9, "max_tokens": 512},
        },
        {
            "name": "fake-pirate",
            "adapter": "anthropic",
            "endpoint": opts(250, 30),
            "upstream_model": "fake-pirate",
            "default_params": {"max_tokens": 256},
        },
        {
            "name": "fake-formal",
            "adapter": "http",
            "endpoint": opts(300, 20) + "/v1/chat/completions",
            "input_template": {
                "model": "fake-formal",
                "messages": "${messages}",
                "stream": True,
                "temperature": "${params.temperature}",
                "preamble_override": "${dynamic_attrs.preamble}",
            },
            "output_path": "choices[0].message.content",
            "stream_path": "choices[0].delta.content",
            "default_params": {"temperature": 0.5},
        },
    ]
    if unavailable_reason() is None:
        models.append(
            {
                "name": LOCAL_MODEL_NAME,
                "adapter": "local",
                "upstream_model": "SmolLM2-135M-Instruct",
                "default_params": {"max_tokens": 200, "temperature": 0.2},
                "timeout_s": 120.0,
                "concurrency": 1,
            }
        )
    return models


def register_demo_models(session: Session, org_id: str, fake_base_url: str) -> list[Model]:
    """Create (or refresh, matched by name) the demo models of an organization."""
    out: list[Model] = []
    for fields in demo_model_fields(fake_base_url):
        existing = session.scalar(
            select(Model).where(
                Model.org_id == org_id, Model.name == fields["name"], Model.archived_at.is_(None)
            )
        )
        if existing is None:
            out.append(create_model(session, org_id, **fields))
        else:
            out.append(update_model(session, existing, **fields))
    return out
