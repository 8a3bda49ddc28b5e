"""Idempotent sealing: a retried request with the same ``Idempotency-Key`` gets the same licence, never a second.

The key is claimed *before* sealing, in its own transaction, under a unique constraint (caller, key): of two
concurrent requests with one key only one seals; the other sees the claim and answers 409 until the first one
finishes, then the same licence. A failed sealing releases the claim so the client can retry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from seal_service.errors import InvalidInput, SealServiceError
from seal_service.instance import Instance
from seal_service.storage.access_models import IdempotencyRecord

MAX_KEY_LENGTH = 200


class IdempotencyConflict(SealServiceError):
    """A request with the same key is still being processed."""

    status = 409
    slug = "idempotency-in-progress"
    title = "Request with this Idempotency-Key in progress"


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: a fresh claim, or the licence a previous request issued."""

    record_id: int
    existing_licence_id: str | None


def request_fingerprint(fields: dict[str, object], pdf: bytes) -> str:
    """SHA-256 over the canonical request fields and the PDF bytes."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode())
    digest.update(hashlib.sha256(pdf).digest())
    return digest.hexdigest()


def claim(instance: Instance, *, api_key_id: str, key: str, fingerprint: str, at: datetime) -> Claim:
    """Claim ``key`` for this caller, or return what an earlier request with the same key produced."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters", field="Idempotency-Key"
        )
    try:
        with instance.writer.begin() as session:
            record = IdempotencyRecord(api_key_id=api_key_id, key=key, request_sha256=fingerprint, created_at=at)
            session.add(record)
            session.flush()
            return Claim(record_id=record.id, existing_licence_id=None)
    except IntegrityError:
        pass
    with instance.sessions() as session:
        existing = session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key)
        )
    if existing is None:  # released between our insert and this read: the client may simply retry
        raise IdempotencyConflict("a request with this Idempotency-Key just failed; retry it")
    if existing.request_sha256 != fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was already used with a different request (fields or PDF differ); "
            "use a new key for a new licence",
            field="Idempotency-Key",
        )
    if existing.licence_id is None:
        raise IdempotencyConflict("a request with this Idempotency-Key is still being processed; retry shortly")
    return Claim(record_id=existing.id, existing_licence_id=existing.licence_id)


def complete(instance: Instance, record_id: int, licence_id: str) -> None:
    """Attach the issued licence to the claim."""
    with instance.writer.begin() as session:
        record = session.get(IdempotencyRecord, record_id)
        if record is not None:
            record.licence_id = licence_id


def release(instance: Instance, record_id: int) -> None:
    """Forget a claim whose request failed, so that a retry can seal."""
    with instance.writer.begin() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
