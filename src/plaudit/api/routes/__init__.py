"""Routers: thin handlers (authorise, call one service, return a schema)."""
