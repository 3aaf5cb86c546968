"""Organizations, users and API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from plaudit.core.principal import ROLES, SCOPES, Principal
from plaudit.core.security import (
    hash_key,
    hash_password,
    key_matches,
    key_prefix,
    new_api_key,
    new_password,
    verify_password,
)
from plaudit.db.base import utcnow
from plaudit.db.models import ApiKey, Organization, User
from plaudit.errors import Conflict, Invalid, NotFound, Unauthorized


@dataclass(frozen=True)
class CreatedOrg:
    org: Organization
    admin_email: str
    admin_password: str
    api_key: str


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64] or "org"


def create_organization(
    session: Session, name: str, *, admin_email: str | None = None, password: str | None = None
) -> CreatedOrg:
    if not name.strip():
        raise Invalid("organization name must not be empty", path="name")
    slug = slugify(name)
    if session.scalar(select(Organization).where(Organization.slug == slug)):
        raise Conflict(f"organization '{slug}' already exists")
    email = (admin_email or f"admin@{slug}.local").strip().lower()
    if session.scalar(select(User).where(User.email == email)):
        raise Conflict(f"a user with email '{email}' already exists")
    org = Organization(slug=slug, name=name.strip())
    session.add(org)
    session.flush()
    admin_password = password or new_password()
    session.add(
        User(org_id=org.id, email=email, password_hash=hash_password(admin_password), role="admin")
    )
    key = create_api_key(session, org.id, "admin", name="initial admin key")
    return CreatedOrg(org=org, admin_email=email, admin_password=admin_password, api_key=key)


def get_organization_by_slug(session: Session, slug: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"organization '{slug}' not found")
    return org


def create_user(session: Session, org_id: str, email: str, password: str, role: str) -> User:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", path="role")
    email = email.strip().lower()
    if session.scalar(select(User).where(User.email == email)):
        raise Conflict(f"a user with email '{email}' already exists")
    user = User(org_id=org_id, email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def create_api_key(session: Session, org_id: str, scope: str, *, name: str | None = None) -> str:
    """Store a new key hashed and return it; this is the only time it is visible."""
    if scope not in SCOPES:
        raise Invalid(f"scope must be one of {', '.join(SCOPES)}", path="scope")
    key, prefix = new_api_key()
    session.add(
        ApiKey(org_id=org_id, prefix=prefix, key_hash=hash_key(key), scope=scope, name=name)
    )
    session.flush()
    return key


def list_api_keys(session: Session, org_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if org_id is not None:
        query = query.where(ApiKey.org_id == org_id)
    return list(session.scalars(query))


def revoke_api_key(session: Session, prefix: str, org_id: str | None = None) -> ApiKey:
    prefix = key_prefix(prefix) or prefix  # accept the whole key too
    query = select(ApiKey).where(ApiKey.prefix == prefix)
    if org_id is not None:
        query = query.where(ApiKey.org_id == org_id)
    key = session.scalar(query)
    if key is None:
        raise NotFound(f"no API key with prefix '{prefix}'")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


# Built once, plain columns (no ORM objects): every API request runs it.
_KEY_BY_PREFIX = (
    select(ApiKey.id, ApiKey.org_id, ApiKey.scope, ApiKey.key_hash, ApiKey.revoked_at,
           Organization.slug)
    .join(Organization, Organization.id == ApiKey.org_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)  # fmt: skip


def authenticate_key(session: Session, raw_key: str) -> Principal:
    prefix = key_prefix(raw_key.strip())
    row = session.execute(_KEY_BY_PREFIX, {"prefix": prefix}).first() if prefix else None
    if row is None or not key_matches(raw_key.strip(), row.key_hash):
        raise Unauthorized("Unauthorized: invalid API key")
    if row.revoked_at is not None:
        raise Unauthorized("Unauthorized: this API key has been revoked")
    return Principal(org_id=row.org_id, org_slug=row.slug, scope=row.scope, key_id=row.id)


def authenticate_password(session: Session, email: str, password: str) -> Principal:
    row = session.execute(
        select(User, Organization.slug)
        .join(Organization, Organization.id == User.org_id)
        .where(User.email == email.strip().lower())
    ).first()
    if row is None or not verify_password(row[0].password_hash, password):
        raise Unauthorized("wrong email or password")
    user, slug = row
    # A signed-in person acts with their role as scope: admin, reviewer or contributor.
    return Principal(
        org_id=user.org_id, org_slug=slug, scope=user.role, user_id=user.id, role=user.role
    )
