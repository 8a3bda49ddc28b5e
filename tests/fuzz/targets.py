"""The fuzz targets: every entry point that reads untrusted bytes, each with the errors it may answer with.

A target is built once (``Target.build()`` returns a one-argument function) and then called with arbitrary bytes.
It returns quietly when the entry point accepted the input or refused it *cleanly* (its documented error type, a
4xx problem, a rejection response). Anything else raises :class:`FuzzFinding` or lets the unexpected exception
through: that is a finding, and becomes a file under ``tests/fuzz/regressions/<target>/`` plus a fix.

The harnesses call the real code paths with a real PKI (tests/fuzz/pki, test-only keys): nothing is mocked, except
that the multipart target's caller is an approval system bound to no authority, so that a well-formed upload is
parsed and validated to the end and then refused (403) rather than sealed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

FUZZ = Path(__file__).resolve().parent
PKI_DIR = FUZZ / "pki"
CORPUS = FUZZ / "corpus"
REGRESSIONS = FUZZ / "regressions"
AT = datetime(2026, 6, 2, tzinfo=UTC)
#: Inputs larger than this are cut: the limits of the entry points are tested elsewhere, the parsers here.
MAX_INPUT = 256 * 1024

Harness = Callable[[bytes], None]


class FuzzFinding(AssertionError):
    """An entry point answered bad input in a way that is not a clean refusal."""


@dataclass(frozen=True)
class FuzzPki:
    """The fuzzing PKI, loaded from tests/fuzz/pki."""

    certs: dict[str, x509.Certificate] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)


def load_pki() -> FuzzPki:
    """Root, CA, seal, TSA, OCSP and bundle certificates with their (test-only) keys."""
    pki = FuzzPki()
    for pem in sorted(PKI_DIR.glob("*.pem")):
        pki.certs[pem.stem] = x509.load_pem_x509_certificate(pem.read_bytes())
        pki.keys[pem.stem] = serialization.load_pem_private_key((PKI_DIR / f"{pem.stem}.key").read_bytes(), None)
    return pki


def tsa_authority(pki: FuzzPki) -> Any:
    """The service's RFC 3161 responder over the fuzzing TSA certificate."""
    from seal_service.protocols.tsa import TimestampAuthority

    return TimestampAuthority(certificate=pki.certs["tsa"], private_key=pki.keys["tsa"], chain=[pki.certs["root"]])


# --- The sign API's PDF checks ------------------------------------------------------------------------------------


def pdf_checks() -> Harness:
    """``seal_service.signing.documents.inspect_pdf``: facts, or :class:`InvalidDocument`."""
    from seal_service.errors import InvalidDocument
    from seal_service.signing.documents import inspect_pdf

    def run(data: bytes) -> None:
        with contextlib.suppress(InvalidDocument):
            inspect_pdf(data, max_bytes=MAX_INPUT)

    return run


def sign_input() -> Harness:
    """What sealing reads of a PDF that passed the checks: pyHanko's incremental writer and the page box the stamp
    goes on (``seal_service.signing.sealer``); a refusal must come from the checks, never from these."""
    from seal_service.errors import InvalidDocument
    from seal_service.signing.documents import inspect_pdf
    from seal_service.signing.sealer import open_for_sealing

    def run(data: bytes) -> None:
        try:
            inspect_pdf(data, max_bytes=MAX_INPUT)
            open_for_sealing(data, -1)
        except InvalidDocument:
            return

    return run


# --- seal-verify ------------------------------------------------------------------------------------------------


def verify_pdf() -> Harness:
    """``verifier.verify_pdf``: a report for any bytes, never an exception (its documented contract)."""
    from verifier.verify import verify_pdf as verify

    # pyHanko logs every failed validation with its traceback; the report carries the verdict.
    for noisy in ("pyhanko", "pyhanko_certvalidator", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    roots = [load_pki().certs["root"]]

    def run(data: bytes) -> None:
        report = verify(data, trust_roots=roots, at=AT, file="fuzz.pdf")
        if not hasattr(report, "verdict"):
            raise FuzzFinding(f"verify_pdf returned {type(report).__name__}, not a report")

    return run


def object_reader() -> Harness:
    """The fast path's object reader: exactly pyHanko's object (class, value, position) or the same error."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader

    from verifier import _object_reader

    handler = PdfFileReader(BytesIO((CORPUS / "verify_pdf" / "sealed.pdf").read_bytes()))
    container = generic.Reference(1, 0, handler)

    def describe(obj: Any) -> Any:
        attrs = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
        ref = attrs.pop("container_ref", None)
        where = "container" if ref is container else repr(ref)
        if isinstance(obj, generic.IndirectObject):
            attrs.pop("reference")
            value: Any = (obj.idnum, obj.generation)
        elif isinstance(obj, dict):
            value = tuple((describe(k), describe(v)) for k, v in dict.items(obj))
            if isinstance(obj, generic.StreamObject):
                value = (value, obj.encoded_data)
                attrs = {k: v for k, v in attrs.items() if k not in {"_encoded_data", "_data", "_handler"}}
        elif isinstance(obj, list):
            value = tuple(describe(item) for item in obj)
        elif isinstance(obj, Decimal):
            value = str(obj)
        elif isinstance(obj, str | bytes | int):
            value = (type(obj).__mro__[-2].__name__, obj)
        else:
            value = None
        return type(obj).__name__, where, value, sorted((k, repr(v)) for k, v in attrs.items())

    def read(reader: Any, data: bytes) -> Any:
        stream = BytesIO(data)
        try:
            obj = reader(stream, container)
        except Exception as exc:  # the error is part of the behaviour compared
            return "error", type(exc).__name__
        return describe(obj), stream.tell()

    def run(data: bytes) -> None:
        ours = read(_object_reader.read_object, data)
        if _object_reader.comment_runs_to_end(data, 0):
            # pyHanko's own reader loops forever here (regressions/object_reader/): ours must refuse instead.
            if ours != ("error", "PdfReadError"):
                raise FuzzFinding(f"a comment running to the end of the data gave {ours!r}")
            return
        installed = generic.read_object
        generic.read_object = _object_reader._ORIGINAL
        try:
            theirs = read(_object_reader._ORIGINAL, data)
        finally:
            generic.read_object = installed
        if ours != theirs:
            raise FuzzFinding(f"fast object reader differs from pyHanko's: {ours!r} != {theirs!r}")

    return run


def cms() -> Harness:
    """The fast path's CMS reader (``verifier._cms``): its structures, or :class:`DerError`."""
    from verifier import _cms

    readers = (_cms.signed_data, _cms.tst_info, _cms.certificate_serial_and_issuer, _cms.oid_value, _cms.octets_value)

    def run(data: bytes) -> None:
        for reader in readers:
            with contextlib.suppress(_cms.DerError):
                reader(data)

    return run


def trust_bundle() -> Harness:
    """``verifier.bundle.load_trust_bundle`` on a whole document: a bundle, or a :class:`VerifierError`."""
    from verifier.bundle import load_trust_bundle
    from verifier.errors import VerifierError

    roots = [load_pki().certs["root"]]

    def run(data: bytes) -> None:
        with contextlib.suppress(VerifierError):
            load_trust_bundle(data, trust_roots=roots, at=AT)

    return run


def trust_bundle_payload() -> Harness:
    """The bundle's payload reader, reached past the signature: the input is signed with the bundle key first."""
    from seal_service.services.trust_bundle import sign_payload
    from verifier.bundle import load_trust_bundle
    from verifier.errors import VerifierError

    pki = load_pki()
    roots = [pki.certs["root"]]

    def run(data: bytes) -> None:
        document = sign_payload(data, certificate=pki.certs["bundle"], key=pki.keys["bundle"])
        with contextlib.suppress(VerifierError):
            load_trust_bundle(document, trust_roots=roots, at=AT)

    return run


# --- The service's protocol endpoints -----------------------------------------------------------------------------


class _Alarm(logging.Handler):
    """Turns an error logged by a responder (its catch-all for unexpected failures) into a finding."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _alarm(logger_name: str) -> _Alarm:
    alarm = _Alarm()
    logger = logging.getLogger(logger_name)
    logger.addHandler(alarm)
    logger.propagate = False
    return alarm


def _check_alarm(alarm: _Alarm, what: str) -> None:
    if alarm.records:
        record = alarm.records[0]
        alarm.records.clear()
        raise FuzzFinding(f"{what} hit its catch-all: {record.getMessage()} {record.exc_info!r}")


def ocsp_request() -> Harness:
    """``OCSPResponder.respond``: a signed answer or ``malformedRequest``, never its ``internalError`` catch-all."""
    from asn1crypto import ocsp

    from seal_service.protocols import ocsp as protocol

    pki = load_pki()
    seal_serial = pki.certs["seal"].serial_number
    responder = protocol.OCSPResponder(
        issuer=pki.certs["ca"],
        responder_certificate=pki.certs["ocsp"],
        responder_key=pki.keys["ocsp"],
        status_of=lambda serial: protocol.CertificateStatus(serial) if serial == seal_serial else None,
    )
    alarm = _alarm(protocol.__name__)

    def run(data: bytes) -> None:
        answer = responder.respond(data, at=AT)
        _check_alarm(alarm, "the OCSP responder")
        status = ocsp.OCSPResponse.load(answer)["response_status"].native
        if status not in ("successful", "malformed_request"):
            raise FuzzFinding(f"OCSP answered {status}")

    return run


def tsa_request() -> Harness:
    """``TimestampAuthority.respond``: a token or a rejection, never its ``systemFailure`` catch-all."""
    from seal_service.protocols import tsa as protocol

    authority = tsa_authority(load_pki())
    alarm = _alarm(protocol.__name__)

    def run(data: bytes) -> None:
        answer = authority.respond(data, at=AT)
        _check_alarm(alarm, "the TSA")
        # The service's own TimeStampResp type: asn1crypto's makes the token mandatory, so a rejection (no token)
        # would not load with it.
        status = protocol._TimeStampResp.load(answer)["status"]
        fail_info = status["fail_info"].native
        if fail_info and "system_failure" in fail_info:
            raise FuzzFinding("the TSA answered systemFailure")

    return run


# --- The multipart upload of the sign API -------------------------------------------------------------------------


def multipart_upload() -> Harness:
    """``POST /v1/licences`` through the whole ASGI app (upload limit, multipart parser, form validation, problem
    translation): any answer below 500, and every refusal a problem+json. Input: ``Content-Type`` value, a blank
    line, the body."""
    from seal_service.api.app import create_app
    from seal_service.api.deps import get_caller
    from seal_service.services.apikeys import Caller, Role
    from seal_service.settings import Settings

    # python-multipart logs each malformed part; the answer to the client is what is checked.
    logging.getLogger("multipart").setLevel(logging.CRITICAL)
    logging.getLogger("python_multipart").setLevel(logging.CRITICAL)
    home = Path(tempfile.mkdtemp(prefix="fuzz-multipart-"))
    app = create_app(Settings(home=home, max_upload_bytes=MAX_INPUT))
    # An approval system bound to no authority: the form is read and checked in full, then sealing is refused.
    app.dependency_overrides[get_caller] = lambda: Caller("fuzz", "fuzz", Role.APPROVAL_SYSTEM, None, None)
    loop = asyncio.new_event_loop()

    async def post(content_type: bytes, body: bytes) -> tuple[int, bytes]:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/licences",
            "raw_path": b"/v1/licences",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", b"Bearer fuzz"),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        headers = dict(start.get("headers") or [])
        return int(start["status"]), headers.get(b"content-type", b"")

    def run(data: bytes) -> None:
        content_type, _, body = data.partition(b"\r\n\r\n")
        status, media = loop.run_until_complete(post(content_type[:300], body))
        if status >= 500:
            raise FuzzFinding(f"the sign API answered {status} to an upload")
        if status >= 400 and not media.startswith(b"application/problem+json"):
            raise FuzzFinding(f"the sign API refused an upload ({status}) without a problem body ({media!r})")

    return run


@dataclass(frozen=True)
class Target:
    """One fuzz target: its name (and corpus folder), what it reads, and its harness factory."""

    name: str
    reads: str
    build: Callable[[], Harness]
    #: Packages whose code atheris instruments for coverage while this target is imported.
    instrument: tuple[str, ...]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("pdf_checks", "a PDF handed to the sign API", pdf_checks, ("seal_service.signing",)),
        Target("sign_input", "a PDF the checks accepted, as sealing reads it", sign_input, ("seal_service", "pyhanko")),
        Target("verify_pdf", "a PDF handed to seal-verify", verify_pdf, ("verifier", "pyhanko")),
        Target("object_reader", "one PDF object, fast reader vs pyHanko's", object_reader, ("verifier", "pyhanko")),
        Target("cms", "CMS SignedData, TSTInfo, certificate DER", cms, ("verifier",)),
        Target("trust_bundle", "a trust bundle document", trust_bundle, ("verifier",)),
        Target("trust_bundle_payload", "a signed trust bundle's payload", trust_bundle_payload, ("verifier",)),
        Target("ocsp_request", "an OCSP request (POST body)", ocsp_request, ("seal_service.protocols", "asn1crypto")),
        Target("tsa_request", "an RFC 3161 time-stamp request", tsa_request, ("seal_service.protocols", "asn1crypto")),
        Target(
            "multipart_upload",
            "a multipart upload to POST /v1/licences",
            multipart_upload,
            ("seal_service.api", "multipart", "starlette", "fastapi"),
        ),
    )
}


def corpus(name: str) -> list[Path]:
    """The seed files and the regression files of a target."""
    files = [p for p in sorted((CORPUS / name).glob("*")) if p.is_file()]
    return files + [p for p in sorted((REGRESSIONS / name).glob("*")) if p.is_file()]


__all__ = ["AT", "TARGETS", "FuzzFinding", "Target", "corpus", "load_pki", "tsa_authority"]
