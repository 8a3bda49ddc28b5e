"""The admin API of key custody and audit: dual-control requests, seal history, CSR rotation, the audit log.

Every route authenticates ``Authorization: Bearer <key>`` (401 without a valid key) and checks the caller's role
against :data:`seal_service.services.authorisation.PERMISSIONS` (403 otherwise), the same table the CLI checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_der_x509_certificate
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from seal_service.api.deps import CallerDep, InstanceDep
from seal_service.errors import InvalidInput
from seal_service.services import audit, key_requests, rotation
from seal_service.services.apikeys import Caller
from seal_service.services.authorisation import Permission, actor_of, authorise
from seal_service.storage.keys_models import KeyRequestAction

router = APIRouter(prefix="/v1/admin", tags=["admin: keys and audit"])
MAX_CERTIFICATE_BYTES = 64 * 1024


def permitted(permission: Permission) -> Callable[[Caller], Caller]:
    """A dependency admitting only callers whose role holds ``permission``."""

    def check(caller: CallerDep) -> Caller:
        return authorise(caller, permission)

    return check


Officer = Annotated[Caller, Depends(permitted(Permission.REQUEST_KEY_OPERATION))]
Approver = Annotated[Caller, Depends(permitted(Permission.APPROVE_KEY_OPERATION))]
RequestReader = Annotated[Caller, Depends(permitted(Permission.READ_KEY_REQUESTS))]
HistoryReader = Annotated[Caller, Depends(permitted(Permission.READ_SEAL_HISTORY))]
CertificateImporter = Annotated[Caller, Depends(permitted(Permission.IMPORT_CERTIFICATE))]
AuditReader = Annotated[Caller, Depends(permitted(Permission.READ_AUDIT_LOG))]
AuditVerifier = Annotated[Caller, Depends(permitted(Permission.VERIFY_AUDIT_LOG))]
Checkpointer = Annotated[Caller, Depends(permitted(Permission.CHECKPOINT_AUDIT_LOG))]


def _now() -> datetime:
    return datetime.now(UTC)


class KeyRequestIn(BaseModel):
    """A key operation to request (a second security officer approves it)."""

    model_config = {"extra": "forbid"}

    action: KeyRequestAction
    seal_id: str = Field(min_length=1, max_length=64, examples=["jc-bureau-approval"])
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="generate: {authority}; rotate: {csr: true} for an external CA; revoke: {reason, "
        "invalidity_date}; compromise: {invalidity_date}; retire-key: {certificate_id}.",
        examples=[{"csr": True}],
    )
    ttl_hours: float | None = Field(default=None, gt=0, le=24 * 14, description="Default 24 hours.")


class KeyRequestOut(BaseModel):
    """A dual-control request."""

    id: str = Field(examples=["REQ-3F2A9C41B7D0"])
    action: str
    seal_id: str
    params: dict[str, Any]
    status: Literal["pending", "executing", "executed", "failed", "expired", "cancelled"]
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    result: dict[str, Any] | None = Field(description="What the executed operation produced (ids, serials, CSR).")
    error: str | None


def _request_out(view: key_requests.KeyRequestView) -> KeyRequestOut:
    return KeyRequestOut.model_validate(view, from_attributes=True)


@router.post("/requests", status_code=201, summary="Request a key operation (dual control, step 1)")
def create_key_request(body: KeyRequestIn, instance: InstanceDep, caller: Officer) -> KeyRequestOut:
    """A security officer requests a new seal, a rotation, a revocation, a compromise response or a key
    retirement. It waits for a different officer's approval and expires unapproved."""
    from datetime import timedelta

    ttl = timedelta(hours=body.ttl_hours) if body.ttl_hours else None
    view = key_requests.create_request(
        instance, caller, action=body.action, seal_id=body.seal_id, params=body.params, at=_now(), ttl=ttl
    )
    return _request_out(view)


@router.get("/requests", summary="List key operation requests")
def list_key_requests(
    instance: InstanceDep,
    caller: RequestReader,
    status: Annotated[str | None, Query(description="pending, executed, expired...")] = None,
    seal: Annotated[str | None, Query(description="Only requests about this seal.")] = None,
) -> list[KeyRequestOut]:
    """Requests, newest first (security officers and auditors)."""
    views = key_requests.list_requests(instance, caller, at=_now(), status=status, seal_id=seal)
    return [_request_out(v) for v in views]


@router.get("/requests/{request_id}", summary="One key operation request")
def get_key_request(request_id: str, instance: InstanceDep, caller: RequestReader) -> KeyRequestOut:
    """The request with its outcome."""
    return _request_out(key_requests.get_request(instance, caller, request_id, at=_now()))


@router.post("/requests/{request_id}/approve", summary="Approve and execute a request (dual control, step 2)")
def approve_key_request(request_id: str, instance: InstanceDep, caller: Approver) -> KeyRequestOut:
    """A second security officer approves; the operation runs at once. Self-approval is refused (403), an expired
    or already decided request is refused (409)."""
    return _request_out(key_requests.approve_request(instance, caller, request_id, at=_now()))


@router.post("/requests/{request_id}/cancel", summary="Withdraw a pending request")
def cancel_key_request(request_id: str, instance: InstanceDep, caller: Approver) -> KeyRequestOut:
    """The request will not be executed."""
    return _request_out(key_requests.cancel_request(instance, caller, request_id, at=_now()))


class CertificateOut(BaseModel):
    """One certificate of a seal, with its place in the succession."""

    id: int
    serial_number: str
    status: str
    not_before: datetime
    not_after: datetime
    created_at: datetime
    successor_of: int | None = Field(description="The certificate this one replaced at a rotation.")
    superseded_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    key_backend: str = Field(examples=["pkcs11"])
    certificate_pem: str


class SealEventOut(BaseModel):
    """One step of a seal's key history."""

    at: datetime
    event: str
    certificate_id: int | None
    actor: str
    request_id: str | None
    details: dict[str, Any]


class SealHistoryOut(BaseModel):
    """A seal's certificates and key events."""

    seal_id: str
    status: str
    current_certificate_id: int | None
    certificates: list[CertificateOut]
    events: list[SealEventOut]


@router.get("/seals/{seal_id}/history", summary="A seal's certificates, successions and key events")
def get_seal_history(seal_id: str, instance: InstanceDep, caller: HistoryReader) -> SealHistoryOut:
    """Old certificates stay listed (superseded or revoked): they keep validating what they sealed."""
    history = rotation.seal_history(instance, seal_id)
    return SealHistoryOut(
        seal_id=history.seal_id,
        status=history.status,
        current_certificate_id=history.current_certificate_id,
        certificates=[
            CertificateOut(
                id=c.id,
                serial_number=c.serial_number,
                status=c.status,
                not_before=c.not_before,
                not_after=c.not_after,
                created_at=c.created_at,
                successor_of=c.successor_of,
                superseded_at=c.superseded_at,
                revoked_at=c.revoked_at,
                revocation_reason=c.revocation_reason,
                key_backend=c.key_backend,
                certificate_pem=load_der_x509_certificate(c.certificate_der)
                .public_bytes(serialization.Encoding.PEM)
                .decode(),
            )
            for c in history.certificates
        ],
        events=[SealEventOut.model_validate(e, from_attributes=True) for e in history.events],
    )


@router.get(
    "/seals/{seal_id}/csr",
    summary="The CSR of a seal's pending key (rotation with an external CA)",
    response_class=Response,
    responses={200: {"content": {"application/pkcs10": {}}}},
)
def get_pending_csr(seal_id: str, instance: InstanceDep, caller: CertificateImporter) -> Response:
    """PEM PKCS#10 request to send to the CA."""
    return Response(rotation.pending_csr(instance, seal_id), media_type="application/pkcs10")


@router.put("/seals/{seal_id}/certificate", summary="Import the CA's certificate for the pending key")
async def import_seal_certificate(
    seal_id: str, request: Request, instance: InstanceDep, caller: CertificateImporter
) -> SealHistoryOut:
    """Body: the certificate, PEM or DER. It must carry the pending key and be issued by the seal CA; it becomes
    current at once and the previous certificate is superseded."""
    from fastapi.concurrency import run_in_threadpool

    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CERTIFICATE_BYTES:
            raise InvalidInput(f"certificate larger than {MAX_CERTIFICATE_BYTES} bytes")
    await run_in_threadpool(rotation.import_certificate, instance, seal_id, body, at=_now(), actor=actor_of(caller))
    return await run_in_threadpool(get_seal_history, seal_id, instance, caller)


class AuditEntryOut(BaseModel):
    """One audit entry with its chain position and hashes."""

    seq: int | None
    id: int
    at: datetime
    actor: str
    action: str
    seal_id: str | None
    licence_id: str | None
    details: dict[str, Any]
    note: str | None
    prev_hash: str | None
    entry_hash: str | None


@router.get(
    "/audit",
    summary="Export the audit log by seal and time range (auditors only)",
    response_model=list[AuditEntryOut],
    responses={200: {"content": {"text/csv": {}}}},
)
def export_audit(
    instance: InstanceDep,
    caller: AuditReader,
    seal: Annotated[str | None, Query(description="Only entries about this seal.")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="ISO time with zone, inclusive.")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO time with zone, exclusive.")] = None,
    action: Annotated[str | None, Query(description="Action prefix, e.g. seal.use.")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Any:
    """Entries in chain order, with ``prev_hash`` and ``entry_hash`` so a segment can be re-checked."""
    records = audit.export_entries(instance, seal_id=seal, start=start, end=end, action=action, limit=limit)
    if format == "csv":
        return Response(audit.render_export(records, "csv"), media_type="text/csv; charset=utf-8")
    return [AuditEntryOut.model_validate(r, from_attributes=True) for r in records]


class AuditProblemOut(BaseModel):
    """One integrity finding."""

    seq: int | None
    entry_id: int | None
    kind: str
    message: str


class AuditVerifyOut(BaseModel):
    """The outcome of checking the hash chain and the signed checkpoints."""

    intact: bool
    entries: int
    last_seq: int
    last_hash: str
    checkpoints: int
    last_checkpoint_seq: int | None
    last_checkpoint_at: datetime | None
    problems: list[AuditProblemOut]


@router.get("/audit/verify", summary="Check the audit log's hash chain and signed checkpoints")
def verify_audit(instance: InstanceDep, caller: AuditVerifier) -> AuditVerifyOut:
    """``intact`` false names each modified, missing, inserted or reordered entry."""
    problems, report = audit.find_problems(instance)
    return AuditVerifyOut(
        intact=not problems,
        entries=report.entries,
        last_seq=report.last_seq,
        last_hash=report.last_hash,
        checkpoints=report.checkpoints,
        last_checkpoint_seq=report.last_checkpoint_seq,
        last_checkpoint_at=report.last_checkpoint_at,
        problems=[AuditProblemOut.model_validate(p, from_attributes=True) for p in problems],
    )


class CheckpointOut(BaseModel):
    """A signed checkpoint of the audit log."""

    id: int
    seq: int
    entry_hash: str
    at: datetime
    certificate_serial: str
    created: bool


@router.post("/audit/checkpoints", summary="Sign the current head of the audit log")
def create_checkpoint(instance: InstanceDep, caller: Checkpointer) -> CheckpointOut:
    """Signed by the service's audit key (certificate issued by the root)."""
    return CheckpointOut.model_validate(audit.checkpoint(instance, at=_now()), from_attributes=True)
