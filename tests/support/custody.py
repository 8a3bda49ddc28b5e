"""Helpers for key-custody tests: staff keys in every role, and seals of their own to rotate or revoke."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from seal_service.services.apikeys import Caller, IssuedKey, Role, create_api_key


@dataclass(frozen=True)
class Staff:
    """Callers (and their secrets) in each role."""

    alice: IssuedKey
    """Security officer."""
    bob: IssuedKey
    """Another security officer."""
    auditor: IssuedKey
    operator: IssuedKey
    system: IssuedKey
    """The bureau's approval system."""

    @property
    def officer_a(self) -> Caller:
        """Alice as a caller."""
        return self.alice.caller

    @property
    def officer_b(self) -> Caller:
        """Bob as a caller."""
        return self.bob.caller


def make_staff(instance, *, at: datetime | None = None) -> Staff:  # type: ignore[no-untyped-def]
    """One key per role (names made unique per call, so staff of different tests never look alike)."""
    at = at or datetime.now(UTC)
    tag = secrets.token_hex(3)

    def key(name: str, role: Role, authority: str | None = None) -> IssuedKey:
        return create_api_key(instance, name=f"{name} {tag}", role=role, authority_code=authority, at=at)

    return Staff(
        alice=key("Alice", Role.SECURITY_OFFICER),
        bob=key("Bob", Role.SECURITY_OFFICER),
        auditor=key("Audrey", Role.AUDITOR),
        operator=key("Oscar", Role.OPERATOR),
        system=key("审批系统", Role.APPROVAL_SYSTEM, "jc-bureau"),
    )


def fresh_seal(instance, *, authority: str = "jc-bureau", at: datetime | None = None) -> str:  # type: ignore[no-untyped-def]
    """A new seal of ``authority`` that only the calling test uses (so it may rotate or revoke it)."""
    from seal_service.services.rotation import create_seal

    seal_id = f"{authority}-approval-t{secrets.token_hex(3)}"
    create_seal(instance, authority_code=authority, seal_id=seal_id, at=at or datetime.now(UTC), actor="test")
    return seal_id
