"""``seal-service``: the operator's command line.

Example::

    $ seal-service init
    $ seal-service seals list
    $ seal-service sign licence.pdf -o sealed.pdf --seal jc-bureau-approval --item JC-001 \\
          --holder 晋城市某某餐饮有限公司

Exit codes (decided in one place, ``seal_service.commands.outcome``): 0 success; 2 bad usage or input, or a refusal
(unknown seal or item, seal not usable, not authorised, damaged PDF, an output that cannot be written); 3 no
instance here, the instance is misconfigured, its database unusable or a key cannot be used; 4 ``audit verify``
found the audit log tampered with; 70 an unexpected error (a bug); 141 the output pipe was closed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

from seal_service.commands.outcome import EXIT_CONFIG, EXIT_INPUT, EXIT_INTEGRITY, EXIT_OK
from seal_service.settings import KeyAlgorithm, Settings

__all__ = ["EXIT_CONFIG", "EXIT_INPUT", "EXIT_INTEGRITY", "EXIT_OK", "build_parser", "main"]

#: Modules under ``seal_service/commands/`` that add subcommands; one line per feature area.
COMMAND_MODULES: tuple[str, ...] = (
    "seal_service.commands.apikeys",
    "seal_service.commands.archive",
    "seal_service.commands.keys",
    "seal_service.commands.lifecycle",
    "seal_service.commands.documents",
    "seal_service.commands.complaints",
    "seal_service.commands.backup",
    "seal_service.commands.supervision",
    "seal_service.commands.log",
    "seal_service.commands.gm",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    """Create the instance: development PKI, schema, authorities and demo seals (idempotent)."""
    from seal_service.services.bootstrap import initialise

    algorithm = KeyAlgorithm(args.algorithm) if args.algorithm else None
    report = initialise(_instance(settings), at=_now(), algorithm=algorithm)
    print(f"instance: {settings.resolved_home}")
    print(f"database: {settings.resolved_database_url}")
    for line in report.created:
        print(f"  created  {line}")
    for line in report.present:
        print(f"  present  {line}")
    print("done: nothing was overwritten" if not report.created else f"done: {len(report.created)} created")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the HTTP service with uvicorn."""
    from seal_service.ops.serving import metrics_directory

    settings.check_startup()
    with metrics_directory():  # first: every process of the server counts its metrics there
        return _serve(args, settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from seal_service.ops.logs import LOG_LEVEL_ENV

    os.environ[LOG_LEVEL_ENV] = args.log_level  # for the sealing processes, which log like the workers
    # Sealing processes shared by all API workers, one per core unless configured (seal_service.api.
    # sealing_processes): sealing then never shares a GIL with an event loop. The workers find their socket in
    # the environment, from which they read their settings.
    processes = settings.signing_processes if "signing_processes" in settings.model_fields_set else os.cpu_count()
    sealing = None
    if processes:
        from seal_service.api.sealing_processes import SealingProcesses

        sealing = SealingProcesses(settings, processes).start()
        os.environ["SEAL_SEALING_SOCKET"] = str(sealing.socket_path)
    base = settings.public_url
    print(f"one-seal service on http://{args.host}:{args.port}  (public URL {base})", flush=True)
    print(f"  API docs       {base}/docs", flush=True)
    print(f"  health         {base}/healthz   readiness {base}/readyz   metrics {base}/metrics", flush=True)
    print(f"  catalogue      {base}/v1/catalogue", flush=True)
    print(f"  root cert      {base}/pki/root.cer", flush=True)
    print(f"  trust bundle   {base}/v1/trust-bundle   catalogue page {base}/catalogue", flush=True)
    print(f"  CRL            {base}/crl/seal-ca.crl   OCSP {base}/ocsp   TSA {base}/tsa", flush=True)
    print(f"  issuance log   {base}/log/checkpoint   tiles {base}/log/tile/...   key {base}/log/key", flush=True)
    print(f"  sealing        {f'{processes} sealing processes' if sealing else 'threads of each worker'}", flush=True)
    try:
        _run_uvicorn(args, settings)
    finally:
        if sealing is not None:
            sealing.stop()
    return EXIT_OK


def _run_uvicorn(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from seal_service.ops.logs import logging_config

    uvicorn.run(
        "seal_service.api.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # Logs: JSON lines in production, readable ones in development, one formatter for every logger; the
        # service writes its own access line per request (seal_service.api.observability: request id, route
        # template, status, duration), so uvicorn's, which would also hold the client address, is off.
        # uvloop and httptools are picked by uvicorn's "auto" (both come with uvicorn[standard]).
        log_config=logging_config(settings.env.value, args.log_level, access_log=args.access_log),
        access_log=False,
        backlog=args.backlog,
        # The client address (public rate limits) comes from X-Forwarded-For only if the peer is a listed proxy.
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or None,
    )


def cmd_sign(args: argparse.Namespace, settings: Settings) -> int:
    """Seal a PDF licence locally and record it."""
    from seal_service.commands.outcome import writable_output
    from seal_service.errors import InvalidInput
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from seal_service.signing.sealer import PadesLevel

    source = Path(args.input)
    try:
        pdf = source.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror}") from None
    out = Path(args.output)
    # Checked (and the temporary file created) before sealing: a licence is never recorded for a file that
    # cannot be written.
    tmp = writable_output(out, force=args.force)
    request = LicenceRequest(
        item_code=args.item,
        holder_name=args.holder,
        seal_id=args.seal,
        level=PadesLevel(args.level),
        holder_code=args.holder_code,
        holder_code_type=args.holder_code_type,
        number=args.number,
        valid_from=args.valid_from,
        valid_until=args.valid_until,
        gm=not args.no_gm,
    )
    try:
        sealed = seal_licence(_instance(settings), pdf, request, actor="cli", at=_now())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # Write to the temporary file and rename, so a failure never leaves a partial sealed file behind.
    try:
        tmp.write_bytes(sealed.pdf)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInput(
            f"licence {sealed.licence_id} ({sealed.number}) was sealed and recorded, but {out} could not be written "
            f"({exc.strerror}); fetch it with `seal-service licences get {sealed.licence_id} -o FILE`",
            field="output",
        ) from None
    print(f"sealed     {out} ({len(sealed.pdf)} bytes, {sealed.level.value}, seals {'+'.join(sealed.seals)})")
    print(f"licence    {sealed.licence_id}")
    print(f"identifier {sealed.identifier}")
    print(f"number     {sealed.number}")
    print(f"sha256     {sealed.document_sha256}")
    print(f"verify     {sealed.verify_url}")
    return EXIT_OK


def cmd_seals_list(args: argparse.Namespace, settings: Settings) -> int:
    """List seals, their authorities and certificates."""
    from seal_service.services.registry import list_seals

    seals = list_seals(_instance(settings), at=_now())
    if args.json:
        print(json.dumps([asdict(s) for s in seals], ensure_ascii=False, indent=2, default=_json_default))
        return EXIT_OK
    print(f"{'SEAL ID':<24} {'STATUS':<9} {'AUTHORITY':<12} NAME")
    for s in seals:
        print(f"{s.id:<24} {s.status:<9} {s.authority_code:<12} {s.name}")
        for c in s.certificates:
            until = f"{c.not_after:%Y-%m-%d}"
            print(f"{'':<24}   cert {c.serial_number[:16]}… {c.status} until {until}")
    return EXIT_OK


def cmd_seals_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Request a seal's revocation; it is executed (and published through OCSP and the CRL at once) when a second
    security officer approves it (dual control, ``seal-service requests approve``)."""
    from seal_service.commands.keys import request_revocation

    return request_revocation(args, settings)


def cmd_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    """List the approval items and who seals them over time (policy file + recorded memoranda)."""
    from seal_service.memoranda import china_day

    cat = _instance(settings).lifecycle.state().catalogue
    if args.json:
        data = {
            "authorities": [asdict(a) for a in cat.authorities.values()],
            "items": [asdict(i) for i in cat.items.values()],
        }
        print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))
        return EXIT_OK
    today = china_day(_now())
    print(f"{'ITEM':<8} {'SEALED BY TODAY':<16} NAME")
    for item in cat.items.values():
        print(f"{item.code:<8} {item.sealing_authority(today) or '-':<16} {item.name}")
        for p in item.sealed_by:
            memo = f" (memorandum {p.memorandum})" if p.memorandum else ""
            print(f"{'':<8}   {p.authority} from {p.start}" + (f" until {p.end}" if p.end else "") + memo)
    return EXIT_OK


def cmd_ca_cert(args: argparse.Namespace, settings: Settings) -> int:
    """Write the root certificate (PEM) to trust in verifiers."""
    from cryptography.hazmat.primitives import serialization

    from seal_service.instance import PkiRole

    if args.role.startswith("sm2-"):
        from seal_service.gm import Sm2Role, sm2_certificate_pem

        pem = sm2_certificate_pem(_instance(settings), Sm2Role(args.role))
    else:
        pem = _instance(settings).pki.certificate(PkiRole(args.role)).public_bytes(serialization.Encoding.PEM)
    if args.output == "-":
        sys.stdout.write(pem.decode())
    else:
        Path(args.output).write_bytes(pem)
        print(f"wrote {args.role} certificate to {args.output}")
    return EXIT_OK


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render docs)."""
    parser = argparse.ArgumentParser(
        prog="seal-service",
        description="One-seal service: electronic approval seals on PDF licences. Settings come from SEAL_* "
        "environment variables (SEAL_HOME, SEAL_DATABASE_URL, SEAL_PUBLIC_URL, SEAL_KEY_PASSPHRASE[_FILE], SEAL_ENV).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create the instance (dev PKI, schema, demo authorities and seals); idempotent")
    p.add_argument("--algorithm", choices=[a.value for a in KeyAlgorithm], help="key algorithm (default ec-p256)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="run the HTTP service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one log line per request at level info (default on; off behind a proxy that logs requests itself)",
    )
    p.add_argument("--backlog", type=int, default=2048, help="pending connections the socket queues (default 2048)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("sign", help="seal a PDF licence and record it")
    p.add_argument("input", metavar="IN.pdf")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf")
    p.add_argument("--seal", required=True, help="seal id (see `seals list`)")
    p.add_argument("--item", required=True, help="approval item code (see `catalogue`)")
    p.add_argument("--holder", required=True, help="licence holder name")
    p.add_argument("--holder-code", help="holder's ID number or unified social credit code")
    p.add_argument("--holder-code-type", choices=["111", "001"], help="111 = ID card number, 001 = credit code")
    p.add_argument("--number", help="licence number (default: jurisdiction-serial)")
    p.add_argument("--valid-from", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--valid-until", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--level", default="B-LTA", choices=["B-B", "B-T", "B-LT", "B-LTA"], help="PAdES level")
    p.add_argument("--force", action="store_true", help="overwrite OUT.pdf if it exists")
    p.add_argument("--no-gm", action="store_true", help="PAdES seal only, no national (SM2) seal")
    p.set_defaults(func=cmd_sign)

    seals = sub.add_parser("seals", help="seals and their certificates").add_subparsers(dest="seals_cmd", required=True)
    p = seals.add_parser("list", help="list seals with ids other commands take")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_seals_list)
    p = seals.add_parser("revoke", help="revoke a seal's certificates at once")
    p.add_argument("seal_id")
    p.add_argument(
        "--reason",
        required=True,
        choices=["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"],
    )
    p.add_argument("--invalidity-date", help="ISO time from which the key is suspect (keyCompromise)")
    p.set_defaults(func=cmd_seals_revoke)

    p = sub.add_parser("catalogue", help="list the approval items and who seals them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_catalogue)

    p = sub.add_parser("ca-cert", help="write the root (or another service) certificate as PEM")
    p.add_argument("-o", "--output", required=True, help="file, or - for standard output")
    p.add_argument("--role", default="root", choices=["root", "seal-ca", "tsa", "ocsp", "sm2-root", "sm2-seal-ca"])
    p.set_defaults(func=cmd_ca_cert)

    # Feature areas register their own subcommands (each module: ``register(sub, seals_sub)``).
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub, seals)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one message line and an exit code in one place (``commands.outcome``)."""
    from seal_service.commands.outcome import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    return run_command(func, args, Settings)


if __name__ == "__main__":
    raise SystemExit(main())
