"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from plaudit.errors import Forbidden

SCOPES = ("admin", "ingest", "feedback")
ROLES = ("admin", "reviewer", "contributor")


@dataclass(frozen=True)
class Principal:
    org_id: str
    org_slug: str
    scope: str  # admin | ingest | feedback (a user session acts with its role's scope)
    key_id: str | None = None
    user_id: str | None = None
    role: str | None = None

    @property
    def actor_id(self) -> str:
        """Stable id of the person or key acting; used for leases and authorship."""
        return self.user_id or self.key_id or "anonymous"

    def require(self, *scopes: str) -> None:
        """Admin may do everything; other scopes only what is listed."""
        if self.scope == "admin" or self.scope in scopes:
            return
        raise Forbidden(
            f"this API key has scope '{self.scope}'; this action needs "
            + " or ".join(repr(s) for s in ("admin", *scopes))
        )
