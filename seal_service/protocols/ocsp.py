"""RFC 6960 OCSP responder for one issuing CA, signing with a delegated responder certificate.

Example::

    responder = OCSPResponder(
        issuer=issuing_ca_cert,
        responder_certificate=ocsp_cert,  # issued by issuing_ca_cert, EKU id-kp-OCSPSigning
        responder_key=ocsp_key,
        status_of=registry.certificate_status,  # serial -> CertificateStatus | None
    )
    body = responder.respond(request_der, at=datetime.now(UTC))           # POST body
    body = responder.respond(ocsp_get_request_bytes(path), at=now)       # RFC 5019 GET
    embedded = responder.response_for(signer_cert, at=now)               # for PAdES revocation info

Why not ``cryptography``'s ``OCSPResponseBuilder``: it always stamps ``producedAt`` with the wall
clock (time would no longer be a parameter, and cached responses could not be reasoned about) and it
handles one request per message only. Requests are therefore parsed with asn1crypto (the library
pyHanko validates with), the static parts of the response are encoded once with asn1crypto, the
per-response parts are written with :mod:`seal_service.protocols._der`, and the result is signed with
the in-memory ``cryptography`` key.

All times are truncated to whole seconds: RFC 5019 §2.2.4 forbids fractional seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, ocsp
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from seal_service.protocols import _der

__all__ = [
    "CertificateStatus",
    "OCSPResponder",
    "ocsp_get_request_bytes",
]

logger = logging.getLogger(__name__)

# CertID hash algorithms we can match an issuer with. SHA-1 is what RFC 5019 clients (openssl, NSS,
# poppler, most browsers) send; it only identifies the certificate, the response itself is SHA-256.
_CERT_ID_HASHES = ("sha1", "sha256", "sha384", "sha512")

# An OCSPRequest for one certificate is ~100 bytes (a few hundred if signed): cap before parsing.
_MAX_REQUEST_BYTES = 16384
# Enough for any sane batch; keeps one request from costing us unbounded work.
_MAX_CERTS_PER_REQUEST = 32
# RFC 8954 §2.1: nonces are 1..32 octets; anything else is malformedRequest.
_MAX_NONCE_BYTES = 32

_MALFORMED_REQUEST: bytes = ocsp.OCSPResponse({"response_status": "malformed_request"}).dump()
_INTERNAL_ERROR: bytes = ocsp.OCSPResponse({"response_status": "internal_error"}).dump()
_SUCCESSFUL: bytes = ocsp.OCSPResponseStatus("successful").dump()
_OID_BASIC_RESPONSE: bytes = ocsp.ResponseType("basic_ocsp_response").dump()
_OID_NONCE: bytes = ocsp.ResponseDataExtensionId("nonce").dump()
_OID_INVALIDITY_DATE: bytes = ocsp.SingleResponseExtensionId("invalidity_date").dump()
# CertStatus: good [0] IMPLICIT NULL, unknown [2] IMPLICIT NULL.
_STATUS_GOOD: bytes = ocsp.CertStatus(name="good", value=None).dump()
_STATUS_UNKNOWN: bytes = ocsp.CertStatus(name="unknown", value=None).dump()
# cryptography's ReasonFlags member names are asn1crypto's CRLReason names.
_CRL_REASONS: dict[x509.ReasonFlags, bytes] = {flag: asn1_crl.CRLReason(flag.name).dump() for flag in x509.ReasonFlags}


@dataclass(frozen=True)
class CertificateStatus:
    """What the registry knows of one certificate serial."""

    serial_number: int
    revoked_at: datetime | None = None
    """May lie in the future (a scheduled cut-over): the certificate is "good" until then."""
    reason: x509.ReasonFlags | None = None  # e.g. key_compromise, cessation_of_operation, superseded
    invalidity_date: datetime | None = None
    """When the key is suspected compromised; sent as the invalidityDate singleExtension (RFC 6960 §4.4)."""


@dataclass(frozen=True)
class _Status:
    """The status as reported at one instant: ``good``, ``revoked`` (with time and reason) or ``unknown``."""

    kind: str
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None
    invalidity_date: datetime | None = None
    until: datetime | None = None
    """For ``good``: the scheduled revocation; nextUpdate never promises "good" beyond it."""


_GOOD = _Status("good")
_UNKNOWN = _Status("unknown")


@dataclass(frozen=True)
class _CachedResponse:
    der: bytes
    produced_at: datetime
    status: _Status


class _MalformedRequest(Exception):
    """Internal: answer with ``malformedRequest``."""


@dataclass(frozen=True)
class _CertId:
    """One CertID: its DER (echoed verbatim in the response) and the fields we match on."""

    der: bytes
    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int

    @classmethod
    def parse(cls, cert_id: ocsp.CertId) -> _CertId:
        """From an asn1crypto CertId of a request (re-encoded as DER if the client sent BER)."""
        return cls(
            der=cert_id.dump(force=True),
            hash_algorithm=cert_id["hash_algorithm"]["algorithm"].native,
            issuer_name_hash=cert_id["issuer_name_hash"].native,
            issuer_key_hash=cert_id["issuer_key_hash"].native,
            serial_number=cert_id["serial_number"].native,
        )


@dataclass(frozen=True)
class _ParsedRequest:
    cert_ids: list[_CertId]
    nonce: bytes | None  # extnValue contents of the nonce extension, as received


def ocsp_get_request_bytes(path_segment: str) -> bytes:
    """Decode the RFC 5019 / RFC 6960 A.1 GET form: ``url-encoding(base64(DER OCSPRequest))``.

    ``%2F``, ``%2B`` and ``%3D`` escapes are undone; a literal ``+`` stays a base64 ``+`` (this is a
    path, not a query string). Returns the DER bytes to pass to :meth:`OCSPResponder.respond`.

    :raises ValueError: not base64, or empty.
    """
    text = urllib.parse.unquote(path_segment, errors="strict")
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("OCSP GET path is not url-encoded base64") from exc
    if not der:
        raise ValueError("OCSP GET path is empty")
    return der


class OCSPResponder:
    """OCSP responder for the certificates of one issuer, signing with a delegated responder key.

    Thread-safe: the cache is guarded by a lock; signing happens outside it.
    """

    def __init__(
        self,
        *,
        issuer: x509.Certificate,
        responder_certificate: x509.Certificate,
        responder_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        status_of: Callable[[int], CertificateStatus | None],
        validity: timedelta = timedelta(hours=12),
        max_cached_serials: int = 100_000,
    ) -> None:
        """Check the configuration and precompute issuer hashes and the responder identity.

        :param status_of: registry lookup; ``None`` means the serial was never issued (-> unknown).
        :param validity: ``nextUpdate - thisUpdate``; cached responses are reused for half of it.
        :param max_cached_serials: bound on the pre-produced response cache (LRU).
        :raises ValueError: the responder certificate is not the issuer itself nor a delegated
            responder issued by it with ``id-kp-OCSPSigning`` (RFC 6960 §4.2.2.2), or the key does
            not match it, or ``validity`` is not positive.
        """
        _check_responder(issuer, responder_certificate, responder_key)
        if validity <= timedelta(0):
            raise ValueError("validity must be positive")
        self._status_of = status_of
        self._validity = validity
        self._key = responder_key
        self._signature_hash, self._signature_algorithm = _signature_profile(responder_key)
        self._issuer_subject = issuer.subject
        self._issuer_hashes = _issuer_hashes(_to_asn1(issuer))
        responder_asn1 = _to_asn1(responder_certificate)
        # byKey is RFC 5019's recommendation: it survives a responder certificate renewal.
        self._responder_id = ocsp.ResponderId(name="by_key", value=_key_hash("sha1", responder_asn1)).dump()
        self._signature_algorithm_der = algos.SignedDigestAlgorithm({"algorithm": self._signature_algorithm}).dump()
        # certs [0] EXPLICIT SEQUENCE OF Certificate: the responder certificate, so clients can verify.
        self._certs = _der.context(0, _der.tlv(_der.SEQUENCE, responder_asn1.dump()))
        self._cache: OrderedDict[int, dict[bytes, _CachedResponse]] = OrderedDict()
        self._max_cached_serials = max_cached_serials
        self._lock = threading.Lock()

    def respond(self, request_der: bytes, *, at: datetime) -> bytes:
        """DER OCSPResponse for a DER OCSPRequest (POST body, or the decoded RFC 5019 GET path).

        Each requested certificate is ``good``, ``revoked`` (revocation time and reason) or ``unknown``
        (serial not known, or issuer hashes not ours). A nonce in the request is echoed, and then the
        response is fresh, not cached; a nonce-less single request is answered from the same cache as
        :meth:`response_for`. A malformed request gets a ``malformedRequest`` response, never an
        exception; an unexpected failure (e.g. the registry is down) is logged and answered with
        ``internalError``. ``thisUpdate = producedAt = at``, ``nextUpdate = at + validity``.

        :raises ValueError: only if ``at`` is naive — a caller bug, not a client error.
        """
        now = _utc_seconds(at)
        try:
            request = _parse_request(request_der)
        except _MalformedRequest:
            return _MALFORMED_REQUEST
        try:
            if request.nonce is None and len(request.cert_ids) == 1:
                return self._cached_or_fresh(request.cert_ids[0], now)
            answers = [(cert_id, self._status_at(cert_id, now)) for cert_id in request.cert_ids]
            return self._signed_response(answers, now, request.nonce)
        except Exception:
            # An OCSP client can do nothing useful with our stack trace; internalError tells it to retry.
            logger.exception("OCSP response generation failed")
            return _INTERNAL_ERROR

    def response_for(self, certificate: x509.Certificate, *, at: datetime, cert_id_hash: str = "sha1") -> bytes:
        """A pre-produced (nonce-less) DER response for one certificate of this issuer.

        Cached and reused while ``at`` is within the first half of its validity and the status is
        unchanged (the registry is consulted on every call, so a revocation shows up at once; calling
        :meth:`invalidate` also forces a new response). Used by the signer to embed revocation info,
        and under load to answer nonce-less requests without signing.

        :param cert_id_hash: CertID hash algorithm; SHA-1 is what RFC 5019 mandates and every
            validator matches.
        :raises ValueError: the certificate was not issued by our issuer, unsupported hash, naive ``at``.
        """
        if certificate.issuer != self._issuer_subject:
            raise ValueError("certificate was not issued by this responder's issuer")
        if cert_id_hash not in _CERT_ID_HASHES:
            raise ValueError(f"unsupported CertID hash {cert_id_hash!r}")
        name_hash, key_hash = self._issuer_hashes[cert_id_hash]
        # Same encoding as openssl/NSS (AlgorithmIdentifier with NULL parameters), so nonce-less
        # requests from those clients hit the very same cache entry.
        der = _der.tlv(
            _der.SEQUENCE,
            algos.DigestAlgorithm({"algorithm": cert_id_hash}).dump(),
            _der.octet_string(name_hash),
            _der.octet_string(key_hash),
            _der.integer(certificate.serial_number),
        )
        cert_id = _CertId(der, cert_id_hash, name_hash, key_hash, certificate.serial_number)
        return self._cached_or_fresh(cert_id, _utc_seconds(at))

    def invalidate(self, serial_number: int | None = None) -> None:
        """Drop cached responses for one serial (after its status changed), or all of them."""
        with self._lock:
            if serial_number is None:
                self._cache.clear()
            else:
                self._cache.pop(serial_number, None)

    def _cached_or_fresh(self, cert_id: _CertId, now: datetime) -> bytes:
        status = self._status_at(cert_id, now)
        if status is _UNKNOWN:
            # Never cache unknowns: clients choose those serials, and the cache must stay bounded by
            # what we issued.
            return self._signed_response([(cert_id, status)], now, None)
        serial = cert_id.serial_number
        with self._lock:
            cached = self._cache.get(serial, {}).get(cert_id.der)
            if cached is not None and self._still_usable(cached, status, now):
                self._cache.move_to_end(serial)
                return cached.der
        der = self._signed_response([(cert_id, status)], now, None)
        with self._lock:
            self._cache.setdefault(serial, {})[cert_id.der] = _CachedResponse(der, now, status)
            self._cache.move_to_end(serial)
            while len(self._cache) > self._max_cached_serials:
                self._cache.popitem(last=False)
        return der

    def _still_usable(self, cached: _CachedResponse, status: _Status, now: datetime) -> bool:
        # A response "from the future" (now < produced_at) is not reused either: time is a parameter
        # and a caller replaying an earlier instant must get a response for that instant.
        fresh = cached.produced_at <= now < cached.produced_at + self._validity / 2
        return fresh and cached.status == status

    def _status_at(self, cert_id: _CertId, now: datetime) -> _Status:
        expected = self._issuer_hashes.get(cert_id.hash_algorithm)
        if expected != (cert_id.issuer_name_hash, cert_id.issuer_key_hash):
            return _UNKNOWN  # unsupported CertID hash, or another issuer
        record = self._status_of(cert_id.serial_number)
        if record is None:
            return _UNKNOWN
        # A revocation dated after `now` had not happened yet at the instant we are asked about (a memorandum
        # cut-over recorded in advance): "good" until then, and nextUpdate stops at it.
        if record.revoked_at is not None:
            revoked_at = _utc_seconds(record.revoked_at)
            if revoked_at <= now:
                invalidity = _utc_seconds(record.invalidity_date) if record.invalidity_date else None
                return _Status("revoked", revoked_at, record.reason, invalidity)
            return _Status("good", until=revoked_at)
        return _GOOD

    def _signed_response(self, answers: list[tuple[_CertId, _Status]], now: datetime, nonce: bytes | None) -> bytes:
        """DER OCSPResponse(successful, BasicOCSPResponse) — RFC 6960 §4.2.1."""
        extensions = b""
        if nonce is not None:
            # responseExtensions [1] EXPLICIT; critical is DEFAULT FALSE, hence absent. extnValue is
            # copied verbatim so the client's own comparison succeeds whatever it put there.
            nonce_extension = _der.tlv(_der.SEQUENCE, _OID_NONCE, _der.octet_string(nonce))
            extensions = _der.context(1, _der.tlv(_der.SEQUENCE, nonce_extension))
        tbs = _der.tlv(
            _der.SEQUENCE,
            self._responder_id,  # version v1 is DEFAULT, hence absent
            _der.generalized_time(now),  # producedAt
            _der.tlv(_der.SEQUENCE, *(self._single_response(c, status, now) for c, status in answers)),
            extensions,
        )
        basic = _der.tlv(
            _der.SEQUENCE,
            tbs,
            self._signature_algorithm_der,
            _der.bit_string(self._sign(tbs)),
            self._certs,
        )
        response_bytes = _der.tlv(_der.SEQUENCE, _OID_BASIC_RESPONSE, _der.octet_string(basic))
        return _der.tlv(_der.SEQUENCE, _SUCCESSFUL, _der.context(0, response_bytes))

    def _single_response(self, cert_id: _CertId, status: _Status, now: datetime) -> bytes:
        next_update = now + self._validity
        if status.until is not None and now < status.until < next_update:
            next_update = status.until
        extensions = b""
        if status.invalidity_date is not None:
            # singleExtensions [1] EXPLICIT Extensions: RFC 6960 §4.4 admits the CRL entry extensions here.
            invalidity = _der.tlv(
                _der.SEQUENCE, _OID_INVALIDITY_DATE, _der.octet_string(_der.generalized_time(status.invalidity_date))
            )
            extensions = _der.context(1, _der.tlv(_der.SEQUENCE, invalidity))
        return _der.tlv(
            _der.SEQUENCE,
            # The client's CertID byte for byte: clients match responses to requests by it.
            cert_id.der,
            _cert_status(status),
            _der.generalized_time(now),  # thisUpdate
            _der.context(0, _der.generalized_time(next_update)),  # nextUpdate
            extensions,
        )

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(self._signature_hash))
        return self._key.sign(data, padding.PKCS1v15(), self._signature_hash)


def _parse_request(request_der: bytes) -> _ParsedRequest:
    if not request_der or len(request_der) > _MAX_REQUEST_BYTES:
        raise _MalformedRequest
    try:
        request = ocsp.OCSPRequest.load(request_der, strict=True)
        # asn1crypto parses lazily: force every field (nonce value included) while we can refuse.
        _ = request.native
        tbs = request["tbs_request"]
        cert_ids = [_CertId.parse(single["req_cert"]) for single in tbs["request_list"]]
        nonce_extension = next((e for e in tbs["request_extensions"] if e["extn_id"].native == "nonce"), None)
    except Exception as exc:  # the parser raises ValueError, TypeError, … on hostile input
        raise _MalformedRequest from exc
    if not cert_ids or len(cert_ids) > _MAX_CERTS_PER_REQUEST:
        raise _MalformedRequest
    if nonce_extension is None:
        return _ParsedRequest(cert_ids, None)
    # RFC 6960 §4.4.1 / RFC 8954: extnValue holds an OCTET STRING of 1..32 octets. (A legacy "raw
    # bytes" nonce already failed the full parse above.)
    if not 1 <= len(nonce_extension["extn_value"].parsed.native) <= _MAX_NONCE_BYTES:
        raise _MalformedRequest
    return _ParsedRequest(cert_ids, nonce_extension["extn_value"].contents)


def _cert_status(status: _Status) -> bytes:
    if status.kind == "good":
        return _STATUS_GOOD
    if status.kind == "unknown":
        return _STATUS_UNKNOWN
    assert status.revoked_at is not None  # a revoked _Status always has a time (for type checkers)
    # revoked [1] IMPLICIT RevokedInfo { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
    reason = _der.context(0, _CRL_REASONS[status.reason]) if status.reason is not None else b""
    return _der.context(1, _der.generalized_time(status.revoked_at), reason)


def _issuer_hashes(issuer: asn1_x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    """(issuerNameHash, issuerKeyHash) of the issuer for every CertID hash we accept (RFC 6960 §4.1.1)."""
    subject_der = issuer.subject.dump()
    return {name: (hashlib.new(name, subject_der).digest(), _key_hash(name, issuer)) for name in _CERT_ID_HASHES}


def _key_hash(algorithm: str, certificate: asn1_x509.Certificate) -> bytes:
    # Hash of the subjectPublicKey BIT STRING value, without tag, length and unused-bits octet.
    key_bits = certificate.public_key["public_key"].contents[1:]
    return hashlib.new(algorithm, key_bits).digest()


def _signature_profile(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> tuple[hashes.HashAlgorithm, str]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size > 256:
            return hashes.SHA384(), "sha384_ecdsa"
        return hashes.SHA256(), "sha256_ecdsa"
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256(), "sha256_rsa"
    raise TypeError(f"unsupported responder key type {type(key).__name__}")


def _check_responder(
    issuer: x509.Certificate,
    responder: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"unsupported responder key type {type(key).__name__}")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != responder.public_key().public_bytes(der, spki):
        raise ValueError("responder key does not match the responder certificate")
    if responder == issuer:
        return
    if responder.issuer != issuer.subject:
        raise ValueError("a delegated OCSP responder must be issued directly by the CA it answers for")
    try:
        eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise ValueError("delegated OCSP responder certificate lacks id-kp-OCSPSigning")


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _utc_seconds(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return at.astimezone(UTC).replace(microsecond=0)
