"""Idempotent sealing: a retried request with the same ``Idempotency-Key`` gets the same licence, never a second.

The key is claimed *before* sealing, in its own transaction, under a unique constraint (caller, key): of two
concurrent requests with one key only one seals; the other sees the claim and answers 409 (with ``Retry-After``)
until the first one finishes, then the same licence. A failed sealing releases the claim so the client can retry.

A claim is a *lease*: it names its holder (``host:pid:start-time:nonce``: the API process and the request) and runs
until ``lease_until``. A retry may take a claim over when its lease has run out, or at once when its holder is gone:
a process on this host that no longer runs (a server killed with SIGKILL leaves claims that nobody would ever
release otherwise), or a request of this very process that has ended without releasing it (the database was down
when it tried). A release that fails is tried again in the background until the lease runs out.

The claim is completed in the licence's own transaction (:func:`complete_in`, called by
:func:`~seal_service.services.sealing.seal_licence`), fenced on the holder: either the licence, its PDF, its audit
entry and the claim's completion are all committed, or none is. A holder that lost its claim to a retry cannot
commit its licence, so one key never yields two licences.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seal_service.errors import InvalidInput, SealServiceError
from seal_service.instance import Instance
from seal_service.storage.access_models import IdempotencyRecord

MAX_KEY_LENGTH = 200
log = logging.getLogger(__name__)
_held: set[str] = set()  # holders (claims) of requests of this process still running
_held_lock = threading.Lock()


class IdempotencyConflict(SealServiceError):
    """A request with the same key is still being processed."""

    status = 409
    slug = "idempotency-in-progress"
    title = "Request with this Idempotency-Key in progress"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, field="Idempotency-Key")
        self.retry_after = retry_after


class ClaimLost(IdempotencyConflict):
    """This request's claim was taken over by a retry (its lease ran out); the retry's licence is the one."""


@dataclass(frozen=True)
class ClaimToken:
    """What the sealing transaction needs to complete a claim: the record and the holder that owns it."""

    record_id: int
    holder: str


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: a fresh (or taken-over) claim, or the licence a previous request issued."""

    record_id: int
    existing_licence_id: str | None
    holder: str = ""

    @property
    def token(self) -> ClaimToken:
        """The token to hand to the sealing transaction."""
        return ClaimToken(record_id=self.record_id, holder=self.holder)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (clock ticks since boot), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@cache
def _host() -> str:
    return socket.gethostname()


def current_holder() -> str:
    """This process as a claim holder: ``host:pid:start-time`` (the start time tells a reused pid apart)."""
    return _process_holder(os.getpid())


@cache
def _process_holder(pid: int) -> str:
    return f"{_host()}:{pid}:{_start_time(pid) or '?'}"


def _new_holder() -> str:
    return f"{current_holder()}:{secrets.token_hex(4)}"


def holder_is_gone(holder: str | None) -> bool:
    """True if ``holder`` was a process on this host that no longer runs, or a request of this process that has
    ended; False if it runs or is elsewhere (then only its lease tells)."""
    if not holder:
        return True
    if holder.startswith(current_holder() + ":"):
        with _held_lock:
            return holder not in _held
    host, _, rest = holder.partition(":")
    pid_text, _, rest = rest.partition(":")
    start = rest.partition(":")[0]
    if host != _host() or not pid_text.isdigit():
        return False  # another node: only its lease tells
    pid = int(pid_text)
    now_start = _start_time(pid)
    if now_start is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return Path("/proc").is_dir()  # /proc exists but not this pid: gone
    return start not in ("?", now_start)


def request_fingerprint(fields: dict[str, object], pdf: bytes) -> str:
    """SHA-256 over the canonical request fields and the PDF bytes."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode())
    digest.update(hashlib.sha256(pdf).digest())
    return digest.hexdigest()


def claim(
    instance: Instance, *, api_key_id: str, key: str, fingerprint: str, at: datetime, holder: str | None = None
) -> Claim:
    """Claim ``key`` for this caller, take over a claim its holder abandoned, or return what an earlier request
    with the same key produced. Raises :class:`IdempotencyConflict` while another live holder has it."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters", field="Idempotency-Key"
        )
    holder = holder or _new_holder()
    lease_until = at + timedelta(seconds=instance.settings.idempotency_lease_seconds)
    for _ in range(5):
        try:
            with instance.writer.begin() as session:
                record = IdempotencyRecord(
                    api_key_id=api_key_id,
                    key=key,
                    request_sha256=fingerprint,
                    created_at=at,
                    holder=holder,
                    lease_until=lease_until,
                )
                session.add(record)
                session.flush()
                record_id = record.id
            return _held_claim(record_id, holder)
        except IntegrityError:
            pass
        with instance.sessions() as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
                )
            )
        if existing is None:  # released between our insert and this read: claim it afresh
            continue
        if existing.request_sha256 != fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was already used with a different request (fields or PDF differ); "
                "use a new key for a new licence",
                field="Idempotency-Key",
            )
        if existing.licence_id is not None:
            return Claim(record_id=existing.id, existing_licence_id=existing.licence_id, holder=existing.holder or "")
        expired = existing.lease_until is None or existing.lease_until <= at
        if not (expired or holder_is_gone(existing.holder)):
            wait = max(1, int((existing.lease_until - at).total_seconds()) + 1) if existing.lease_until else 1
            raise IdempotencyConflict(
                "a request with this Idempotency-Key is still being processed; retry shortly",
                retry_after=min(wait, 5),
            )
        # Take the abandoned claim over, fenced on the holder seen: of several retries only one wins.
        with instance.writer.begin() as session:
            taken = _rowcount(
                session.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.id == existing.id,
                        IdempotencyRecord.licence_id.is_(None),
                        IdempotencyRecord.holder.is_(None)
                        if existing.holder is None
                        else IdempotencyRecord.holder == existing.holder,
                    )
                    .values(holder=holder, lease_until=lease_until)
                )
            )
        if taken == 1:
            return _held_claim(existing.id, holder)
        # Someone completed, released or took it over meanwhile: look again.
    raise IdempotencyConflict("a request with this Idempotency-Key is changing hands; retry shortly")


def _rowcount(result: object) -> int:
    """Rows an UPDATE matched (a ``CursorResult``; typed as a plain ``Result`` by ``Session.execute``)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _held_claim(record_id: int, holder: str) -> Claim:
    with _held_lock:
        _held.add(holder)
    return Claim(record_id=record_id, existing_licence_id=None, holder=holder)


def finished(token: ClaimToken) -> None:
    """The request that holds ``token`` has ended (sealed, refused or failed): its claim is no longer in progress
    here, so a retry may take it over if it was neither completed nor released."""
    with _held_lock:
        _held.discard(token.holder)


def complete_in(session: Session, token: ClaimToken, licence_id: str) -> None:
    """Attach the licence to the claim inside the licence's own transaction; raises :class:`ClaimLost` (and so
    rolls the licence back) if a retry has taken the claim over."""
    done = _rowcount(
        session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == token.record_id,
                IdempotencyRecord.holder == token.holder,
                IdempotencyRecord.licence_id.is_(None),
            )
            .values(licence_id=licence_id, lease_until=None)
        )
    )
    if done != 1:
        raise ClaimLost("a retry of this request took its Idempotency-Key over; retry to get its licence")


def complete(instance: Instance, token: ClaimToken, licence_id: str) -> None:
    """Attach the issued licence to the claim, in a transaction of its own (for callers without one)."""
    with instance.writer.begin() as session:
        complete_in(session, token, licence_id)


def release(instance: Instance, token: ClaimToken) -> None:
    """Forget a claim whose request failed, so that a retry can seal (only while this holder still owns it). If the
    database cannot be reached, the release is retried in the background until the claim's lease runs out."""
    try:
        _delete_claim(instance, token)
    except Exception as exc:  # the database is down: try again later, the retry may come to another node
        log.warning("could not release Idempotency-Key claim %s now (%r); retrying in the background", token, exc)
        threading.Thread(target=_release_later, args=(instance, token), daemon=True, name="claim-release").start()
    finally:
        finished(token)


def _release_later(instance: Instance, token: ClaimToken) -> None:
    deadline = time.monotonic() + instance.settings.idempotency_lease_seconds
    while time.monotonic() < deadline:
        time.sleep(2.0)
        try:
            _delete_claim(instance, token)
            return
        except Exception:  # noqa: S112  # still down: keep trying until the lease runs out anyway
            continue


def _delete_claim(instance: Instance, token: ClaimToken) -> None:
    with instance.writer.begin() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == token.record_id,
                IdempotencyRecord.holder == token.holder,
                IdempotencyRecord.licence_id.is_(None),
            )
        )
