"""Model registry payloads. The secret is accepted on write and never part of a response."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, description="Unique within the organization.")
    adapter: str = Field(description="openai | anthropic | http | local (or a plugin's).")
    endpoint: str | None = Field(None, max_length=2000, description="Base URL / URL / file.")
    upstream_model: str | None = Field(None, max_length=200, description="Name sent upstream.")
    secret: str | None = Field(None, description="API key; write-only, never returned.")
    default_params: dict[str, Any] = Field(
        default_factory=dict, description="temperature, max_tokens, system_prompt, …"
    )
    input_template: dict[str, Any] | list[Any] | None = Field(
        None, description="http adapter: JSON body with ${messages}, ${prompt}, … placeholders."
    )
    output_path: str | None = Field(None, max_length=500, examples=["choices[0].message.content"])
    stream_path: str | None = Field(None, max_length=500, examples=["choices[0].delta.content"])
    timeout_s: float = Field(60.0, description="Seconds without a token before giving up.")
    max_retries: int = Field(2, description="Retries on 429/5xx/connection errors.")
    concurrency: int = Field(8, description="Calls to this model at once (per process).")


class ModelUpdate(BaseModel):
    """Only the keys sent change; ``"secret": null`` removes the secret."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    adapter: str | None = None
    endpoint: str | None = Field(None, max_length=2000)
    upstream_model: str | None = Field(None, max_length=200)
    secret: str | None = None
    default_params: dict[str, Any] | None = None
    input_template: dict[str, Any] | list[Any] | None = None
    output_path: str | None = Field(None, max_length=500)
    stream_path: str | None = Field(None, max_length=500)
    timeout_s: float | None = None
    max_retries: int | None = None
    concurrency: int | None = None

    def changes(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        for key in ("name", "adapter", "default_params", "timeout_s", "max_retries", "concurrency"):
            if key in data and data[key] is None:
                del data[key]  # not nullable: null means "leave as is"
        return data


class ModelRead(BaseModel):
    id: int
    organization_id: str
    name: str
    adapter: str
    endpoint: str | None
    upstream_model: str | None
    has_secret: bool
    default_params: dict[str, Any]
    input_template: dict[str, Any] | list[Any] | None
    output_path: str | None
    stream_path: str | None
    timeout_s: float
    max_retries: int
    concurrency: int
    archived: bool
    archived_at: str | None
    created_at: str | None


class ModelTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("Say hello in five words.", max_length=10_000)
    system_prompt: str | None = Field(None, max_length=10_000)


class ModelTestResult(BaseModel):
    ok: bool
    model_id: int
    reply: str = Field(description="The reply text (partial when the call failed midway).")
    error: str | None = None
    completion_id: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
