"""API keys: who calls, in which role, for which authority. Secrets are shown once and stored as hashes.

Example::

    >>> issued = create_api_key(instance, name="晋城市审批系统", role=Role.APPROVAL_SYSTEM,
    ...                         authority_code="jc-bureau", at=now)          # doctest: +SKIP
    >>> authenticate(instance, issued.secret, at=now).authority_code          # doctest: +SKIP
    'jc-bureau'

A key is ``sk_<id>_<secret>``: the id finds the row, the secret (160 random bits) is compared by its SHA-256
in constant time. A plain hash is enough for a random secret of that size (no password to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from seal_service.errors import InvalidInput, NotFound, SealServiceError
from seal_service.instance import Instance
from seal_service.services.audit import record
from seal_service.storage.access_models import ApiKey
from seal_service.storage.models import Authority


class Role(StrEnum):
    """What a caller may do. Each role sees and does only its part."""

    APPROVAL_SYSTEM = "approval-system"
    """Seals licences with its own authority's seals; manages its own licences' status."""
    SECURITY_OFFICER = "security-officer"
    """Requests and approves key generation, rotation, revocation (dual control)."""
    AUDITOR = "auditor"
    """Reads and exports the audit log; changes nothing."""
    OPERATOR = "operator"
    """Runs the service: health, catalogue, memoranda; no key operations."""
    SUPERVISOR = "supervisor"
    """A supervising department (审管分离): reads the events of its items and seals, files findings."""


class Unauthenticated(SealServiceError):
    """No key, a malformed key, an unknown or revoked key."""

    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    key_id: str
    name: str
    role: Role
    authority_id: int | None
    authority_code: str | None


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key; ``secret`` is shown once and never stored."""

    key_id: str
    secret: str
    caller: Caller


@dataclass(frozen=True)
class ApiKeyView:
    """A key as listed (no secret, no hash)."""

    key_id: str
    name: str
    role: str
    authority_code: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    instance: Instance, *, name: str, role: Role, authority_code: str | None, at: datetime, actor: str = "cli"
) -> IssuedKey:
    """Create a key; approval systems must name their authority."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a key needs a name of 1 to 200 characters", field="name")
    if role is Role.APPROVAL_SYSTEM and not authority_code:
        raise InvalidInput("an approval system's key must be bound to an authority", field="authority")
    if role is Role.SUPERVISOR and not authority_code:
        raise InvalidInput("a supervisor's key must be bound to its department (--authority)", field="authority")
    key_id = "k" + secrets.token_hex(6)
    secret = f"sk_{key_id}_{secrets.token_urlsafe(20)}"
    with instance.writer.begin() as session:
        authority = None
        if authority_code:
            authority = session.scalar(select(Authority).where(Authority.code == authority_code))
            if authority is None:
                raise NotFound(f"unknown authority {authority_code!r}", field="authority")
        session.add(
            ApiKey(
                id=key_id,
                name=name,
                role=role.value,
                authority_id=authority.id if authority else None,
                secret_sha256=_hash(secret),
                created_at=at,
            )
        )
        record(
            session,
            at=at,
            actor=actor,
            action="apikey.create",
            details={"key_id": key_id, "role": role.value, "authority": authority_code},
        )
    caller = Caller(
        key_id=key_id,
        name=name,
        role=role,
        authority_id=authority.id if authority else None,
        authority_code=authority_code,
    )
    return IssuedKey(key_id=key_id, secret=secret, caller=caller)


def list_api_keys(instance: Instance) -> list[ApiKeyView]:
    """Every key, newest first."""
    with instance.sessions() as session:
        codes = {a.id: a.code for a in session.scalars(select(Authority))}
        rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()
        return [
            ApiKeyView(
                key_id=r.id,
                name=r.name,
                role=r.role,
                authority_code=codes.get(r.authority_id) if r.authority_id else None,
                created_at=r.created_at,
                revoked_at=r.revoked_at,
                last_used_at=r.last_used_at,
            )
            for r in rows
        ]


def revoke_api_key(instance: Instance, key_id: str, *, at: datetime, actor: str = "cli") -> None:
    """Revoke a key at once."""
    with instance.writer.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"unknown API key {key_id!r}", field="key_id")
        if row.revoked_at is None:
            row.revoked_at = at
        record(session, at=at, actor=actor, action="apikey.revoke", details={"key_id": key_id})


def authenticate(instance: Instance, presented: str | None, *, at: datetime) -> Caller:
    """The caller behind a presented key; :class:`Unauthenticated` otherwise (never says which part was wrong)."""
    if not presented:
        raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    parts = presented.split("_")
    if len(parts) < 3 or parts[0] != "sk":
        raise Unauthenticated("the API key is malformed")
    key_id = parts[1]
    # One query per request (every authenticated call pays for it): the key and its authority's code together.
    query = (
        select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.authority_id, ApiKey.secret_sha256, ApiKey.revoked_at)
        .add_columns(Authority.code)
        .outerjoin(Authority, Authority.id == ApiKey.authority_id)
        .where(ApiKey.id == key_id)
    )
    with instance.sessions() as session:
        row = session.execute(query).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_sha256, _hash(presented)) or row.revoked_at is not None:
        raise Unauthenticated("the API key is unknown or revoked")
    return Caller(
        key_id=row.id, name=row.name, role=Role(row.role), authority_id=row.authority_id, authority_code=row.code
    )
