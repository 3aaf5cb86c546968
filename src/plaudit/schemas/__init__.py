"""Pydantic request/response schemas, one module per resource (XCreate / XUpdate / XRead)."""
