"""Trust bundles: load the service's signed bundle and check that it came from the service and is current.

Example::

    from datetime import UTC, datetime
    from pathlib import Path

    from verifier.bundle import load_trust_bundle
    from verifier.trust import load_trust_roots

    roots = load_trust_roots(["one-seal-root.pem"])      # obtained out of band, once
    bundle = load_trust_bundle(Path("trust-bundle.json").read_bytes(), trust_roots=roots, at=datetime.now(UTC))
    seal = bundle.seal("jc-market-approval")
    print(bundle.version, seal.retirement)                # e.g. 12 SealRetirement(day=2027-01-01, ...)

A bundle is JSON: ``{"format": "one-seal-trust-bundle/1", "payload": <base64 JSON>, "signature":
{"certificate": <base64 DER>, "value": <base64>}}``. The checks, in order (each raises a :class:`BundleError`):

1. The envelope has that format and decodes.
2. The signer certificate was issued directly by one of the caller's trust roots, is valid at ``at`` and carries
   the critical extended key usage id-kp-oneSealTrustBundleSigning (and no other), so no other key of the
   service (a seal, the TSA, the audit signer) can make a bundle.
3. The signature verifies over ``b"one-seal-trust-bundle/1\\x00" + payload``.
4. The payload is a bundle of format 1 with every field this verifier needs, of the right type. Fields it does
   not know are ignored (the service may add some; a breaking change bumps ``bundle_format``).
5. The bundle is current: issued no later than ``at`` (5 minutes' clock skew allowed), ``at`` before its
   ``next_update``, and its version no lower than ``min_version`` (the last version the caller accepted), which
   stops a replayed old bundle from hiding a newer revocation.
6. The root the bundle lists is one of the caller's trust roots: a bundle cannot introduce a root of its own.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ObjectIdentifier

from verifier.errors import InputError
from verifier.gm_revocation import Sm2StatusEntry
from verifier.gm_structures import is_sm2_certificate
from verifier.tlog import TlogError
from verifier.transparency import LogPolicy

__all__ = [
    "BUNDLE_FORMAT",
    "TRUST_BUNDLE_SIGNING",
    "BundleAuthority",
    "BundleCertificate",
    "BundleError",
    "BundleItem",
    "BundleMemorandum",
    "BundleSeal",
    "BundleSignatureError",
    "CertificateRevocation",
    "SealRetirement",
    "SealingPeriod",
    "StaleBundleError",
    "TrustBundle",
    "load_trust_bundle",
]

BUNDLE_FORMAT = "one-seal-trust-bundle/1"
_SIGNING_PREFIX = BUNDLE_FORMAT.encode() + b"\x00"
#: id-kp-oneSealTrustBundleSigning; the service's ``seal_service.pki.certificates.TRUST_BUNDLE_SIGNING``.
TRUST_BUNDLE_SIGNING = ObjectIdentifier("2.25.204790046195683481055966156548470354339")
_CLOCK_SKEW = timedelta(minutes=5)
_MAX_BUNDLE_BYTES = 64 * 1024 * 1024
_SNAKE = re.compile(r"[A-Z]")


class BundleError(InputError):
    """The trust bundle cannot be used: malformed, not signed by the service, or not current."""


class BundleSignatureError(BundleError):
    """The bundle's signature or signer does not check out against the trust roots: do not use it."""


class StaleBundleError(BundleError):
    """The bundle is genuine but not current (expired, issued in the future, or older than one already seen)."""


@dataclass(frozen=True)
class CertificateRevocation:
    """A seal certificate's revocation as the registry publishes it (possibly scheduled: a future cut-over)."""

    revoked_at: datetime
    """From when the certificate counts as revoked."""
    reason: str
    """RFC 5280 reason name: keyCompromise, cessationOfOperation, superseded, ..."""
    invalidity_date: datetime | None
    """When the key is known or suspected to have been compromised (keyCompromise)."""
    from_retirement: bool
    """The revocation (or its time) comes from the seal's retirement at a memorandum cut-over."""


@dataclass(frozen=True)
class BundleCertificate:
    """One certificate of a seal."""

    serial: str
    """Serial number, lower-case hexadecimal."""
    sha256: str
    """SHA-256 of the DER certificate, lower-case hexadecimal."""
    certificate: x509.Certificate
    revocation: CertificateRevocation | None


@dataclass(frozen=True)
class SealRetirement:
    """A department seal retired (废止并封存) at the cut-over of a handover memorandum."""

    day: date
    """The cut-over day (China calendar)."""
    at: datetime
    """The cut-over instant: 00:00 China time (+08:00) of ``day``."""
    memorandum: int | None
    """The memorandum that moved the department's last item (None: the catalogue file records it)."""
    successor: str | None
    """The bureau that seals the department's items from then on."""


@dataclass(frozen=True)
class BundleSeal:
    """A seal, its certificates and its lifecycle."""

    id: str
    """Seal id, also the certificates' pseudonym attribute (OID 2.5.4.65)."""
    name: str
    authority: str
    """Authority code in the catalogue."""
    credit_code: str
    """The authority's unified social credit code, also the certificates' organizationIdentifier (2.5.4.97)."""
    status: str
    """Status when the bundle was issued: active, retired, revoked or suspended (judge by time, not by this)."""
    certificates: tuple[BundleCertificate, ...]
    retirement: SealRetirement | None
    """Past or scheduled retirement."""


@dataclass(frozen=True)
class SealingPeriod:
    """An authority seals an item from ``start`` (inclusive) until ``end`` (exclusive; None = still)."""

    authority: str
    start: date
    end: date | None
    memorandum: int | None


@dataclass(frozen=True)
class BundleItem:
    """An approval item of the catalogue with its history."""

    code: str
    name: str
    licence_type: str
    licence_type_code: str
    supervisor: str
    sealed_by: tuple[SealingPeriod, ...]

    def sealing_authority(self, day: date) -> str | None:
        """The authority that seals the item on ``day`` (China calendar), None if nobody does."""
        for period in self.sealed_by:
            if period.start <= day and (period.end is None or day < period.end):
                return period.authority
        return None


@dataclass(frozen=True)
class BundleAuthority:
    """A bureau or department."""

    code: str
    name: str
    kind: str
    jurisdiction: str
    credit_code: str


@dataclass(frozen=True)
class BundleMemorandum:
    """A recorded handover memorandum (审管衔接备忘录)."""

    id: int
    department: str
    bureau: str
    items: tuple[str, ...]
    effective_on: date
    cut_over_at: datetime
    reference: str | None


@dataclass(frozen=True)
class TrustBundle:
    """A checked trust bundle."""

    version: int
    """Monotonic version; a verifier should never accept a lower one than it has seen."""
    issued_at: datetime
    next_update: datetime
    """The bundle must not be used at or after this instant; fetch a new one."""
    publisher: str
    """Base URL of the service that issued it."""
    certificates: Mapping[str, x509.Certificate]
    """The service certificates by role: root, seal-ca, tsa, ocsp, bundle."""
    authorities: Mapping[str, BundleAuthority]
    seals: Mapping[str, BundleSeal]
    items: Mapping[str, BundleItem]
    memoranda: tuple[BundleMemorandum, ...]
    signer: x509.Certificate
    """The bundle signer's certificate (issued by the root)."""
    log: LogPolicy | None = None
    """The issuance log's keys, witnesses, k-of-n policy and pinned checkpoint (None in bundles without a log)."""
    sm2_certificates: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    """The SM2 service certificates (DER) by role, ``sm2-root`` and ``sm2-seal-ca``, for national seals (国密);
    trusted because the bundle signer (under the root) vouches for them."""

    sm2_seal_status: Mapping[str, CertificateRevocation | None] = dataclasses.field(default_factory=dict)
    """The status of each SM2 seal certificate by the SHA-256 of its DER (None: not revoked), as the registry
    published it with this bundle; a revocation source for national seals (:mod:`verifier.gm_revocation`)."""

    @property
    def sm2_status_source(self) -> tuple[str, datetime, datetime, Mapping[str, Sm2StatusEntry | None]] | None:
        """The SM2 status entries as a revocation source for :func:`verifier.gm_revocation.national_status`
        (None when the bundle lists no SM2 seal certificate: an older service)."""
        if not self.sm2_seal_status:
            return None
        entries = {
            digest: None
            if r is None
            else Sm2StatusEntry(
                revoked_at=r.revoked_at,
                reason=_SNAKE.sub(lambda m: "_" + m.group(0).lower(), r.reason),
                invalidity_date=r.invalidity_date,
            )
            for digest, r in self.sm2_seal_status.items()
        }
        return (f"trust bundle version {self.version}", self.issued_at, self.next_update, entries)

    @property
    def sm2_roots(self) -> tuple[bytes, ...]:
        """The SM2 root(s) national seals are checked against."""
        root = self.sm2_certificates.get("sm2-root")
        return (root,) if root is not None else ()

    @property
    def root(self) -> x509.Certificate:
        """The root certificate the bundle names (already checked to be one of the caller's trust roots)."""
        return self.certificates["root"]

    def seal(self, seal_id: str) -> BundleSeal | None:
        """The seal with ``seal_id``, None when the bundle does not list it."""
        return self.seals.get(seal_id)

    def certificate_of(self, seal_id: str, serial: str) -> BundleCertificate | None:
        """The certificate of ``seal_id`` with serial ``serial`` (hexadecimal, any case)."""
        seal = self.seals.get(seal_id)
        if seal is None:
            return None
        wanted = serial.lower().lstrip("0") or "0"
        return next((c for c in seal.certificates if (c.serial.lstrip("0") or "0") == wanted), None)


class _Payload:
    """Typed, path-naming access to the decoded payload."""

    def __init__(self, data: object) -> None:
        self.data = data

    @staticmethod
    def fail(path: str, message: str) -> BundleError:
        return BundleError(f"trust bundle: {path}: {message}")

    def obj(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected an object")
        return value

    def get(self, table: Mapping[str, Any], key: str, path: str, kind: type, *, optional: bool = False) -> Any:
        if key not in table or table[key] is None:
            if optional:
                return None
            raise self.fail(f"{path}.{key}", "missing")
        value = table[key]
        if kind is int and isinstance(value, bool):
            raise self.fail(f"{path}.{key}", "expected an integer")
        if not isinstance(value, kind):
            raise self.fail(f"{path}.{key}", f"expected {kind.__name__}")
        return value

    def text(self, table: Mapping[str, Any], key: str, path: str) -> str:
        value: str = self.get(table, key, path, str)
        return value

    def opt_text(self, table: Mapping[str, Any], key: str, path: str) -> str | None:
        value: str | None = self.get(table, key, path, str, optional=True)
        return value

    def integer(self, table: Mapping[str, Any], key: str, path: str, *, optional: bool = False) -> int | None:
        value: int | None = self.get(table, key, path, int, optional=optional)
        return value

    def instant(self, table: Mapping[str, Any], key: str, path: str, *, optional: bool = False) -> datetime | None:
        raw = self.get(table, key, path, str, optional=optional)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise self.fail(f"{path}.{key}", f"not an ISO 8601 time: {raw!r}") from None
        if value.tzinfo is None:
            raise self.fail(f"{path}.{key}", "time without a UTC offset")
        return value.astimezone(UTC)

    def day(self, table: Mapping[str, Any], key: str, path: str, *, optional: bool = False) -> date | None:
        raw = self.get(table, key, path, str, optional=optional)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise self.fail(f"{path}.{key}", f"not a date YYYY-MM-DD: {raw!r}") from None

    def items(self, table: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value: list[Any] = self.get(table, key, path, list)
        return value

    def certificate(self, raw: object, path: str) -> x509.Certificate:
        if not isinstance(raw, str):
            raise self.fail(path, "expected base64 DER")
        try:
            return x509.load_der_x509_certificate(base64.b64decode(raw, validate=True))
        except (ValueError, binascii.Error, x509.InvalidVersion):
            raise self.fail(path, "not a base64 DER certificate") from None


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"trust bundle: {what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise BundleError(f"trust bundle: {what} is not valid base64") from None


def _check_signer(signer: x509.Certificate, trust_roots: Sequence[x509.Certificate], at: datetime) -> None:
    # (2) issued directly by a trust root, valid now, and for this purpose only.
    for root in trust_roots:
        try:
            signer.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        break
    else:
        raise BundleSignatureError("trust bundle: the signer certificate was not issued by any of the trust roots")
    if not signer.not_valid_before_utc <= at <= signer.not_valid_after_utc:
        raise BundleSignatureError(
            f"trust bundle: the signer certificate is not valid at {at.isoformat()} "
            f"(valid {signer.not_valid_before_utc.isoformat()} to {signer.not_valid_after_utc.isoformat()})"
        )
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise BundleSignatureError("trust bundle: the signer certificate is not a trust bundle signer") from None
    if not eku.critical or list(eku.value) != [TRUST_BUNDLE_SIGNING]:
        raise BundleSignatureError("trust bundle: the signer certificate is not a trust bundle signer")


def _check_signature(signer: x509.Certificate, signature: bytes, payload: bytes) -> None:
    # (3) the signature over the domain-separated payload; the algorithm follows from the key, never the document.
    key = signer.public_key()
    message = _SIGNING_PREFIX + payload
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise BundleSignatureError(f"trust bundle: unsupported signer key type {type(key).__name__}")
    except InvalidSignature:
        raise BundleSignatureError("trust bundle: the signature does not verify; the bundle was altered") from None


def _revocation(p: _Payload, raw: object, path: str) -> CertificateRevocation | None:
    if raw is None:
        return None
    table = p.obj(raw, path)
    revoked_at = p.instant(table, "revoked_at", path)
    assert revoked_at is not None
    from_retirement = table.get("retirement", False)
    return CertificateRevocation(
        revoked_at=revoked_at,
        reason=p.text(table, "reason", path),
        invalidity_date=p.instant(table, "invalidity_date", path, optional=True),
        from_retirement=from_retirement is True,
    )


def _seal(p: _Payload, raw: object, path: str) -> BundleSeal:
    table = p.obj(raw, path)
    certificates = []
    for j, raw_cert in enumerate(p.items(table, "certificates", path)):
        cpath = f"{path}.certificates[{j}]"
        c = p.obj(raw_cert, cpath)
        cert = p.certificate(c.get("der"), f"{cpath}.der")
        digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        if p.text(c, "sha256", cpath) != digest:
            raise p.fail(f"{cpath}.sha256", "does not match the certificate")
        certificates.append(
            BundleCertificate(
                serial=format(cert.serial_number, "x"),
                sha256=digest,
                certificate=cert,
                revocation=_revocation(p, c.get("revocation"), f"{cpath}.revocation"),
            )
        )
    retirement = None
    for k, raw_event in enumerate(p.items(table, "history", path)):
        epath = f"{path}.history[{k}]"
        event = p.obj(raw_event, epath)
        if p.text(event, "status", epath) == "retired":
            at = p.instant(event, "at", epath)
            day = p.day(event, "date", epath)
            assert at is not None and day is not None
            retirement = SealRetirement(
                day=day,
                at=at,
                memorandum=p.integer(event, "memorandum", epath, optional=True),
                successor=p.opt_text(event, "successor", epath),
            )
    return BundleSeal(
        id=p.text(table, "id", path),
        name=p.text(table, "name", path),
        authority=p.text(table, "authority", path),
        credit_code=p.text(table, "credit_code", path),
        status=p.text(table, "status", path),
        certificates=tuple(certificates),
        retirement=retirement,
    )


def _item(p: _Payload, raw: object, path: str) -> BundleItem:
    table = p.obj(raw, path)
    periods = []
    for j, raw_period in enumerate(p.items(table, "sealed_by", path)):
        ppath = f"{path}.sealed_by[{j}]"
        period = p.obj(raw_period, ppath)
        start = p.day(period, "from", ppath)
        assert start is not None
        periods.append(
            SealingPeriod(
                authority=p.text(period, "authority", ppath),
                start=start,
                end=p.day(period, "until", ppath, optional=True),
                memorandum=p.integer(period, "memorandum", ppath, optional=True),
            )
        )
    return BundleItem(
        code=p.text(table, "code", path),
        name=p.text(table, "name", path),
        licence_type=p.text(table, "licence_type", path),
        licence_type_code=p.text(table, "licence_type_code", path),
        supervisor=p.text(table, "supervisor", path),
        sealed_by=tuple(periods),
    )


def _memorandum(p: _Payload, raw: object, path: str) -> BundleMemorandum:
    table = p.obj(raw, path)
    memo_id = p.integer(table, "id", path)
    effective_on = p.day(table, "effective_on", path)
    cut_over_at = p.instant(table, "cut_over_at", path)
    assert memo_id is not None and effective_on is not None and cut_over_at is not None
    items = p.items(table, "items", path)
    if not all(isinstance(code, str) for code in items):
        raise p.fail(f"{path}.items", "expected item codes")
    return BundleMemorandum(
        id=memo_id,
        department=p.text(table, "department", path),
        bureau=p.text(table, "bureau", path),
        items=tuple(items),
        effective_on=effective_on,
        cut_over_at=cut_over_at,
        reference=p.opt_text(table, "reference", path),
    )


def _parse(payload: bytes) -> tuple[_Payload, Mapping[str, Any]]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BundleError("trust bundle: the payload is not UTF-8 JSON") from None
    p = _Payload(data)
    return p, p.obj(data, "payload")


def load_trust_bundle(
    data: bytes,
    *,
    trust_roots: Sequence[x509.Certificate],
    at: datetime,
    min_version: int | None = None,
) -> TrustBundle:
    """Check and parse a trust bundle (see the module docstring for the checks, in order).

    :param trust_roots: the service's root certificate(s), obtained out of band (never from the bundle itself).
    :param at: the verifier's clock; must be timezone-aware.
    :param min_version: the highest bundle version already accepted; an older bundle is refused.
    :raises BundleSignatureError: the bundle was not made by the service's bundle key, or was altered.
    :raises StaleBundleError: the bundle is genuine but expired, from the future, or a rollback.
    :raises BundleError: anything else wrong with the document.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError("the verification time must be timezone-aware")
    if not trust_roots:
        raise InputError("a trust bundle is checked against the service's root: give at least one trust root")
    if len(data) > _MAX_BUNDLE_BYTES:
        raise BundleError("trust bundle: larger than 64 MiB")
    # (1) the envelope.
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BundleError("trust bundle: not a JSON document") from None
    if not isinstance(envelope, dict) or envelope.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"trust bundle: not a {BUNDLE_FORMAT} document")
    signature_table = envelope.get("signature")
    if not isinstance(signature_table, dict):
        raise BundleError("trust bundle: the signature is missing")
    payload = _b64(envelope.get("payload"), "payload")
    signature = _b64(signature_table.get("value"), "signature.value")
    try:
        signer = x509.load_der_x509_certificate(_b64(signature_table.get("certificate"), "signature.certificate"))
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError (found by fuzzing)
        raise BundleError("trust bundle: signature.certificate is not a DER certificate") from None
    # (2) and (3): who signed, and what.
    _check_signer(signer, trust_roots, at)
    _check_signature(signer, signature, payload)
    # (4) the payload.
    p, top = _parse(payload)
    if top.get("bundle_format") != 1:
        raise BundleError(f"trust bundle: bundle_format {top.get('bundle_format')!r} is not understood (expected 1)")
    version = p.integer(top, "version", "payload")
    issued_at = p.instant(top, "issued_at", "payload")
    next_update = p.instant(top, "next_update", "payload")
    assert version is not None and issued_at is not None and next_update is not None
    # (5) current.
    if issued_at > at + _CLOCK_SKEW:
        raise StaleBundleError(
            f"trust bundle version {version} was issued at {issued_at.isoformat()}, after the verification time "
            f"{at.isoformat()}; check the clock"
        )
    if at >= next_update:
        raise StaleBundleError(
            f"trust bundle version {version} expired at {next_update.isoformat()}; fetch a current one "
            "(GET /v1/trust-bundle or seal-service trust-bundle -o FILE)"
        )
    if min_version is not None and version < min_version:
        raise StaleBundleError(f"trust bundle version {version} is older than version {min_version} already seen")
    pki = p.obj(top.get("pki"), "payload.pki")
    certificates = {role: p.certificate(raw, f"payload.pki.{role}") for role, raw in pki.items()}
    if "root" not in certificates:
        raise p.fail("payload.pki.root", "missing")
    # (6) the bundle's root is one the caller trusts.
    if certificates["root"] not in trust_roots:
        raise BundleSignatureError("trust bundle: it names a root that is not among the trust roots")
    authorities = {}
    for i, raw in enumerate(p.items(top, "authorities", "payload")):
        path = f"payload.authorities[{i}]"
        table = p.obj(raw, path)
        authority = BundleAuthority(
            code=p.text(table, "code", path),
            name=p.text(table, "name", path),
            kind=p.text(table, "kind", path),
            jurisdiction=p.text(table, "jurisdiction", path),
            credit_code=p.text(table, "credit_code", path),
        )
        authorities[authority.code] = authority
    seals = {}
    for i, raw in enumerate(p.items(top, "seals", "payload")):
        seal = _seal(p, raw, f"payload.seals[{i}]")
        seals[seal.id] = seal
    items = {}
    for i, raw in enumerate(p.items(top, "items", "payload")):
        item = _item(p, raw, f"payload.items[{i}]")
        items[item.code] = item
    memoranda = tuple(
        _memorandum(p, raw, f"payload.memoranda[{i}]") for i, raw in enumerate(p.items(top, "memoranda", "payload"))
    )
    sm2_certificates = {}
    for role, raw in p.obj(top.get("gm_pki", {}), "payload.gm_pki").items():
        der = _b64(raw, f"payload.gm_pki.{role}")
        if not is_sm2_certificate(der):
            raise p.fail(f"payload.gm_pki.{role}", "not an SM2 certificate")
        sm2_certificates[role] = der
    sm2_seal_status = {}
    for i, raw in enumerate(p.items(top, "gm_seal_certificates", "payload") if "gm_seal_certificates" in top else ()):
        path = f"payload.gm_seal_certificates[{i}]"
        table = p.obj(raw, path)
        sm2_seal_status[p.text(table, "sha256", path).lower()] = _revocation(
            p, table.get("revocation"), f"{path}.revocation"
        )
    return TrustBundle(
        version=version,
        issued_at=issued_at,
        next_update=next_update,
        publisher=p.text(top, "publisher", "payload"),
        certificates=certificates,
        authorities=authorities,
        seals=seals,
        items=items,
        memoranda=memoranda,
        signer=signer,
        log=_log_policy(top.get("log")),
        sm2_certificates=sm2_certificates,
        sm2_seal_status=sm2_seal_status,
    )


def _log_policy(section: object) -> LogPolicy | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise BundleError("trust bundle: payload.log must be an object")
    try:
        return LogPolicy.from_bundle_section(section)
    except TlogError as exc:
        raise BundleError(f"trust bundle: payload.log: {exc}") from None
