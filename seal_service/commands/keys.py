"""``seal-service requests|audit`` and ``seal-service seals rotate|import-cert|csr|issue-cert|history``.

Example::

    $ export SEAL_OFFICER_KEY=sk_k1a2..._...          # officer A
    $ seal-service seals rotate jc-bureau-approval     # -> request REQ-3F2A9C41B7D0, waiting for approval
    $ seal-service requests approve REQ-3F2A9C41B7D0 --key-file /media/officer-b/key   # officer B: executes
    $ seal-service audit verify --key-file auditor.key

The acting staff member is identified by an API key of theirs (``seal-service apikeys create --role
security-officer|auditor|operator``), read from ``--key-file FILE`` or the ``SEAL_OFFICER_KEY`` environment
variable. The command authenticates it exactly as the admin API authenticates ``Authorization: Bearer`` and
checks the same permission table (:mod:`seal_service.services.authorisation`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from seal_service.errors import InvalidInput, SealServiceError
from seal_service.settings import Settings

OFFICER_KEY_ENV = "SEAL_OFFICER_KEY"


def _now() -> datetime:
    return datetime.now(UTC)


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def _caller(args: argparse.Namespace, instance: Any, at: datetime) -> Any:
    """The authenticated staff member behind ``--key-file`` or ``SEAL_OFFICER_KEY`` (401-equivalent otherwise)."""
    from seal_service.services.apikeys import authenticate

    presented: str | None = None
    if getattr(args, "key_file", None):
        try:
            presented = Path(args.key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidInput(f"cannot read --key-file: {exc.strerror}") from None
    else:
        presented = os.environ.get(OFFICER_KEY_ENV, "").strip() or None
    if not presented:
        from seal_service.services.apikeys import Unauthenticated

        raise Unauthenticated(f"this command needs your staff API key: --key-file FILE or {OFFICER_KEY_ENV}")
    return authenticate(instance, presented, at=at)


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _print_request(view: Any) -> None:
    print(f"request   {view.id}")
    print(f"action    {view.action} {view.seal_id} {json.dumps(view.params, ensure_ascii=False)}")
    print(f"status    {view.status}")
    print(f"requested {view.requested_at.isoformat()} by {view.requested_by}; expires {view.expires_at.isoformat()}")
    if view.decided_by:
        print(f"decided   {view.decided_at.isoformat()} by {view.decided_by}")
    if view.error:
        print(f"error     {view.error}")
    if view.result:
        shown = {k: v for k, v in view.result.items() if k != "csr_pem" and v is not None}
        print(f"result    {json.dumps(shown, ensure_ascii=False)}")


def _create(instance: Any, args: argparse.Namespace, action: Any, seal_id: str, params: dict[str, Any]) -> int:
    from seal_service.services.key_requests import create_request

    at = _now()
    caller = _caller(args, instance, at)
    ttl = timedelta(hours=args.ttl_hours) if getattr(args, "ttl_hours", None) else None
    view = create_request(instance, caller, action=action, seal_id=seal_id, params=params, at=at, ttl=ttl)
    _print_request(view)
    print(f"waiting for a second security officer: seal-service requests approve {view.id}")
    return 0


def cmd_requests_create(args: argparse.Namespace, settings: Settings) -> int:
    """Request a key operation (dual control: another officer approves it)."""
    from seal_service.storage.keys_models import KeyRequestAction

    action = KeyRequestAction(args.action)
    params: dict[str, Any] = {}
    if args.authority:
        params["authority"] = args.authority
    if args.reason:
        params["reason"] = args.reason
    if args.invalidity_date:
        params["invalidity_date"] = args.invalidity_date.isoformat()
    if args.csr:
        params["csr"] = True
        params["csr_path"] = str(Path(args.csr).resolve())
    if args.certificate_id is not None:
        params["certificate_id"] = args.certificate_id
    return _create(_instance(settings), args, action, args.seal, params)


def cmd_seals_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Request the rotation of a seal's key (own CA, or ``--csr FILE`` for an external CA)."""
    from seal_service.storage.keys_models import KeyRequestAction

    params: dict[str, Any] = {}
    if args.csr:
        params = {"csr": True, "csr_path": str(Path(args.csr).resolve())}
    return _create(_instance(settings), args, KeyRequestAction.ROTATE, args.seal_id, params)


def request_revocation(args: argparse.Namespace, settings: Settings) -> int:
    """``seals revoke``: request a revocation (keyCompromise becomes a compromise request); a second officer
    approves it."""
    from seal_service.storage.keys_models import KeyRequestAction

    params: dict[str, Any] = {}
    invalidity = getattr(args, "invalidity_date", None)
    if invalidity:
        parsed = datetime.fromisoformat(invalidity)
        params["invalidity_date"] = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()
    if args.reason == "keyCompromise":
        return _create(_instance(settings), args, KeyRequestAction.COMPROMISE, args.seal_id, params)
    params["reason"] = args.reason
    return _create(_instance(settings), args, KeyRequestAction.REVOKE, args.seal_id, params)


def _write_csr(path: Path, pem: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pem, encoding="utf-8")
    print(f"wrote CSR to {path}: send it to the CA, then `seal-service seals import-cert SEAL CERT.pem`")


def cmd_requests_approve(args: argparse.Namespace, settings: Settings) -> int:
    """Approve another officer's request; the operation runs now."""
    from seal_service.services.key_requests import approve_request

    instance = _instance(settings)
    at = _now()
    view = approve_request(instance, _caller(args, instance, at), args.request_id, at=at)
    _print_request(view)
    csr = (view.result or {}).get("csr_pem")
    if csr:
        target = args.csr_out or view.params.get("csr_path")
        if target:
            _write_csr(Path(target), csr)
        else:
            print(csr)
    return 0


def cmd_requests_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Withdraw a pending request."""
    from seal_service.services.key_requests import cancel_request

    instance = _instance(settings)
    at = _now()
    _print_request(cancel_request(instance, _caller(args, instance, at), args.request_id, at=at))
    return 0


def cmd_requests_list(args: argparse.Namespace, settings: Settings) -> int:
    """List requests, newest first."""
    from seal_service.services.key_requests import list_requests

    instance = _instance(settings)
    at = _now()
    views = list_requests(instance, _caller(args, instance, at), at=at, status=args.status, seal_id=args.seal)
    if args.json:
        print(json.dumps([asdict(v) for v in views], ensure_ascii=False, indent=2, default=_json_default))
        return 0
    print(f"{'REQUEST':<17} {'ACTION':<11} {'SEAL':<26} {'STATUS':<10} {'BY':<14} EXPIRES")
    for v in views:
        print(
            f"{v.id:<17} {v.action:<11} {v.seal_id:<26} {v.status:<10} {v.requested_by:<14} "
            f"{v.expires_at:%Y-%m-%d %H:%M}Z"
        )
    return 0


def cmd_requests_show(args: argparse.Namespace, settings: Settings) -> int:
    """Show one request."""
    from seal_service.services.key_requests import get_request

    instance = _instance(settings)
    at = _now()
    view = get_request(instance, _caller(args, instance, at), args.request_id, at=at)
    if args.json:
        print(json.dumps(asdict(view), ensure_ascii=False, indent=2, default=_json_default))
    else:
        _print_request(view)
    return 0


def cmd_seals_import_cert(args: argparse.Namespace, settings: Settings) -> int:
    """Import the CA's certificate for the key of an approved CSR rotation; it becomes current at once."""
    from seal_service.services.authorisation import Permission, actor_of, authorise
    from seal_service.services.rotation import import_certificate

    instance = _instance(settings)
    at = _now()
    caller = authorise(_caller(args, instance, at), Permission.IMPORT_CERTIFICATE)
    try:
        data = Path(args.certificate).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.certificate}: {exc.strerror}") from None
    result = import_certificate(instance, args.seal_id, data, at=at, actor=actor_of(caller))
    print(
        f"seal {result.seal_id}: certificate {result.certificate_serial} is current "
        f"(supersedes certificate {result.previous_certificate_id}); key {result.key_ref}"
    )
    return 0


def cmd_seals_csr(args: argparse.Namespace, settings: Settings) -> int:
    """Write the CSR of a seal's pending key again."""
    from seal_service.services.authorisation import Permission, authorise
    from seal_service.services.rotation import pending_csr

    instance = _instance(settings)
    authorise(_caller(args, instance, _now()), Permission.IMPORT_CERTIFICATE)
    pem = pending_csr(instance, args.seal_id)
    if args.output == "-":
        print(pem, end="")
    else:
        _write_csr(Path(args.output), pem)
    return 0


def cmd_seals_issue_cert(args: argparse.Namespace, settings: Settings) -> int:
    """Have the instance's seal CA certify a CSR for a seal (when the seal CA itself is the CA of a CSR rotation)."""
    from cryptography.hazmat.primitives import serialization

    from seal_service.services.authorisation import Permission, actor_of, authorise
    from seal_service.services.rotation import issue_certificate_from_csr

    instance = _instance(settings)
    at = _now()
    caller = authorise(_caller(args, instance, at), Permission.IMPORT_CERTIFICATE)
    try:
        csr = Path(args.csr).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.csr}: {exc.strerror}") from None
    cert = issue_certificate_from_csr(instance, args.seal_id, csr, at=at, actor=actor_of(caller))
    Path(args.output).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    print(f"wrote certificate {format(cert.serial_number, 'x')} for {args.seal_id} to {args.output}")
    return 0


def cmd_seals_history(args: argparse.Namespace, settings: Settings) -> int:
    """A seal's certificates (with their successions) and key events."""
    from seal_service.services.authorisation import Permission, authorise
    from seal_service.services.rotation import seal_history

    instance = _instance(settings)
    authorise(_caller(args, instance, _now()), Permission.READ_SEAL_HISTORY)
    history = seal_history(instance, args.seal_id)
    if args.json:
        data = asdict(history)
        for cert in data["certificates"]:
            cert.pop("certificate_der")
        print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))
        return 0
    print(f"seal {history.seal_id} ({history.status}); current certificate {history.current_certificate_id}")
    for c in history.certificates:
        after = f" succeeds {c.successor_of}" if c.successor_of else ""
        until = f" superseded {c.superseded_at:%Y-%m-%d %H:%M}Z" if c.superseded_at else ""
        revoked = f" revoked {c.revoked_at:%Y-%m-%d %H:%M}Z ({c.revocation_reason})" if c.revoked_at else ""
        print(f"  cert {c.id:<4} {c.serial_number[:16]}… {c.status:<10} {c.key_backend:<6}{after}{until}{revoked}")
    for e in history.events:
        print(f"  {e.at:%Y-%m-%d %H:%M:%S}Z {e.event:<16} cert {e.certificate_id} by {e.actor} {e.request_id or ''}")
    return 0


def cmd_seals_key_info(args: argparse.Namespace, settings: Settings) -> int:
    """Where each key of a seal lives and, for token keys, what the token attests (generated there, never
    extractable)."""
    from seal_service.keys.store import KeyResolver
    from seal_service.services.authorisation import Permission, authorise
    from seal_service.services.rotation import seal_history
    from seal_service.settings import KeyBackend
    from seal_service.storage.models import SealCertificate

    instance = _instance(settings)
    authorise(_caller(args, instance, _now()), Permission.READ_SEAL_HISTORY)
    history = seal_history(instance, args.seal_id)
    with instance.sessions() as session:
        refs = {c.id: session.get(SealCertificate, c.id).key_ref for c in history.certificates}  # type: ignore[union-attr]
    facts = []
    for cert in history.certificates:
        ref = refs[cert.id]
        entry: dict[str, object] = {"certificate_id": cert.id, "status": cert.status, "key_ref": ref}
        if KeyResolver.backend_of(ref) is KeyBackend.PKCS11:
            try:
                entry.update(instance.keys.pkcs11.describe(ref))
            except SealServiceError as exc:
                entry["error"] = exc.detail
        else:
            entry["file_exists"] = instance.key_store.exists(ref)
        facts.append(entry)
    print(json.dumps(facts, ensure_ascii=False, indent=2))
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Verify the audit hash chain and its signed checkpoints (exit 4 when broken)."""
    from seal_service.services.audit import verify_log
    from seal_service.services.authorisation import Permission, authorise

    instance = _instance(settings)
    authorise(_caller(args, instance, _now()), Permission.VERIFY_AUDIT_LOG)
    report = verify_log(instance)
    print(f"audit log intact: {report.entries} entries, head {report.last_seq} {report.last_hash[:16]}…")
    if report.last_checkpoint_seq is not None and report.last_checkpoint_at is not None:
        print(
            f"{report.checkpoints} signed checkpoint(s) verified; the last covers entry {report.last_checkpoint_seq} "
            f"({report.last_checkpoint_at.isoformat()})"
        )
    else:
        print("no signed checkpoint yet: run `seal-service audit checkpoint`")
    return 0


def cmd_audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    """Sign the current head of the audit log with the service's audit key."""
    from seal_service.services.audit import checkpoint
    from seal_service.services.authorisation import Permission, authorise

    instance = _instance(settings)
    at = _now()
    authorise(_caller(args, instance, at), Permission.CHECKPOINT_AUDIT_LOG)
    view = checkpoint(instance, at=at)
    state = "signed" if view.created else "already signed"
    print(f"checkpoint {view.id} {state}: entry {view.seq} {view.entry_hash[:16]}… at {view.at.isoformat()}")
    return 0


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    """Export audit entries by seal, action and time range as JSON or CSV (auditors)."""
    from seal_service.services.audit import export_entries, render_export
    from seal_service.services.authorisation import Permission, authorise

    instance = _instance(settings)
    authorise(_caller(args, instance, _now()), Permission.READ_AUDIT_LOG)
    records = export_entries(instance, seal_id=args.seal, start=args.start, end=args.end, action=args.action)
    text = render_export(records, args.format)
    if args.output == "-":
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len(records)} entries to {args.output}")
    return 0


def _key_file_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-file", metavar="FILE", help=f"file with your staff API key (default: ${OFFICER_KEY_ENV})"
    )


def register(sub: Any, seals_sub: Any) -> None:
    """Add ``requests`` and ``audit``, and ``seals rotate|import-cert|csr|issue-cert|history``."""
    from seal_service.storage.keys_models import KeyRequestAction

    requests = sub.add_parser(
        "requests", help="dual-control key operations: one officer requests, another approves"
    ).add_subparsers(dest="requests_cmd", required=True)
    p = requests.add_parser("create", help="request a key operation (a second officer must approve it)")
    p.add_argument("action", choices=[a.value for a in KeyRequestAction])
    p.add_argument("--seal", required=True, help="seal id (for generate: the id of the new seal)")
    p.add_argument("--authority", help="generate: authority code of the new seal")
    p.add_argument(
        "--reason",
        choices=["unspecified", "affiliationChanged", "superseded", "cessationOfOperation"],
        help="revoke: RFC 5280 reason",
    )
    p.add_argument("--invalidity-date", type=_time, help="compromise/revoke: ISO time from which the key is suspect")
    p.add_argument("--csr", metavar="FILE", help="rotate: generate a CSR for an external CA, written to FILE")
    p.add_argument("--certificate-id", type=int, help="retire-key: the superseded certificate whose key to destroy")
    p.add_argument("--ttl-hours", type=float, help="hours the request waits for approval (default 24)")
    _key_file_arg(p)
    p.set_defaults(func=cmd_requests_create)
    p = requests.add_parser("approve", help="approve another officer's request; it is executed at once")
    p.add_argument("request_id")
    p.add_argument("--csr-out", metavar="FILE", help="where to write the CSR of a --csr rotation")
    _key_file_arg(p)
    p.set_defaults(func=cmd_requests_approve)
    p = requests.add_parser("cancel", help="withdraw a pending request")
    p.add_argument("request_id")
    _key_file_arg(p)
    p.set_defaults(func=cmd_requests_cancel)
    p = requests.add_parser("list", help="list requests, newest first")
    p.add_argument("--status", choices=["pending", "executing", "executed", "failed", "expired", "cancelled"])
    p.add_argument("--seal")
    p.add_argument("--json", action="store_true")
    _key_file_arg(p)
    p.set_defaults(func=cmd_requests_list)
    p = requests.add_parser("show", help="show one request")
    p.add_argument("request_id")
    p.add_argument("--json", action="store_true")
    _key_file_arg(p)
    p.set_defaults(func=cmd_requests_show)

    p = seals_sub.add_parser("rotate", help="request a key rotation (dual control); --csr for an external CA")
    p.add_argument("seal_id")
    p.add_argument("--csr", metavar="FILE", help="write a CSR to FILE instead of certifying with the own seal CA")
    p.add_argument("--ttl-hours", type=float, help="hours the request waits for approval (default 24)")
    _key_file_arg(p)
    p.set_defaults(func=cmd_seals_rotate)
    p = seals_sub.add_parser("import-cert", help="import the CA's certificate for a pending key; it becomes current")
    p.add_argument("seal_id")
    p.add_argument("certificate", metavar="CERT.pem")
    _key_file_arg(p)
    p.set_defaults(func=cmd_seals_import_cert)
    p = seals_sub.add_parser("csr", help="write the CSR of a seal's pending key")
    p.add_argument("seal_id")
    p.add_argument("-o", "--output", default="-", help="file, or - for standard output")
    _key_file_arg(p)
    p.set_defaults(func=cmd_seals_csr)
    p = seals_sub.add_parser("issue-cert", help="certify a seal CSR with the instance's own seal CA")
    p.add_argument("seal_id")
    p.add_argument("--csr", required=True, metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="CERT.pem")
    _key_file_arg(p)
    p.set_defaults(func=cmd_seals_issue_cert)
    p = seals_sub.add_parser("history", help="a seal's certificates, successions and key events")
    p.add_argument("seal_id")
    p.add_argument("--json", action="store_true")
    _key_file_arg(p)
    p.set_defaults(func=cmd_seals_history)

    p = seals_sub.add_parser("key-info", help="where a seal's keys live; token attributes (local, extractable)")
    p.add_argument("seal_id")
    _key_file_arg(p)
    p.set_defaults(func=cmd_seals_key_info)

    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(dest="audit_cmd", required=True)
    p = audit.add_parser("verify", help="verify the hash chain and signed checkpoints (exit 4 if broken)")
    _key_file_arg(p)
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("checkpoint", help="sign the current head of the log with the audit key")
    _key_file_arg(p)
    p.set_defaults(func=cmd_audit_checkpoint)
    p = audit.add_parser("export", help="export entries by seal and time range (auditors)")
    p.add_argument("--seal")
    p.add_argument("--from", dest="start", type=_time, metavar="TIME", help="ISO time, inclusive")
    p.add_argument("--to", dest="end", type=_time, metavar="TIME", help="ISO time, exclusive")
    p.add_argument("--action", help="action prefix, e.g. seal.use or key-request")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("-o", "--output", default="-", help="file, or - for standard output")
    _key_file_arg(p)
    p.set_defaults(func=cmd_audit_export)

    # `seals revoke` (defined with the seal commands) is dual-controlled too: it files a request.
    revoke = seals_sub.choices.get("revoke")
    if revoke is not None:
        _key_file_arg(revoke)
