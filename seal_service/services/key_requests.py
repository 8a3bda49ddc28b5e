"""Dual control: one security officer requests a key operation, a different one approves it, approval executes it.

Example::

    >>> req = create_request(instance, alice, action=KeyRequestAction.ROTATE, seal_id="jc-bureau-approval",
    ...                      params={}, at=now)                                    # doctest: +SKIP
    >>> approve_request(instance, bob, req.id, at=now).status                     # doctest: +SKIP
    'executed'

Covered operations (:class:`~seal_service.storage.keys_models.KeyRequestAction`): a new seal (key generation),
rotation (own CA, or ``csr`` for an external CA), revocation, the response to a key compromise, and retiring
(destroying) the key of a superseded certificate. The rules:

1. only security officers request, approve or cancel (the same :func:`authorise` check as the admin API);
2. the approver is not the requester: not the same API key, and not another key with the same holder name;
3. a request expires ``SEAL_KEY_REQUEST_TTL_HOURS`` (24 h) after it was made; an expired one is refused;
4. a request is decided once: claiming it for execution is a compare-and-set on its status;
5. every step is in the audit log: request, refusal, expiry, cancellation, approval, execution or failure.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from seal_service.errors import (
    DualControlRefused,
    InvalidInput,
    NotFound,
    RequestExpired,
    SealServiceError,
    StateConflict,
)
from seal_service.instance import Instance
from seal_service.services.apikeys import Caller
from seal_service.services.audit import record
from seal_service.services.authorisation import Permission, actor_of, authorise
from seal_service.storage.access_models import ApiKey
from seal_service.storage.keys_models import KeyRequest, KeyRequestAction, KeyRequestStatus
from seal_service.storage.models import Seal, SealCertificate

#: Parameters each action accepts (anything else is refused, so a typo is not silently ignored).
ACTION_PARAMS: dict[KeyRequestAction, frozenset[str]] = {
    KeyRequestAction.GENERATE: frozenset({"authority"}),
    KeyRequestAction.ROTATE: frozenset({"csr", "csr_path"}),
    KeyRequestAction.REVOKE: frozenset({"reason", "invalidity_date"}),
    KeyRequestAction.COMPROMISE: frozenset({"invalidity_date", "note"}),
    KeyRequestAction.RETIRE_KEY: frozenset({"certificate_id"}),
    KeyRequestAction.ROTATE_TSA: frozenset(),
}


@dataclass(frozen=True)
class KeyRequestView:
    """A dual-control request as listed and returned."""

    id: str
    action: str
    seal_id: str
    params: dict[str, Any]
    status: str
    """pending, executing, executed, failed, expired or cancelled (pending past its expiry lists as expired)."""
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    result: dict[str, Any] | None
    error: str | None


def _view(row: KeyRequest, at: datetime | None = None) -> KeyRequestView:
    status = row.status
    if at is not None and status == KeyRequestStatus.PENDING.value and at >= row.expires_at:
        status = KeyRequestStatus.EXPIRED.value
    return KeyRequestView(
        id=row.id,
        action=row.action,
        seal_id=row.seal_id,
        params=dict(row.params or {}),
        status=status,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        result=dict(row.result) if row.result is not None else None,
        error=row.error,
    )


def _parse_time(value: object, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 time", field=name) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name} must carry a time zone, e.g. 2027-01-01T00:00:00+08:00", field=name)
    return parsed


def _check_request(
    instance: Instance, session: Any, action: KeyRequestAction, seal_id: str, params: dict[str, Any], at: datetime
) -> None:
    """Refuse, at request time, what could never be executed."""
    from seal_service.services.registry import REVOCATION_REASONS

    unknown = set(params) - ACTION_PARAMS[action]
    if unknown:
        raise InvalidInput(f"{action.value} does not take {', '.join(sorted(unknown))}", field="params")
    if action is KeyRequestAction.ROTATE_TSA:
        from seal_service.archive.tsa_rotation import TSA_TARGET

        if seal_id != TSA_TARGET:
            raise InvalidInput(f"rotate-tsa applies to {TSA_TARGET!r}, not to a seal", field="seal_id")
        return
    seal = session.get(Seal, seal_id)
    if action is KeyRequestAction.GENERATE:
        if seal is not None:
            raise StateConflict(f"seal {seal_id} exists already")
        if not params.get("authority"):
            raise InvalidInput("a new seal needs the authority it belongs to", field="authority")
        return
    if seal is None:
        raise NotFound(f"unknown seal {seal_id!r}", field="seal_id")
    if action is KeyRequestAction.ROTATE:
        state = instance.lifecycle.seal_state(seal, at=at, state=instance.lifecycle.state())
        if not state.usable:
            raise StateConflict(f"{state.describe()}; only a seal in use is rotated")
    if action is KeyRequestAction.REVOKE:
        if params.get("reason") not in REVOCATION_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(REVOCATION_REASONS)}", field="reason")
        if params.get("invalidity_date") is not None:
            _parse_time(params["invalidity_date"], "invalidity_date")
    if action is KeyRequestAction.COMPROMISE and params.get("invalidity_date") is not None:
        _parse_time(params["invalidity_date"], "invalidity_date")
    if action is KeyRequestAction.RETIRE_KEY:
        try:
            cert = session.get(SealCertificate, int(params.get("certificate_id", "")))
        except ValueError:
            raise InvalidInput("certificate_id must be a number", field="certificate_id") from None
        if cert is None or cert.seal_id != seal_id:
            raise NotFound(f"seal {seal_id} has no such certificate", field="certificate_id")
        from seal_service.services.rotation import check_retirable

        check_retirable(instance, cert, at)


def create_request(
    instance: Instance,
    caller: Caller,
    *,
    action: KeyRequestAction,
    seal_id: str,
    params: dict[str, Any] | None = None,
    at: datetime,
    ttl: timedelta | None = None,
) -> KeyRequestView:
    """Record a security officer's request for a key operation; it waits for a second officer."""
    authorise(caller, Permission.REQUEST_KEY_OPERATION)
    params = dict(params or {})
    ttl = ttl if ttl is not None else timedelta(hours=instance.settings.key_request_ttl_hours)
    with instance.writer.begin() as session:
        _check_request(instance, session, action, seal_id, params, at)
        duplicate = session.scalar(
            select(KeyRequest.id).where(
                KeyRequest.seal_id == seal_id,
                KeyRequest.action == action.value,
                KeyRequest.status == KeyRequestStatus.PENDING.value,
                KeyRequest.expires_at > at,
            )
        )
        if duplicate is not None:
            raise StateConflict(f"request {duplicate} for {action.value} of {seal_id} is already pending")
        row = KeyRequest(
            id="REQ-" + secrets.token_hex(6).upper(),
            action=action.value,
            seal_id=seal_id,
            params=params,
            status=KeyRequestStatus.PENDING.value,
            requested_by=caller.key_id,
            requested_at=at,
            expires_at=at + ttl,
        )
        session.add(row)
        session.flush()
        record(
            session,
            at=at,
            actor=actor_of(caller),
            action="key-request.create",
            seal_id=seal_id,
            details={
                "request": row.id,
                "action": action.value,
                "params": params,
                "expires_at": row.expires_at.isoformat(),
            },
        )
        return _view(row)


def _refuse(instance: Instance, request_id: str, caller: Caller, at: datetime, error: SealServiceError) -> None:
    """Record a refused approval in its own transaction, then raise ``error``."""
    with instance.writer.begin() as session:
        row = session.get(KeyRequest, request_id)
        if isinstance(error, RequestExpired) and row is not None and row.status == KeyRequestStatus.PENDING.value:
            row.status = KeyRequestStatus.EXPIRED.value
            row.decided_at = at
        record(
            session,
            at=at,
            actor=actor_of(caller),
            action="key-request.expire" if isinstance(error, RequestExpired) else "key-request.refuse",
            seal_id=row.seal_id if row is not None else None,
            details={"request": request_id, "reason": error.slug, "detail": error.detail},
        )
    raise error


def approve_request(instance: Instance, caller: Caller, request_id: str, *, at: datetime) -> KeyRequestView:
    """A second security officer approves ``request_id``; the operation is executed at once, at ``at``."""
    authorise(caller, Permission.APPROVE_KEY_OPERATION)
    refusal: SealServiceError | None = None
    with instance.writer.begin() as session:
        row = session.get(KeyRequest, request_id, with_for_update=True)
        if row is None:
            raise NotFound(f"unknown key request {request_id!r}")
        if row.status != KeyRequestStatus.PENDING.value:
            raise StateConflict(f"request {request_id} is {row.status}; only a pending request can be approved")
        requester = session.get(ApiKey, row.requested_by)
        same_holder = requester is not None and requester.name.strip().casefold() == caller.name.strip().casefold()
        if caller.key_id == row.requested_by or same_holder:
            refusal = DualControlRefused(
                f"request {request_id} was made by {row.requested_by}; a different security officer must approve it"
            )
        elif at >= row.expires_at:
            refusal = RequestExpired(
                f"request {request_id} expired at {row.expires_at.isoformat()}; request the operation again"
            )
        else:
            # Claim the request: from here on nobody else can approve or cancel it.
            row.status = KeyRequestStatus.EXECUTING.value
            row.decided_by = caller.key_id
            row.decided_at = at
            action, seal_id, params = KeyRequestAction(row.action), row.seal_id, dict(row.params or {})
            record(
                session,
                at=at,
                actor=actor_of(caller),
                action="key-request.approve",
                seal_id=seal_id,
                details={"request": request_id, "action": action.value, "requested_by": row.requested_by},
            )
    if refusal is not None:
        _refuse(instance, request_id, caller, at, refusal)
    actor = actor_of(caller)
    try:
        result = _execute(instance, action, seal_id, params, at=at, actor=actor, request_id=request_id)
    except SealServiceError as exc:
        _finish(instance, request_id, at=at, actor=actor, result=None, error=exc.detail)
        raise
    except Exception as exc:
        _finish(instance, request_id, at=at, actor=actor, result=None, error=f"{type(exc).__name__}: {exc}")
        raise
    return _finish(instance, request_id, at=at, actor=actor, result=result, error=None)


def _finish(
    instance: Instance,
    request_id: str,
    *,
    at: datetime,
    actor: str,
    result: dict[str, Any] | None,
    error: str | None,
) -> KeyRequestView:
    with instance.writer.begin() as session:
        row = session.get(KeyRequest, request_id)
        assert row is not None
        row.status = (KeyRequestStatus.FAILED if error else KeyRequestStatus.EXECUTED).value
        row.result = result
        row.error = error
        record(
            session,
            at=at,
            actor=actor,
            action="key-request.fail" if error else "key-request.execute",
            seal_id=row.seal_id,
            details={"request": request_id, "action": row.action, "error": error, "result": _auditable(result)},
        )
        return _view(row)


def _auditable(result: dict[str, Any] | None) -> dict[str, Any] | None:
    # The CSR itself is public, but long; the audit log keeps what identifies the outcome.
    if result is None:
        return None
    return {k: v for k, v in result.items() if k != "csr_pem"}


def _execute(
    instance: Instance,
    action: KeyRequestAction,
    seal_id: str,
    params: dict[str, Any],
    *,
    at: datetime,
    actor: str,
    request_id: str,
) -> dict[str, Any]:
    """Run an approved operation; returns what it produced (ids, serials, key reference, CSR)."""
    from dataclasses import asdict

    from seal_service.services import rotation
    from seal_service.services.registry import revoke_seal

    if action is KeyRequestAction.GENERATE:
        made = rotation.create_seal(
            instance,
            authority_code=str(params["authority"]),
            seal_id=seal_id,
            at=at,
            actor=actor,
            request_id=request_id,
        )
        return asdict(made)
    if action is KeyRequestAction.ROTATE:
        if params.get("csr"):
            made = rotation.start_csr_rotation(instance, seal_id, at=at, actor=actor, request_id=request_id)
        else:
            made = rotation.rotate_seal(instance, seal_id, at=at, actor=actor, request_id=request_id)
        return asdict(made)
    if action is KeyRequestAction.REVOKE:
        invalidity = params.get("invalidity_date")
        view = revoke_seal(
            instance,
            seal_id,
            reason=str(params["reason"]),
            at=at,
            invalidity_date=_parse_time(invalidity, "invalidity_date") if invalidity else None,
            actor=actor,
        )
        rotation.record_revocation(instance, seal_id, at=at, actor=actor, request_id=request_id)
        return {"seal_id": view.id, "status": view.status, "certificates": [c.serial_number for c in view.certificates]}
    if action is KeyRequestAction.COMPROMISE:
        invalidity = params.get("invalidity_date")
        rotation.record_compromise(
            instance,
            seal_id,
            at=at,
            invalidity_date=_parse_time(invalidity, "invalidity_date") if invalidity else None,
            actor=actor,
            request_id=request_id,
        )
        return {"seal_id": seal_id, "status": "revoked", "reason": "keyCompromise"}
    if action is KeyRequestAction.RETIRE_KEY:
        ref = rotation.retire_key(
            instance, seal_id, int(params["certificate_id"]), at=at, actor=actor, request_id=request_id
        )
        return {"seal_id": seal_id, "certificate_id": int(params["certificate_id"]), "destroyed_key_ref": ref}
    if action is KeyRequestAction.ROTATE_TSA:
        from seal_service.archive.tsa_rotation import rotate_tsa

        return rotate_tsa(instance, at=at, actor=actor, request_id=request_id).as_result()
    raise InvalidInput(f"unknown action {action}")


def cancel_request(instance: Instance, caller: Caller, request_id: str, *, at: datetime) -> KeyRequestView:
    """Withdraw a pending request (its requester or another security officer)."""
    authorise(caller, Permission.APPROVE_KEY_OPERATION)
    with instance.writer.begin() as session:
        row = session.get(KeyRequest, request_id, with_for_update=True)
        if row is None:
            raise NotFound(f"unknown key request {request_id!r}")
        if row.status != KeyRequestStatus.PENDING.value:
            raise StateConflict(f"request {request_id} is {row.status}; only a pending request can be cancelled")
        row.status = KeyRequestStatus.CANCELLED.value
        row.decided_by = caller.key_id
        row.decided_at = at
        record(
            session,
            at=at,
            actor=actor_of(caller),
            action="key-request.cancel",
            seal_id=row.seal_id,
            details={"request": request_id},
        )
        return _view(row)


def get_request(instance: Instance, caller: Caller, request_id: str, *, at: datetime) -> KeyRequestView:
    """One request (security officers and auditors)."""
    authorise(caller, Permission.READ_KEY_REQUESTS)
    with instance.sessions() as session:
        row = session.get(KeyRequest, request_id)
        if row is None:
            raise NotFound(f"unknown key request {request_id!r}")
        return _view(row, at)


def list_requests(
    instance: Instance, caller: Caller, *, at: datetime, status: str | None = None, seal_id: str | None = None
) -> list[KeyRequestView]:
    """Requests, newest first; ``status`` filters on the status as listed (a stale pending one is expired)."""
    authorise(caller, Permission.READ_KEY_REQUESTS)
    with instance.sessions() as session:
        stmt = select(KeyRequest).order_by(KeyRequest.requested_at.desc(), KeyRequest.id)
        if seal_id is not None:
            stmt = stmt.where(KeyRequest.seal_id == seal_id)
        views = [_view(row, at) for row in session.scalars(stmt)]
    return [v for v in views if status is None or v.status == status]
