"""Alias module: ``from plaudit.gateway.gateway import Gateway`` works as well."""

from plaudit.gateway.service import Gateway, get_gateway, install_gateway

__all__ = ["Gateway", "get_gateway", "install_gateway"]
