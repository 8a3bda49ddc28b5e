"""Dual control of key operations, on SQLite and PostgreSQL: one officer requests, a different one approves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from seal_service.errors import DualControlRefused, InvalidInput, NotAuthorised, RequestExpired, StateConflict
from seal_service.services.apikeys import Role, create_api_key
from seal_service.services.key_requests import (
    approve_request,
    cancel_request,
    create_request,
    get_request,
    list_requests,
)
from seal_service.services.rotation import seal_history
from seal_service.storage.keys_models import KeyRequestAction
from seal_service.storage.models import AuditEntry
from tests.support.custody import Staff, fresh_seal, make_staff

ROTATE = KeyRequestAction.ROTATE


@pytest.fixture(scope="module")
def staff(keys_instance) -> Staff:  # type: ignore[no-untyped-def]
    return make_staff(keys_instance)


def _actions(instance, request_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        return [e.action for e in entries if e.details.get("request") == request_id]


def test_a_second_officer_approves_and_the_rotation_runs(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    now = datetime.now(UTC)
    request = create_request(keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=now)
    assert request.status == "pending" and request.expires_at == now + timedelta(hours=24)
    assert seal_history(keys_instance, seal_id).current_certificate_id is not None
    before = seal_history(keys_instance, seal_id).current_certificate_id

    done = approve_request(keys_instance, staff.officer_b, request.id, at=now + timedelta(minutes=5))
    assert done.status == "executed" and done.decided_by == staff.officer_b.key_id
    history = seal_history(keys_instance, seal_id)
    assert history.current_certificate_id == done.result["certificate_id"] != before
    # Every step is in the audit log, in order.
    assert _actions(keys_instance, request.id) == [
        "key-request.create",
        "key-request.approve",
        "seal.rotate",
        "key-request.execute",
    ]


def test_self_approval_is_refused_and_recorded(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    now = datetime.now(UTC)
    request = create_request(keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=now)
    with pytest.raises(DualControlRefused, match="different security officer") as caught:
        approve_request(keys_instance, staff.officer_a, request.id, at=now)
    assert caught.value.status == 403
    # A second key of the same officer (same holder name) does not make a second officer.
    twin = create_api_key(
        keys_instance, name=staff.officer_a.name, role=Role.SECURITY_OFFICER, authority_code=None, at=now
    )
    with pytest.raises(DualControlRefused):
        approve_request(keys_instance, twin.caller, request.id, at=now)
    assert get_request(keys_instance, staff.officer_b, request.id, at=now).status == "pending"
    assert _actions(keys_instance, request.id) == [
        "key-request.create",
        "key-request.refuse",
        "key-request.refuse",
    ]
    cancel_request(keys_instance, staff.officer_b, request.id, at=now)


def test_an_expired_request_is_refused(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    made = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    request = create_request(keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=made)
    # Still pending a minute before expiry, listed as expired after it.
    assert get_request(
        keys_instance, staff.officer_b, request.id, at=made + timedelta(hours=23, minutes=59)
    ).status == ("pending")
    assert get_request(keys_instance, staff.officer_b, request.id, at=made + timedelta(hours=24)).status == "expired"
    with pytest.raises(RequestExpired, match="expired"):
        approve_request(keys_instance, staff.officer_b, request.id, at=made + timedelta(hours=25))
    assert get_request(keys_instance, staff.officer_b, request.id, at=made).status == "expired"
    assert _actions(keys_instance, request.id) == ["key-request.create", "key-request.expire"]
    # A custom time-to-live is a parameter too.
    short = create_request(
        keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=made, ttl=timedelta(minutes=10)
    )
    with pytest.raises(RequestExpired):
        approve_request(keys_instance, staff.officer_b, short.id, at=made + timedelta(minutes=10))


@pytest.mark.parametrize("role", ["auditor", "operator", "system"])
def test_other_roles_can_neither_request_nor_approve(keys_instance, staff, role) -> None:  # type: ignore[no-untyped-def]
    caller = getattr(staff, role).caller
    seal_id = "jc-bureau-approval"
    now = datetime.now(UTC)
    with pytest.raises(NotAuthorised, match="security-officer"):
        create_request(keys_instance, caller, action=ROTATE, seal_id=seal_id, at=now)
    request = create_request(keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=now)
    try:
        with pytest.raises(NotAuthorised) as caught:
            approve_request(keys_instance, caller, request.id, at=now)
        assert caught.value.status == 403
        assert get_request(keys_instance, staff.officer_b, request.id, at=now).status == "pending"
    finally:
        cancel_request(keys_instance, staff.officer_a, request.id, at=now)
    if role == "system":
        with pytest.raises(NotAuthorised):
            list_requests(keys_instance, caller, at=now)


def test_a_request_is_decided_once(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    now = datetime.now(UTC)
    request = create_request(keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=now)
    with pytest.raises(StateConflict, match="already pending"):
        create_request(keys_instance, staff.officer_b, action=ROTATE, seal_id=seal_id, at=now)
    approve_request(keys_instance, staff.officer_b, request.id, at=now)
    with pytest.raises(StateConflict, match="executed"):
        approve_request(keys_instance, staff.officer_b, request.id, at=now)
    with pytest.raises(StateConflict):
        cancel_request(keys_instance, staff.officer_a, request.id, at=now)


def test_requests_with_impossible_parameters_are_refused_up_front(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    a = staff.officer_a
    with pytest.raises(InvalidInput, match="does not take"):
        create_request(keys_instance, a, action=ROTATE, seal_id="jc-bureau-approval", params={"algo": "x"}, at=now)
    with pytest.raises(InvalidInput, match="reason must be"):
        create_request(keys_instance, a, action=KeyRequestAction.REVOKE, seal_id="jc-bureau-approval", at=now)
    with pytest.raises(InvalidInput, match="time zone"):
        create_request(
            keys_instance,
            a,
            action=KeyRequestAction.COMPROMISE,
            seal_id="jc-bureau-approval",
            params={"invalidity_date": "2026-01-01T00:00:00"},
            at=now,
        )
    with pytest.raises(StateConflict, match="exists already"):
        create_request(
            keys_instance,
            a,
            action=KeyRequestAction.GENERATE,
            seal_id="jc-bureau-approval",
            params={"authority": "jc-bureau"},
            at=now,
        )
    with pytest.raises(StateConflict, match="current one of a seal in use"):
        history = seal_history(keys_instance, "jc-bureau-approval")
        create_request(
            keys_instance,
            a,
            action=KeyRequestAction.RETIRE_KEY,
            seal_id="jc-bureau-approval",
            params={"certificate_id": history.current_certificate_id},
            at=now,
        )


def test_generate_compromise_and_retire_run_under_dual_control(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    a, b = staff.officer_a, staff.officer_b
    new_id = fresh_seal(keys_instance).replace("-t", "-g")
    # (1) a new seal: key and certificate generated on approval.
    made = create_request(
        keys_instance, a, action=KeyRequestAction.GENERATE, seal_id=new_id, params={"authority": "jc-bureau"}, at=now
    )
    approve_request(keys_instance, b, made.id, at=now)
    first = seal_history(keys_instance, new_id)
    assert first.status == "active" and len(first.certificates) == 1 and first.events[0].event == "created"
    # (2) rotate, then retire the superseded key: the key is destroyed, the certificate stays in the history.
    approve_request(
        keys_instance, a, create_request(keys_instance, b, action=ROTATE, seal_id=new_id, at=now).id, at=now
    )
    old = first.certificates[0]
    retire = create_request(
        keys_instance,
        a,
        action=KeyRequestAction.RETIRE_KEY,
        seal_id=new_id,
        params={"certificate_id": old.id},
        at=now,
    )
    result = approve_request(keys_instance, b, retire.id, at=now).result
    assert result is not None and result["destroyed_key_ref"].startswith(("file:", "pkcs11:"))
    if result["destroyed_key_ref"].startswith("file:"):
        assert not keys_instance.key_store.path_of(result["destroyed_key_ref"]).exists()
    # (3) compromise: every certificate revoked with keyCompromise from the invalidity date.
    invalid_from = now - timedelta(days=2)
    compromise = create_request(
        keys_instance,
        b,
        action=KeyRequestAction.COMPROMISE,
        seal_id=new_id,
        params={"invalidity_date": invalid_from.isoformat()},
        at=now,
    )
    approve_request(keys_instance, a, compromise.id, at=now)
    history = seal_history(keys_instance, new_id)
    assert history.status == "revoked" and history.current_certificate_id is None
    assert {c.revocation_reason for c in history.certificates} == {"keyCompromise"}
    assert [e.event for e in history.events].count("key-compromised") == 2
    serial = int(history.certificates[-1].serial_number, 16)
    status = keys_instance.revocation.status_of(serial)
    assert status is not None and status.revoked_at is not None


def test_a_retired_department_seal_is_not_rotated_and_its_key_is_sealed_away(keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.lifecycle import record_memorandum

    # jc-housing hands all its items to the bureau from today (China time): its seal retires (废止).
    now = datetime.now(UTC)
    record_memorandum(
        keys_instance,
        department="jc-housing",
        bureau="jc-bureau",
        effective_on=(now + timedelta(hours=8)).date(),
        items=None,
        at=now,
        actor="test",
    )
    seal_id = "jc-housing-approval"
    with pytest.raises(StateConflict, match="retired"):
        create_request(keys_instance, staff.officer_a, action=ROTATE, seal_id=seal_id, at=now)
    # ...and its key is destroyed under dual control (封存): the certificate stays and keeps verifying.
    current = seal_history(keys_instance, seal_id).current_certificate_id
    retire = create_request(
        keys_instance,
        staff.officer_a,
        action=KeyRequestAction.RETIRE_KEY,
        seal_id=seal_id,
        params={"certificate_id": current},
        at=now,
    )
    done = approve_request(keys_instance, staff.officer_b, retire.id, at=now)
    assert done.status == "executed" and done.result is not None
    assert [e.event for e in seal_history(keys_instance, seal_id).events][-1] == "key-retired"
