"""Idempotency-Key claims are leases a retry can recover, completed in the licence's own transaction.

A claim left by a process that died (SIGKILL) is taken over by the retry at once on the same host, or when its
lease runs out on another; a claim whose lease ran out while its holder still sealed cannot be completed by that
holder (its licence is rolled back with the claim), so one key never yields two licences.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from seal_service.services import idempotency
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.access_models import IdempotencyRecord
from seal_service.storage.models import AuditEntry, Licence, LicenceDocument
from tests.seal_service.api.test_licences_api import FIELDS, _is_problem, _licence_count, _post

CLAIM_AND_WAIT = """
import sys
from datetime import UTC, datetime
from seal_service.instance import Instance
from seal_service.services import idempotency
from seal_service.settings import Settings

instance = Instance(Settings())
idempotency.claim(instance, api_key_id=sys.argv[1], key=sys.argv[2], fingerprint=sys.argv[3], at=datetime.now(UTC))
print("claimed", flush=True)
sys.stdin.read()
"""


def _api_fingerprint(pdf: bytes, **fields: str) -> str:
    """The fingerprint the sign API computes for ``_post(..., **fields)`` with the city's default seal."""
    data = FIELDS | fields
    request = LicenceRequest(
        item_code=data["item_code"],
        holder_name=data["holder_name"],
        seal_id="jc-bureau-approval",
        level=PadesLevel(data["level"]),
    )
    return idempotency.request_fingerprint(dict(request.__dict__) | {"licence_type_code": None}, pdf)


def _record(instance, key: str) -> IdempotencyRecord | None:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))


def _server_env(instance) -> dict[str, str]:  # type: ignore[no-untyped-def]
    settings = instance.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")}
    env.update(
        {
            "SEAL_HOME": str(settings.resolved_home),
            "SEAL_DATABASE_URL": settings.resolved_database_url,
            "SEAL_PUBLIC_URL": settings.public_url,
            "SEAL_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
        }
    )
    return env


def test_a_claim_left_by_a_killed_process_is_taken_over_by_the_retry(api, keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    key = f"killed-holder-{db_instance.settings.resolved_database_url[-6:]}"
    claimer = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_WAIT, keys.city_key_id, key, _api_fingerprint(licence_pdf)],
        env=_server_env(db_instance),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert claimer.stdout is not None and claimer.stdout.readline().strip() == b"claimed"
        held = _record(db_instance, key)
        assert held is not None and held.holder and held.holder.split(":")[1] == str(claimer.pid)
        # While the holder lives, the retry is told to come back, with Retry-After, and nothing is sealed.
        count = _licence_count(db_instance)
        busy = _post(api, keys.city | {"Idempotency-Key": key}, licence_pdf)
        _is_problem(busy, 409, "still being processed")
        assert 1 <= int(busy.headers["retry-after"]) <= 5
        assert _licence_count(db_instance) == count
    finally:
        claimer.send_signal(signal.SIGKILL)
        claimer.wait(timeout=10)
    # The holder is gone: the first retry takes the claim over and seals; the next one gets the same licence.
    first = _post(api, keys.city | {"Idempotency-Key": key}, licence_pdf)
    assert first.status_code == 201, first.text
    again = _post(api, keys.city | {"Idempotency-Key": key}, licence_pdf)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert _licence_count(db_instance) == count + 1
    done = _record(db_instance, key)
    assert done is not None and done.licence_id == first.json()["id"] and done.lease_until is None


def test_a_live_holder_on_another_node_keeps_its_claim_until_the_lease_runs_out(keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    key = f"other-node-{now.timestamp()}"
    fingerprint = _api_fingerprint(licence_pdf)
    node_b = "node-b.example:4242:12345"
    held = idempotency.claim(
        db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now, holder=node_b
    )
    with pytest.raises(idempotency.IdempotencyConflict) as busy:
        idempotency.claim(
            db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now + timedelta(seconds=5)
        )
    assert busy.value.retry_after >= 1
    lease = db_instance.settings.idempotency_lease_seconds
    taken = idempotency.claim(
        db_instance,
        api_key_id=keys.city_key_id,
        key=key,
        fingerprint=fingerprint,
        at=now + timedelta(seconds=lease + 1),
    )
    assert taken.record_id == held.record_id and taken.existing_licence_id is None and taken.holder != node_b
    # Node B lost the claim: its late release does not free the retry's claim.
    idempotency.release(db_instance, held.token)
    record = _record(db_instance, key)
    assert record is not None and record.holder == taken.holder


def test_a_holder_whose_claim_was_taken_over_records_nothing(keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    """The licence and the claim's completion are one transaction: the slow holder's licence is rolled back."""
    now = datetime.now(UTC)
    key = f"slow-holder-{now.timestamp()}"
    fingerprint = _api_fingerprint(licence_pdf)
    slow = idempotency.claim(
        db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now, holder="far:1:1"
    )
    lease = db_instance.settings.idempotency_lease_seconds
    retry = idempotency.claim(
        db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now + timedelta(seconds=lease)
    )
    request = LicenceRequest(
        item_code="JC-001", holder_name="晋城市示例餐饮有限公司", seal_id="jc-bureau-approval", level=PadesLevel.B_B
    )
    count = _licence_count(db_instance)
    with db_instance.sessions() as session:
        audit_before = len(session.scalars(select(AuditEntry.id)).all())
    with pytest.raises(idempotency.ClaimLost):
        seal_licence(db_instance, licence_pdf, request, actor="test", at=now, claim=slow.token)
    assert _licence_count(db_instance) == count
    with db_instance.sessions() as session:
        assert len(session.scalars(select(AuditEntry.id)).all()) == audit_before
    sealed = seal_licence(db_instance, licence_pdf, request, actor="test", at=now, claim=retry.token)
    record = _record(db_instance, key)
    assert record is not None and record.licence_id == sealed.licence_id
    with db_instance.sessions() as session:
        assert session.get(Licence, sealed.licence_id) is not None
        assert session.get(LicenceDocument, sealed.licence_id) is not None
    # A further retry gets that licence, not a new one.
    again = idempotency.claim(
        db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now + timedelta(hours=1)
    )
    assert again.existing_licence_id == sealed.licence_id
    assert _licence_count(db_instance) == count + 1


def test_a_crash_after_the_licence_commit_cannot_strand_it(keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    """Once the licence transaction commits, the claim is complete: no later step can leave it open."""
    now = datetime.now(UTC)
    key = f"commit-then-crash-{now.timestamp()}"
    fingerprint = _api_fingerprint(licence_pdf)
    claimed = idempotency.claim(db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now)
    request = LicenceRequest(
        item_code="JC-001", holder_name="晋城市示例餐饮有限公司", seal_id="jc-bureau-approval", level=PadesLevel.B_B
    )
    sealed = seal_licence(db_instance, licence_pdf, request, actor="test", at=now, claim=claimed.token)
    # (The process "dies" here: nothing else runs on its behalf.) The retry gets the licence.
    retry = idempotency.claim(
        db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now + timedelta(seconds=1)
    )
    assert retry.existing_licence_id == sealed.licence_id


def test_holder_liveness() -> None:
    assert not idempotency.holder_is_gone(idempotency.current_holder())
    assert not idempotency.holder_is_gone("another-host:1:1")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = idempotency.current_holder().split(":")[0]
    assert idempotency.holder_is_gone(f"{host}:{gone.pid}:1")
    # A reused pid (same number, other start time) is not the holder.
    assert idempotency.holder_is_gone(f"{host}:{os.getpid()}:1")


def test_a_claim_of_an_ended_request_of_this_process_is_free(keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    """A request that ended without releasing its claim (the database was down then) does not block its retry."""
    now = datetime.now(UTC)
    key = f"ended-request-{now.timestamp()}"
    fingerprint = _api_fingerprint(licence_pdf)
    running = idempotency.claim(db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now)
    assert not idempotency.holder_is_gone(running.holder)
    with pytest.raises(idempotency.IdempotencyConflict):
        idempotency.claim(db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now)
    idempotency.finished(running.token)  # ended; its release never reached the database
    assert idempotency.holder_is_gone(running.holder)
    taken = idempotency.claim(db_instance, api_key_id=keys.city_key_id, key=key, fingerprint=fingerprint, at=now)
    assert taken.record_id == running.record_id and taken.holder != running.holder
