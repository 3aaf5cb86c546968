"""The model registry: an organization's models, validated when saved.

Services follow ``core/``'s habits: session first, plain arguments, ``plaudit.errors`` raised.
The secret is write-only: it is stored, passed to the adapter, and never returned — readers
get ``has_secret`` from :func:`public_fields`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from plaudit.db.base import utcnow
from plaudit.db.models import Model
from plaudit.errors import Conflict, Invalid, NotFound
from plaudit.gateway.plugins import adapter_class
from plaudit.gateway.types import ModelSpec, spec_from_row

FIELDS = (
    "name", "adapter", "endpoint", "upstream_model", "secret", "default_params",
    "input_template", "output_path", "stream_path", "timeout_s", "max_retries", "concurrency",
)  # fmt: skip
DEFAULTS: dict[str, Any] = {
    "endpoint": None, "upstream_model": None, "secret": None, "default_params": {},
    "input_template": None, "output_path": None, "stream_path": None, "timeout_s": 60.0,
    "max_retries": 2, "concurrency": 8,
}  # fmt: skip
MAX_TIMEOUT_S = 3600.0
MAX_RETRIES = 10
MAX_CONCURRENCY = 1000
NUMBER_PARAMS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def _text(value: Any, field: str, max_length: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise Invalid(f"{field} is required", path=field)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", path=field)
    value = value.strip()
    if required and not value:
        raise Invalid(f"{field} must not be empty", path=field)
    if len(value) > max_length:
        raise Invalid(f"{field} is longer than {max_length} characters", path=field)
    return value


def _number(value: Any, field: str, low: float, high: float, *, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field} must be a number", path=field)
    if integer and not float(value).is_integer():
        raise Invalid(f"{field} must be a whole number", path=field)
    if not low <= value <= high:
        raise Invalid(f"{field} must be between {low:g} and {high:g}", path=field)
    return int(value) if integer else float(value)


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("default_params must be a JSON object", path="default_params")
    for key in NUMBER_PARAMS:
        if key in value and value[key] is not None:
            _number(value[key], f"default_params.{key}", -1000, 1000)
    if value.get("max_tokens") is not None:
        _number(value["max_tokens"], "default_params.max_tokens", 1, 10_000_000, integer=True)
    prompt = value.get("system_prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise Invalid("default_params.system_prompt must be a string", path="default_params")
    return dict(value)


def clean_model_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a complete set of model fields (as they will be saved); raise ``Invalid``."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise Invalid(f"unknown model field(s): {', '.join(unknown)}", path=unknown[0])
    out = {**DEFAULTS, **fields}
    out["name"] = _text(out["name"] if "name" in fields else None, "name", 200, required=True)
    out["adapter"] = _text(out.get("adapter"), "adapter", 32, required=True)
    out["endpoint"] = _text(out["endpoint"], "endpoint", 2000)
    out["upstream_model"] = _text(out["upstream_model"], "upstream_model", 200)
    for path_field in ("output_path", "stream_path"):
        out[path_field] = _text(out[path_field], path_field, 500)
    secret = out["secret"]
    if secret is not None and not isinstance(secret, str):
        raise Invalid("secret must be a string", path="secret")
    out["secret"] = secret or None
    out["default_params"] = _params(out["default_params"])
    template = out["input_template"]
    if template is not None and not isinstance(template, dict | list):
        raise Invalid(
            "input_template must be a JSON object (the request body)", path="input_template"
        )
    out["timeout_s"] = _number(out["timeout_s"], "timeout_s", 0.001, MAX_TIMEOUT_S)
    out["max_retries"] = _number(out["max_retries"], "max_retries", 0, MAX_RETRIES, integer=True)
    out["concurrency"] = _number(
        out["concurrency"], "concurrency", 1, MAX_CONCURRENCY, integer=True
    )
    adapter_class(out["adapter"]).check_config(out)
    return out


def _check_name_free(session: Session, org_id: str, name: str, model_id: int | None) -> None:
    existing = session.scalar(select(Model).where(Model.org_id == org_id, Model.name == name))
    if existing is not None and existing.id != model_id:
        raise Conflict(f"a model named '{name}' already exists (id {existing.id})", path="name")


def create_model(session: Session, org_id: str, **fields: Any) -> Model:
    """Register a model; ``Invalid`` names the bad field, ``Conflict`` a taken name."""
    clean = clean_model_fields(fields)
    _check_name_free(session, org_id, clean["name"], None)
    model = Model(org_id=org_id, **clean)
    session.add(model)
    session.flush()
    return model


def get_model(
    session: Session, org_id: str, model_id: int, *, include_archived: bool = False
) -> Model:
    # Ids are 32-bit integers: a larger one cannot exist (and PostgreSQL refuses to bind it).
    model = session.get(Model, model_id) if 0 < model_id < 2**31 else None
    if model is None or model.org_id != org_id or (model.archived_at and not include_archived):
        raise NotFound(f"model {model_id} not found")
    return model


def get_model_by_name(session: Session, org_id: str, name: str) -> Model:
    model = session.scalar(
        select(Model).where(Model.org_id == org_id, Model.name == name, Model.archived_at.is_(None))
    )
    if model is None:
        raise NotFound(f"model '{name}' not found")
    return model


def list_models(session: Session, org_id: str, *, include_archived: bool = False) -> list[Model]:
    query = select(Model).where(Model.org_id == org_id)
    if not include_archived:
        query = query.where(Model.archived_at.is_(None))
    return list(session.scalars(query.order_by(Model.id)))


def update_model(session: Session, model: Model, **changes: Any) -> Model:
    """Apply ``changes`` (only the keys given; ``secret=None`` clears the secret)."""
    current = {field: getattr(model, field) for field in FIELDS}
    clean = clean_model_fields({**current, **changes})
    if clean["name"] != model.name:
        _check_name_free(session, model.org_id, clean["name"], model.id)
    for field, value in clean.items():
        setattr(model, field, value)
    session.flush()
    return model


def archive_model(session: Session, model: Model) -> Model:
    """Hide the model from lists and calls; old completions and jobs keep its id.

    The name is released (suffixed with the id) so a new model may take it.
    """
    if model.archived_at is None:
        model.archived_at = utcnow()
        suffix = f" (archived {model.id})"
        model.name = model.name[: 200 - len(suffix)] + suffix
        session.flush()
    return model


# Built once: every chat turn runs it (building and cache-keying it cost more than running it).
_MODELS_BY_IDS = select(Model).where(
    Model.org_id == bindparam("org_id"),
    Model.id.in_(bindparam("ids", expanding=True)),
    Model.archived_at.is_(None),
)


def models_by_ids(session: Session, org_id: str, ids: Sequence[int]) -> list[Model]:
    """The models with these ids, in the order given; ``NotFound`` names the first unknown."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    found = {m.id: m for m in session.scalars(_MODELS_BY_IDS, {"org_id": org_id, "ids": wanted})}
    for model_id in wanted:
        if model_id not in found:
            raise NotFound(f"model {model_id} not found")
    return [found[i] for i in wanted]


def public_fields(model: Model) -> dict[str, Any]:
    """The model as anyone may see it: everything but the secret, plus ``has_secret``."""
    return {
        "id": model.id,
        "organization_id": model.org_id,
        "name": model.name,
        "adapter": model.adapter,
        "endpoint": model.endpoint,
        "upstream_model": model.upstream_model,
        "has_secret": bool(model.secret),
        "default_params": model.default_params or {},
        "input_template": model.input_template,
        "output_path": model.output_path,
        "stream_path": model.stream_path,
        "timeout_s": model.timeout_s,
        "max_retries": model.max_retries,
        "concurrency": model.concurrency,
        "archived": model.archived_at is not None,
        "archived_at": model.archived_at.isoformat() if model.archived_at else None,
        "created_at": model.created_at.isoformat() if model.created_at else None,
    }


def load_spec(sessions: sessionmaker[Session], org_id: str, model_id: int) -> ModelSpec:
    """Read one model in a short read session and snapshot it (for callers off a request)."""
    with sessions() as session:
        return spec_from_row(get_model(session, org_id, model_id))


def load_spec_by_name(sessions: sessionmaker[Session], org_id: str, name: str) -> ModelSpec:
    with sessions() as session:
        return spec_from_row(get_model_by_name(session, org_id, name))
