"""Model gateway: the registry of models an organization evaluates, adapters to call them,
and streaming fan-out to several models at once, each call recorded as a completion."""

from plaudit.gateway.service import Gateway, get_gateway, install_gateway
from plaudit.gateway.types import CallContext, Delta, ModelSpec, spec_from_row

__all__ = [
    "CallContext",
    "Delta",
    "Gateway",
    "ModelSpec",
    "get_gateway",
    "install_gateway",
    "spec_from_row",
]
