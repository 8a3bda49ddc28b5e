"""The fast path: chain, revocation and time of a B-LTA licence of the service's own profile, checked directly.

Example::

    fast = FastPath(trust_roots)
    try:
        proven = fast.check(reader, at=now)      # FastPass: every strict condition below holds
    except FastPathRefused as refused:           # anything else: pyHanko's AdES LTA validation decides
        ...

pyHanko's AdES LTA validation (ETSI EN 319 102-1 § 5.6.3) costs ~75 ms per licence, most of it asn1crypto name
comparisons and path building that every licence of one seal repeats identically. The fast path does the
per-document cryptography itself (three signatures and three digests, well under a millisecond) and looks up what
licences share (certificate, CRL and OCSP signatures, parsed certificates) in caches of pure facts.

It is **positive-only**: :meth:`FastPath.check` returns only when every condition listed below holds and raises
:class:`FastPathRefused` otherwise; the caller then runs the full pyHanko validation, which gives the proper ETSI
sub-indication. A case the fast path does not know is never an answer, only a fallback. The conditions (numbered
as in the code):

1. Layout: exactly one seal (a ``/Sig`` signature) and, in the newest revision, exactly one document time-stamp;
   the DSS holds only ``/Certs``, ``/OCSPs`` and ``/CRLs``.
2. The seal's CMS: detached ``id-data``, SHA-256, one signer, no CRLs inside; signed attributes exactly
   content-type, message-digest (equal to the digest of the signed bytes) and ESS signing-certificate-v2 (equal to
   the SHA-256 of the signer's certificate); unsigned attributes exactly one signature time-stamp; the signature
   value verifies (ECDSA P-256/P-384 or RSA PKCS#1 v1.5 of at least 2048 bits).
3. Both time-stamp tokens (RFC 3161): the same CMS rules for ``id-ct-TSTInfo``; the message imprint is the SHA-256
   of the seal's signature value (signature time-stamp) or of the bytes the document time-stamp covers; the TSA
   certificate is issued directly by a trust root, has the critical extended key usage timeStamping only, and is
   within its validity at genTime and at the validation time. Then ``T_sig <= T_doc <= at``.
4. The chain: seal certificate -> the one seal CA certificate in the file with its issuer's exact name -> a trust
   root (exact name, signature verified); only known extensions, critical ones only basicConstraints, keyUsage,
   extendedKeyUsage; CA flags, path length constraints and key usages as RFC 5280 requires; every certificate of
   the chain within its validity at ``T_sig``, the root also at ``at``.
5. Revocation at ``T_sig`` (the proof of existence of the seal): exactly one OCSP response in the DSS, for the
   seal certificate (certID matching), ``good``, signed by the seal CA or by a responder certificate of the seal CA
   with the OCSP-signing purpose and ``ocsp-nocheck``, with ``thisUpdate <= T_sig <= nextUpdate`` and produced
   before ``T_doc`` (which puts the DSS under the document time-stamp). The seal CA: a CRL of the root with the
   same window and not listing it. Every CRL (in the DSS or given by the caller) that verifies under the root's
   or the seal CA's key, or names either as its issuer, must verify, be fresh in that sense, be complete (no delta,
   no distribution-point scope, no unknown critical extension) and list none of the certificates involved.

What is cached, and why a cache cannot change a verdict: the caches (:data:`_CERTS`, :data:`_SIGNED_BY`,
:data:`_CRLS`, :data:`_OCSPS`) hold only facts that are pure functions of the exact DER bytes they are keyed by
(SHA-256 of the certificate, CRL or OCSP response; for "signed by", the pair of SHA-256 digests of the signed object
and of the issuer certificate): the parse of a certificate or CRL and whether a signature verifies under a key.
None of them depends on the time, the trust roots or the document. Everything that does (validity periods,
freshness windows, the order of time-stamps, whether a certificate is a trust root) is evaluated for each document
from those facts with the document's own times and the verifier's own roots. So the same bytes give the same facts
whatever came before; a verdict is never cached.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import core as asn1_core
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import CRLEntryExtensionOID, ExtendedKeyUsageOID, ExtensionOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from verifier import _cms

__all__ = ["FastPass", "FastPath", "FastPathRefused", "clear_caches", "dss_material"]

log = logging.getLogger("verifier.fastpath")

_SHA256 = "2.16.840.1.101.3.4.2.1"
_ID_DATA = "1.2.840.113549.1.7.1"
_ID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
_ATTR_SIGNATURE_TST = "1.2.840.113549.1.9.16.2.14"
_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_RSA = "1.2.840.113549.1.1.1"
_RSA_SHA256 = "1.2.840.113549.1.1.11"
_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2"

# Extensions a certificate of the profile may carry; of these, only the first three may be critical.
_CRITICAL_OK = {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE}
_KNOWN_EXTENSIONS = _CRITICAL_OK | {
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.OCSP_NO_CHECK,
}
# CRL extensions of a complete CRL: number and authority key identifier, neither critical.
_CRL_EXTENSIONS = {ExtensionOID.CRL_NUMBER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER}


class FastPathRefused(Exception):
    """The document is not one the fast path decides; the full (pyHanko) validation must. Carries the reason."""


@dataclass(frozen=True)
class FastPass:
    """Every condition of the fast path held: the seal is valid (TOTAL_PASSED)."""

    proven_at: datetime
    """When the seal is proven to exist: the signature time-stamp's genTime."""

    document_timestamp_at: datetime
    """The document time-stamp's genTime (it covers the DSS)."""


# ----------------------------------------------------------------------------------------------------------------
# Caches of pure facts (see the module docstring for why they cannot change a verdict)

_K = TypeVar("_K")
_V = TypeVar("_V")
_MAX_ENTRIES = 4096


class _FactCache(dict[_K, _V]):
    """A bounded memo of a pure function: when full it is emptied (entries are cheap to recompute)."""

    def get_or_make(self, key: _K, make: Callable[[], _V]) -> _V:
        try:
            return self[key]
        except KeyError:
            pass
        value = make()
        if len(self) >= _MAX_ENTRIES:
            self.clear()
        self[key] = value
        return value


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class _Cert:
    """A certificate parsed once: the facts the fast path reads, all functions of its DER bytes."""

    der: bytes
    digest: bytes
    cert: x509.Certificate
    subject: bytes
    issuer: bytes
    serial: int
    not_before: datetime
    not_after: datetime
    is_ca: bool
    path_length: int | None
    """basicConstraints pathLenConstraint (None: absent or unlimited)."""
    key_usage: frozenset[str]
    extended_key_usage: frozenset[str] | None
    eku_critical: bool
    ocsp_no_check: bool
    ski: bytes | None
    aki: bytes | None
    key_sha1: bytes
    """SHA-1 of the subjectPublicKey BIT STRING (as in OCSP's issuerKeyHash and responder key hash)."""
    key_sha256: bytes
    key: object
    """The public key, loaded once (None if unreadable; then ``profile_problem`` says so)."""
    profile_problem: str | None
    """Why the certificate is outside the profile (unknown or critical extensions, key, algorithm), or None."""


def _key_problem(key: object) -> str | None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return None if isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1) else f"curve {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return None if key.key_size >= 2048 else f"RSA key of {key.key_size} bits"
    return f"key type {type(key).__name__}"


_CERT_SIGNATURE_OIDS = {
    "1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
    "1.2.840.10045.4.3.3",  # ecdsa-with-SHA384
    "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
    "1.2.840.113549.1.1.12",  # sha384WithRSAEncryption
    "1.2.840.113549.1.1.13",  # sha512WithRSAEncryption
}


def _parse_cert(der: bytes) -> _Cert:
    cert = x509.load_der_x509_certificate(der)
    problem: str | None = None
    key_usage: frozenset[str] = frozenset()
    eku: frozenset[str] | None = None
    eku_critical = False
    is_ca = False
    path_length: int | None = None
    no_check = False
    ski = aki = None
    try:
        for ext in cert.extensions:
            if ext.oid not in _KNOWN_EXTENSIONS:
                problem = f"unknown extension {ext.oid.dotted_string}"
            elif ext.critical and ext.oid not in _CRITICAL_OK:
                problem = f"critical extension {ext.oid.dotted_string}"
            value = ext.value
            if isinstance(value, x509.BasicConstraints):
                is_ca, path_length = value.ca, value.path_length
            elif isinstance(value, x509.KeyUsage):
                names = ["digital_signature", "content_commitment", "key_cert_sign", "crl_sign"]
                key_usage = frozenset(name for name in names if getattr(value, name))
            elif isinstance(value, x509.ExtendedKeyUsage):
                eku = frozenset(oid.dotted_string for oid in value)
                eku_critical = ext.critical
            elif isinstance(value, x509.OCSPNoCheck):
                no_check = True
            elif isinstance(value, x509.SubjectKeyIdentifier):
                ski = value.digest
            elif isinstance(value, x509.AuthorityKeyIdentifier):
                aki = value.key_identifier
                if value.authority_cert_issuer is not None or value.authority_cert_serial_number is not None:
                    problem = "authority key identifier by issuer and serial"
    except ValueError as exc:  # an extension cryptography cannot parse
        problem = f"extensions: {exc}"
    if cert.signature_algorithm_oid.dotted_string not in _CERT_SIGNATURE_OIDS:
        problem = problem or f"certificate signature algorithm {cert.signature_algorithm_oid.dotted_string}"
    key: object = None
    try:
        key = cert.public_key()
        problem = problem or _key_problem(key)
    except (ValueError, x509.UnsupportedGeneralNameType):
        problem = problem or "unreadable public key"
    spki = asn1_x509.Certificate.load(der).public_key
    if cert.version is not x509.Version.v3:
        problem = problem or "not an X.509 v3 certificate"
    return _Cert(
        der=der,
        digest=_sha256(der),
        cert=cert,
        subject=cert.subject.public_bytes(),
        issuer=cert.issuer.public_bytes(),
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=is_ca,
        path_length=path_length,
        key_usage=key_usage,
        extended_key_usage=eku,
        eku_critical=eku_critical,
        ocsp_no_check=no_check,
        ski=ski,
        aki=aki,
        key_sha1=spki.sha1,
        key_sha256=spki.sha256,
        key=key,
        profile_problem=problem,
    )


_CERTS: _FactCache[bytes, _Cert] = _FactCache()
"""SHA-256 of a certificate's DER -> its parse."""

_SIGNED_BY: _FactCache[tuple[bytes, bytes], bool] = _FactCache()
"""(SHA-256 of a certificate, CRL or OCSP response's DER, SHA-256 of the issuer certificate's DER) -> whether the
issuer's key verifies its signature (for a certificate: also that the issuer name matches)."""


@dataclass(frozen=True)
class _Crl:
    """A CRL parsed once."""

    der: bytes
    digest: bytes
    crl: x509.CertificateRevocationList
    issuer: bytes
    this_update: datetime
    next_update: datetime | None
    revoked: frozenset[int]
    complete_problem: str | None
    """Why the CRL is not a plain complete CRL (delta, scoped, unknown critical extension), or None."""


def _parse_crl(der: bytes) -> _Crl:
    crl = x509.load_der_x509_crl(der)
    problem = None
    try:
        for ext in crl.extensions:
            if ext.oid not in _CRL_EXTENSIONS or ext.critical:
                problem = f"CRL extension {ext.oid.dotted_string}"
        revoked = []
        for entry in crl:
            revoked.append(entry.serial_number)
            if any(ext.critical for ext in entry.extensions):
                problem = problem or "a CRL entry with a critical extension"
            if any(ext.oid == CRLEntryExtensionOID.CERTIFICATE_ISSUER for ext in entry.extensions):
                problem = problem or "an indirect CRL"
    except ValueError as exc:
        raise FastPathRefused(f"CRL not readable: {exc}") from None
    return _Crl(
        der=der,
        digest=_sha256(der),
        crl=crl,
        issuer=crl.issuer.public_bytes(),
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        revoked=frozenset(revoked),
        complete_problem=problem,
    )


_CRLS: _FactCache[bytes, _Crl] = _FactCache()
"""SHA-256 of a CRL's DER -> its parse."""

_OCSPS: _FactCache[bytes, ocsp.OCSPResponse] = _FactCache()
"""SHA-256 of an OCSP response's DER -> its parse."""

_ESS_OK: _FactCache[tuple[bytes, bytes], bool] = _FactCache()
"""(the DER of an ESS signing-certificate-v2 attribute value, the DER of a certificate) -> True once
:func:`_check_ess` accepted that value for that certificate (a refusal is never cached: it is recomputed)."""


def clear_caches() -> None:
    """Forget every cached fact (tests; the caches are bounded and never need it for correctness)."""
    for cache in (_CERTS, _SIGNED_BY, _CRLS, _OCSPS, _ESS_OK):
        cache.clear()


def _cert(der: bytes) -> _Cert:
    digest = _sha256(der)
    try:
        return _CERTS.get_or_make(digest, lambda: _parse_cert(der))
    except ValueError as exc:
        raise FastPathRefused(f"certificate not readable: {exc}") from None


def _crl(der: bytes) -> _Crl:
    try:
        return _CRLS.get_or_make(_sha256(der), lambda: _parse_crl(der))
    except ValueError as exc:
        raise FastPathRefused(f"CRL not readable: {exc}") from None


def _ocsp(der: bytes) -> ocsp.OCSPResponse:
    try:
        return _OCSPS.get_or_make(_sha256(der), lambda: ocsp.load_der_ocsp_response(der))
    except ValueError as exc:
        raise FastPathRefused(f"OCSP response not readable: {exc}") from None


def _cert_issued_by(child: _Cert, issuer: _Cert) -> bool:
    def verify() -> bool:
        try:
            child.cert.verify_directly_issued_by(issuer.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    return _SIGNED_BY.get_or_make((child.digest, issuer.digest), verify)


def _crl_signed_by(crl: _Crl, issuer: _Cert) -> bool:
    def verify() -> bool:
        key = issuer.key
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            return False
        return crl.issuer == issuer.subject and crl.crl.is_signature_valid(key)

    return _SIGNED_BY.get_or_make((crl.digest, issuer.digest), verify)


def _verify_signature(key: object, algorithm_oid: str, signature: bytes, message: bytes) -> None:
    """Verify a SHA-256 signature (ECDSA, or RSA PKCS#1 v1.5) or raise :class:`FastPathRefused`."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm_oid == _ECDSA_SHA256:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm_oid in (_RSA, _RSA_SHA256):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise FastPathRefused(f"signature algorithm {algorithm_oid} with {type(key).__name__}")
    except InvalidSignature:
        raise FastPathRefused("a signature value does not verify") from None


# ----------------------------------------------------------------------------------------------------------------
# (1) Layout and the DSS


@dataclass(frozen=True)
class DssMaterial:
    """The validation material in the newest revision's DSS, as DER."""

    certs: tuple[bytes, ...]
    ocsps: tuple[bytes, ...]
    crls: tuple[bytes, ...]


def _stream_ders(dss: generic.DictionaryObject, key: str) -> tuple[bytes, ...]:
    if key not in dss:
        return ()
    array = dss.raw_get(key)
    if isinstance(array, generic.IndirectObject):
        raise FastPathRefused(f"DSS {key} is not a direct array")
    if not isinstance(array, generic.ArrayObject):
        raise FastPathRefused(f"DSS {key} is not an array")
    found = []
    for item in array:
        if not isinstance(item, generic.IndirectObject):
            raise FastPathRefused(f"DSS {key} holds a direct object")
        stream = item.get_object()  # type: ignore[no-untyped-call]  # unannotated in pyHanko
        if not isinstance(stream, generic.StreamObject) or set(stream.keys()) - {"/Length", "/Filter"}:
            raise FastPathRefused(f"DSS {key} holds something other than a plain stream")
        found.append(bytes(stream.data))
    return tuple(found)


def dss_material(reader: PdfFileReader) -> DssMaterial:
    """The DSS of the newest revision: only ``/Type``, ``/Certs``, ``/OCSPs``, ``/CRLs`` (else refused)."""
    if "/DSS" not in reader.root:
        raise FastPathRefused("no DSS")
    dss = reader.root["/DSS"]
    if not isinstance(dss, generic.DictionaryObject) or set(dss.keys()) - {"/Type", "/Certs", "/OCSPs", "/CRLs"}:
        raise FastPathRefused("the DSS holds more than certificates, OCSP responses and CRLs")
    if "/Type" in dss and dss["/Type"] != "/DSS":
        raise FastPathRefused("the DSS has another /Type")
    return DssMaterial(_stream_ders(dss, "/Certs"), _stream_ders(dss, "/OCSPs"), _stream_ders(dss, "/CRLs"))


def seal_and_timestamp(
    reader: PdfFileReader, signatures: Sequence[EmbeddedPdfSignature]
) -> tuple[EmbeddedPdfSignature, EmbeddedPdfSignature]:
    """The one seal and the one document time-stamp of our layout: the time-stamp signs the newest revision, the
    seal the one before it (else refused)."""
    seals = [sig for sig in signatures if sig.sig_object_type == "/Sig"]
    stamps = [sig for sig in signatures if sig.sig_object_type == "/DocTimeStamp"]
    if len(seals) != 1 or len(stamps) != 1 or len(signatures) != 2:
        raise FastPathRefused("not one seal and one document time-stamp")
    seal, stamp = seals[0], stamps[0]
    newest = reader.xrefs.total_revisions - 1
    if int(stamp.signed_revision) != newest or int(seal.signed_revision) != newest - 1:
        raise FastPathRefused("the seal and the document time-stamp are not in the last two revisions")
    return seal, stamp


# ----------------------------------------------------------------------------------------------------------------
# (2), (3) CMS signatures and time-stamp tokens


def _attributes(attrs: tuple[_cms.Attribute, ...] | None, *, what: str) -> dict[str, bytes]:
    """Attribute OID -> the DER of its single value; refused on duplicates or multi-valued attributes."""
    found: dict[str, bytes] = {}
    for attr in attrs or ():
        if attr.oid in found or len(attr.values) != 1:
            raise FastPathRefused(f"{what}: attribute {attr.oid} repeated or multi-valued")
        found[attr.oid] = attr.values[0]
    return found


def _is_sha256(algorithm: _cms.Algorithm) -> bool:
    return algorithm.oid == _SHA256 and algorithm.no_parameters


def _signer_cert(signed_data: _cms.SignedData, signer_info: _cms.SignerInfo, *, what: str) -> _Cert:
    """The one certificate in ``signed_data`` its signer identifier names (issuer DER and serial, exactly)."""
    if signer_info.sid_issuer is None:
        raise FastPathRefused(f"{what}: signer identified by key identifier")
    wanted = (signer_info.sid_serial, signer_info.sid_issuer)
    matches = {
        cert.digest: cert for cert in _certificates(signed_data, what=what) if (cert.serial, cert.issuer) == wanted
    }
    if len(matches) != 1:
        raise FastPathRefused(f"{what}: not exactly one certificate matches the signer identifier")
    return matches.popitem()[1]


def _certificates(signed_data: _cms.SignedData, *, what: str) -> list[_Cert]:
    """The certificates in a CMS SignedData (each parsed from its original DER)."""
    return [_cert(der) for der in signed_data.certificates]


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _check_ess(value: Any, cert: _Cert, *, what: str) -> None:
    """ESS signing-certificate-v2 (asn1crypto's ``SigningCertificateV2``): the first certificate id is the signer's
    SHA-256 (and issuer/serial if given)."""
    if not isinstance(value["policies"], asn1_core.Void):
        raise FastPathRefused(f"{what}: signing-certificate policies")
    first = value["certs"][0]
    algorithm = first["hash_algorithm"]
    sha256 = algorithm["algorithm"].dotted == _SHA256 and algorithm["parameters"].native is None
    if not sha256 or first["cert_hash"].native != cert.digest:
        raise FastPathRefused(f"{what}: the signing-certificate attribute does not name the signer's certificate")
    issuer_serial = first["issuer_serial"]
    if not isinstance(issuer_serial, asn1_core.Void):
        names = issuer_serial["issuer"]
        # A GeneralName directoryName is [4] EXPLICIT Name: the tag, the length, the issuer's DER.
        expected = b"\xa4" + _der_length(len(cert.issuer)) + cert.issuer
        if issuer_serial["serial_number"].native != cert.serial or len(names) != 1 or names[0].dump() != expected:
            raise FastPathRefused(f"{what}: the signing-certificate attribute's issuer/serial differ")


def _check_ess_cached(value: bytes, cert: _Cert, *, what: str) -> None:
    """:func:`_check_ess` on the attribute value whose DER (as in the file) is ``value``, remembering acceptance by
    the exact bytes it depends on: that DER and the certificate's. Every licence of one seal, and every token of one
    TSA, carries the same value."""
    key = (value, cert.der)
    if key in _ESS_OK:
        return
    _check_ess(asn1_tsp.SigningCertificateV2.load(value), cert, what=what)
    _ESS_OK.get_or_make(key, lambda: True)


@dataclass(frozen=True)
class _SignerFacts:
    cert: _Cert
    signature: bytes


def _check_signed_data(
    signed_data: _cms.SignedData,
    *,
    content_type: str,
    detached: bool,
    digest: bytes,
    unsigned: frozenset[str],
    what: str,
) -> tuple[_SignerFacts, dict[str, bytes]]:
    """(2)/(3): the CMS rules common to the seal and time-stamp tokens; the signer and its unsigned attributes."""
    if len(signed_data.signer_infos) != 1:
        raise FastPathRefused(f"{what}: not exactly one signer")
    signer_info = signed_data.signer_infos[0]
    if signer_info.signed_attrs_der is None:
        raise FastPathRefused(f"{what}: no signed attributes")
    # The signature covers the DER of the attributes as a SET OF (tag 0x31), not as the [0] IMPLICIT field.
    message = b"\x31" + signer_info.signed_attrs_der[1:]
    if not all(_is_sha256(alg) for alg in signed_data.digest_algorithms):
        raise FastPathRefused(f"{what}: a digest algorithm other than SHA-256")
    if signed_data.crls_present:
        raise FastPathRefused(f"{what}: revocation information inside the CMS")
    if signed_data.content_type != content_type:
        raise FastPathRefused(f"{what}: encapsulated content type {signed_data.content_type}")
    if detached != (signed_data.content is None):
        raise FastPathRefused(f"{what}: encapsulated content present or missing")
    if not _is_sha256(signer_info.digest_algorithm):
        raise FastPathRefused(f"{what}: signer digest algorithm")
    signed = _attributes(signer_info.signed_attrs, what=what)
    if set(signed) != {_ATTR_CONTENT_TYPE, _ATTR_MESSAGE_DIGEST, _ATTR_SIGNING_CERT_V2}:
        raise FastPathRefused(f"{what}: signed attributes {sorted(signed)}")
    try:
        signed_type, signed_digest = (
            _cms.oid_value(signed[_ATTR_CONTENT_TYPE]),
            _cms.octets_value(signed[_ATTR_MESSAGE_DIGEST]),
        )
    except _cms.DerError as exc:
        raise FastPathRefused(f"{what}: content-type or message-digest attribute: {exc}") from None
    if signed_type != content_type:
        raise FastPathRefused(f"{what}: content-type attribute")
    if signed_digest != digest:
        raise FastPathRefused(f"{what}: the message digest does not match")
    cert = _signer_cert(signed_data, signer_info, what=what)
    if cert.profile_problem is not None:
        raise FastPathRefused(f"{what}: signer certificate: {cert.profile_problem}")
    _check_ess_cached(signed[_ATTR_SIGNING_CERT_V2], cert, what=what)
    unsigned_attrs = _attributes(signer_info.unsigned_attrs, what=what)
    if set(unsigned_attrs) != unsigned:
        raise FastPathRefused(f"{what}: unsigned attributes {sorted(unsigned_attrs)}")
    algorithm = signer_info.signature_algorithm
    if not algorithm.no_parameters:
        raise FastPathRefused(f"{what}: signature algorithm parameters")
    _verify_signature(cert.key, algorithm.oid, signer_info.signature, message)
    return _SignerFacts(cert, signer_info.signature), unsigned_attrs


def _trusted_issuer(cert: _Cert, roots: Sequence[_Cert]) -> _Cert:
    """The trust root that issued ``cert`` (exact issuer name, verified signature), or refused."""
    found = [root for root in roots if root.subject == cert.issuer]
    if len(found) != 1 or not _cert_issued_by(cert, found[0]):
        raise FastPathRefused("not issued by exactly one trust root")
    return found[0]


def _within(cert: _Cert, *moments: datetime) -> bool:
    return all(cert.not_before <= moment <= cert.not_after for moment in moments)


def _check_token(
    signed_data: _cms.SignedData, imprint: bytes, roots: Sequence[_Cert], at: datetime, *, what: str
) -> tuple[datetime, _Cert]:
    """(3) An RFC 3161 token whose message imprint is the SHA-256 digest ``imprint``: its genTime and TSA
    certificate, once every condition holds."""
    if signed_data.content_type != _ID_TST_INFO or signed_data.content is None:
        raise FastPathRefused(f"{what}: not a time-stamp token")
    tst_der = signed_data.content
    signer, _ = _check_signed_data(
        signed_data,
        content_type=_ID_TST_INFO,
        detached=False,
        digest=_sha256(tst_der),
        unsigned=frozenset(),
        what=what,
    )
    try:
        tst_info = _cms.tst_info(tst_der)
    except _cms.DerError as exc:
        raise FastPathRefused(f"{what}: TSTInfo: {exc}") from None
    if tst_info.version != 1 or tst_info.extensions_present:
        raise FastPathRefused(f"{what}: TSTInfo version or extensions")
    if not _is_sha256(tst_info.imprint_algorithm) or tst_info.imprint != imprint:
        raise FastPathRefused(f"{what}: the message imprint does not match")
    gen_time = tst_info.gen_time
    tsa = signer.cert
    if (
        tsa.is_ca
        or tsa.extended_key_usage != frozenset({ExtendedKeyUsageOID.TIME_STAMPING.dotted_string})
        or not tsa.eku_critical
    ):
        raise FastPathRefused(f"{what}: the TSA certificate is not a time-stamping certificate")
    if not tsa.key_usage & {"digital_signature", "content_commitment"}:
        raise FastPathRefused(f"{what}: TSA key usage")
    root = _trusted_issuer(tsa, roots)
    if not _within(tsa, gen_time, at) or not _within(root, gen_time, at):
        raise FastPathRefused(f"{what}: the TSA certificate or its root is outside its validity")
    if gen_time > at:
        raise FastPathRefused(f"{what}: genTime after the validation time")
    return gen_time, tsa


def check_time_stamp_token(
    signed_data: _cms.SignedData, imprint: bytes, trust_roots: Sequence[bytes], at: datetime
) -> datetime:
    """The genTime of an RFC 3161 token over the SHA-256 digest ``imprint`` once it passes :func:`_check_token`
    (CMS signature, TSA certificate profile, issued by one of ``trust_roots`` (DER), valid at genTime and ``at``);
    :class:`FastPathRefused` saying what failed otherwise. The national seal's time-stamp is checked with it."""
    gen_time, _tsa, _root = checked_time_stamp_token(signed_data, imprint, trust_roots, at)
    return gen_time


def checked_time_stamp_token(
    signed_data: _cms.SignedData, imprint: bytes, trust_roots: Sequence[bytes], at: datetime
) -> tuple[datetime, bytes, bytes]:
    """:func:`check_time_stamp_token`, also returning the DER of the TSA certificate and of the trusted root that
    issued it (the past validation of the national seal's time-stamp looks up that root's CRLs)."""
    roots = [_cert(der) for der in trust_roots]
    gen_time, tsa = _check_token(signed_data, imprint, roots, at, what="time-stamp")
    return gen_time, tsa.der, _trusted_issuer(tsa, roots).der


# ----------------------------------------------------------------------------------------------------------------
# (4), (5) Chain and revocation


def _issuer_in(pool: Iterable[_Cert], cert: _Cert) -> _Cert:
    candidates = {c.digest: c for c in pool if c.subject == cert.issuer and c.digest != cert.digest}
    if len(candidates) != 1:
        raise FastPathRefused("not exactly one issuer certificate for the seal certificate in the file")
    (issuer,) = candidates.values()
    return issuer


def _check_link(child: _Cert, issuer: _Cert) -> None:
    if issuer.profile_problem is not None:
        raise FastPathRefused(f"CA certificate: {issuer.profile_problem}")
    if not issuer.is_ca or "key_cert_sign" not in issuer.key_usage:
        raise FastPathRefused("the issuer is not a CA certificate for certificates")
    if child.aki is not None and issuer.ski is not None and child.aki != issuer.ski:
        raise FastPathRefused("authority key identifier differs from the issuer's key identifier")
    if not _cert_issued_by(child, issuer):
        raise FastPathRefused("a certificate of the chain is not signed by its issuer")


def _check_path_length(ca: _Cert, intermediates: int) -> None:
    """``ca`` may have ``intermediates`` CA certificates below it (RFC 5280 § 4.2.1.9), else refused."""
    if ca.path_length is not None and ca.path_length < intermediates:
        raise FastPathRefused("a CA's path length constraint does not allow the chain")


def _check_ocsp(der: bytes, seal: _Cert, ca: _Cert, *, signed_at: datetime, doc_at: datetime) -> _Cert:
    """(5) The OCSP response says ``good`` for the seal certificate at ``signed_at``, signed by the seal CA."""
    response = _ocsp(der)
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise FastPathRefused("OCSP response not successful")
    if len(list(response.responses)) != 1:
        raise FastPathRefused("OCSP response with more than one single response")
    if any(ext.oid.dotted_string != _OCSP_NONCE or ext.critical for ext in response.extensions):
        raise FastPathRefused("OCSP response extensions")
    if len(response.single_extensions):
        raise FastPathRefused("OCSP single response extensions")
    algorithm = response.hash_algorithm
    if isinstance(algorithm, hashes.SHA1):
        name_hash, key_hash = hashlib.sha1(ca.subject).digest(), ca.key_sha1  # noqa: S324  # OCSP certID hash
    elif isinstance(algorithm, hashes.SHA256):
        name_hash, key_hash = _sha256(ca.subject), ca.key_sha256
    else:
        raise FastPathRefused("OCSP certID hash algorithm")
    if (response.serial_number, response.issuer_name_hash, response.issuer_key_hash) != (
        seal.serial,
        name_hash,
        key_hash,
    ):
        raise FastPathRefused("the OCSP response is not about the seal certificate")
    if response.certificate_status is not ocsp.OCSPCertStatus.GOOD:
        raise FastPathRefused(f"OCSP status {response.certificate_status.name}")
    next_update = response.next_update_utc
    if next_update is None or not response.this_update_utc <= signed_at <= next_update:
        raise FastPathRefused("the OCSP response is not fresh at the signature time")
    if response.produced_at_utc > doc_at or response.this_update_utc > doc_at:
        raise FastPathRefused("the OCSP response is newer than the document time-stamp")
    responder = _ocsp_responder(response, ca)
    if not _within(responder, response.produced_at_utc, signed_at, doc_at):
        raise FastPathRefused("the OCSP responder certificate is outside its validity")
    digest = _sha256(der)

    def verify() -> bool:
        try:
            _verify_signature(
                responder.key,
                response.signature_algorithm_oid.dotted_string,
                response.signature,
                response.tbs_response_bytes,
            )
        except FastPathRefused:
            return False
        return True

    if not _SIGNED_BY.get_or_make((digest, responder.digest), verify):
        raise FastPathRefused("the OCSP response's signature does not verify")
    return responder


def _ocsp_responder(response: ocsp.OCSPResponse, ca: _Cert) -> _Cert:
    """The CA itself, or the one delegated responder certificate in the response, authorised by the CA."""
    if not response.certificates:
        responder = ca
    elif len(response.certificates) == 1:
        responder = _cert(response.certificates[0].public_bytes(Encoding.DER))
        if responder.profile_problem is not None:
            raise FastPathRefused(f"OCSP responder certificate: {responder.profile_problem}")
        if (
            responder.issuer != ca.subject
            or not _cert_issued_by(responder, ca)
            or responder.is_ca
            or responder.extended_key_usage is None
            or ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string not in responder.extended_key_usage
            or not responder.ocsp_no_check
            or "digital_signature" not in responder.key_usage
        ):
            raise FastPathRefused("the OCSP responder is not authorised by the seal CA")
    else:
        raise FastPathRefused("OCSP response with several certificates")
    if response.responder_key_hash is not None:
        if response.responder_key_hash != responder.key_sha1:
            raise FastPathRefused("the OCSP responder id does not name the signer")
    elif response.responder_name is None or response.responder_name.public_bytes() != responder.subject:
        raise FastPathRefused("the OCSP responder id does not name the signer")
    return responder


def _check_crls(
    crls: Iterable[bytes],
    issuers: Sequence[_Cert],
    involved: Sequence[_Cert],
    *,
    signed_at: datetime,
    doc_at: datetime,
) -> set[bytes]:
    """(5) Every CRL of one of ``issuers``: verified, complete, fresh at ``signed_at``, listing none of
    ``involved``. Returns the subjects (DER) of the issuers that have such a CRL."""
    covered: set[bytes] = set()
    names = {issuer.subject: asn1_x509.Name.load(issuer.subject) for issuer in issuers}
    for der in crls:
        crl = _crl(der)
        owner = next((issuer for issuer in issuers if _crl_signed_by(crl, issuer)), None)
        if owner is None:
            # Not verifiable under our CAs' keys: irrelevant, unless it claims one of their names (then pyHanko
            # would weigh it, so the full path decides).
            claimed = asn1_x509.Name.load(crl.issuer)
            if crl.issuer in names or any(claimed == name for name in names.values()):
                raise FastPathRefused("a CRL naming a CA of the chain does not verify")
            continue
        if crl.complete_problem is not None:
            raise FastPathRefused(crl.complete_problem)
        if "crl_sign" not in owner.key_usage:
            raise FastPathRefused("the CRL issuer may not sign CRLs")
        if crl.next_update is None or not crl.this_update <= signed_at <= crl.next_update:
            raise FastPathRefused("a CRL is not fresh at the signature time")
        if crl.this_update > doc_at:
            raise FastPathRefused("a CRL is newer than the document time-stamp")
        if any(cert.serial in crl.revoked for cert in involved if cert.issuer == owner.subject):
            raise FastPathRefused("a CRL lists a certificate of the chain")
        covered.add(owner.subject)
    return covered


# ----------------------------------------------------------------------------------------------------------------
# The whole check


class FastPath:
    """The fast path for one set of trust roots and caller CRLs (DER); see the module docstring."""

    def __init__(self, trust_roots: Sequence[x509.Certificate], crls: Sequence[bytes] = ()) -> None:
        """Parse the roots once; ``crls`` are the caller's extra CRLs, weighed like those in the file."""
        self._roots = tuple(_cert(root.public_bytes(Encoding.DER)) for root in trust_roots)
        self._crls = tuple(crls)

    def check(self, reader: PdfFileReader, signatures: Sequence[EmbeddedPdfSignature], at: datetime) -> FastPass:
        """The seal in ``reader`` is valid at ``at`` by every condition of the fast path; else
        :class:`FastPathRefused` (the caller then runs the full validation). Never raises anything else."""
        try:
            result = self._check(reader, signatures, at)
        except FastPathRefused as refused:
            log.debug("fast path refused: %s", refused)
            raise
        except Exception as exc:  # an unexpected structure: never an answer, only a fallback
            log.debug("fast path refused: %s: %s", type(exc).__name__, exc)
            raise FastPathRefused(f"{type(exc).__name__}: {exc}") from exc
        log.debug("fast path passed")
        return result

    def _check(self, reader: PdfFileReader, signatures: Sequence[EmbeddedPdfSignature], at: datetime) -> FastPass:
        roots = self._roots
        # (1) Layout: one seal, one document time-stamp over the newest revision, a plain DSS.
        seal_sig, stamp_sig = seal_and_timestamp(reader, signatures)
        dss = dss_material(reader)
        if seal_sig.sig_object.get("/SubFilter") != "/ETSI.CAdES.detached":
            raise FastPathRefused("the seal is not a PAdES (ETSI.CAdES.detached) signature")
        if stamp_sig.sig_object.get("/SubFilter") != "/ETSI.RFC3161":
            raise FastPathRefused("the document time-stamp is not ETSI.RFC3161")
        # (2) The seal's CMS and its signature value.
        seal_cms = _signed_data(seal_sig.pkcs7_content, what="seal")
        stamp_cms = _signed_data(stamp_sig.pkcs7_content, what="document time-stamp")
        signer, unsigned = _check_signed_data(
            seal_cms,
            content_type=_ID_DATA,
            detached=True,
            digest=seal_sig.compute_digest(),
            unsigned=frozenset({_ATTR_SIGNATURE_TST}),
            what="seal",
        )
        seal = signer.cert
        # (3) The signature time-stamp (over the seal's signature value) and the document time-stamp.
        token = _signed_data(unsigned[_ATTR_SIGNATURE_TST], what="signature time-stamp")
        signed_at, sig_tsa = _check_token(token, _sha256(signer.signature), roots, at, what="signature time-stamp")
        # The SHA-256 of the bytes the document time-stamp covers (pyHanko's, computed once per signature).
        stamped = stamp_sig.compute_digest("sha256")
        doc_at, doc_tsa = _check_token(stamp_cms, stamped, roots, at, what="document time-stamp")
        if not signed_at <= doc_at <= at:
            raise FastPathRefused("the time-stamps are not in order before the validation time")
        # (4) The chain: seal certificate -> seal CA (in the file) -> trust root.
        pool = _certificates(seal_cms, what="seal")
        pool += [_cert(der) for der in dss.certs]
        if seal.is_ca or not {"digital_signature", "content_commitment"} <= seal.key_usage:
            raise FastPathRefused("the seal certificate's key usage")
        ca = _issuer_in(pool, seal)
        if any(ca.digest == root.digest for root in roots):
            raise FastPathRefused("the seal certificate is issued by a trust root directly")
        _check_link(seal, ca)
        root = _trusted_issuer(ca, roots)
        _check_link(ca, root)
        _check_path_length(root, 1)  # the seal CA below it
        _check_path_length(ca, 0)
        if not all(_within(cert, signed_at) for cert in (seal, ca, root)) or not _within(root, at):
            raise FastPathRefused("a certificate of the chain is outside its validity")
        # (5) Revocation: OCSP for the seal certificate; CRLs for the seal CA; nothing lists anything involved.
        if len(dss.ocsps) != 1:
            raise FastPathRefused("not exactly one OCSP response in the DSS")
        responder = _check_ocsp(dss.ocsps[0], seal, ca, signed_at=signed_at, doc_at=doc_at)
        involved = [seal, ca, sig_tsa, doc_tsa, responder, *pool]
        covered = _check_crls((*dss.crls, *self._crls), (root, ca), involved, signed_at=signed_at, doc_at=doc_at)
        if root.subject not in covered:
            raise FastPathRefused("no CRL of the root for the seal CA")
        return FastPass(proven_at=signed_at, document_timestamp_at=doc_at)


def _signed_data(der: bytes, *, what: str) -> _cms.SignedData:
    try:
        return _cms.signed_data(der)
    except _cms.DerError as exc:
        raise FastPathRefused(f"{what}: {exc}") from None
