"""Strict DER reading of the CMS structures the fast path checks: SignedData, SignerInfo, attributes, TSTInfo.

Example::

    signed = signed_data(sig.pkcs7_content)       # SignedData; raises DerError on anything else
    signed.signer_infos[0].signature              # bytes
    tst_info(signed.content).gen_time             # an aware datetime

The fast path (verifier/_fastpath.py) used asn1crypto for this: a lazy parse of three CMS structures per licence
whose every field read builds Python objects (about a tenth of verifying a licence). This module walks the same
bytes once, keeps the fields as plain values and the parts whose bytes matter (certificates, issuer names,
attribute values, the signed attributes) as the exact slices of the input.

It is stricter than asn1crypto, never looser, because the fast path is positive-only (a refusal only sends the
document to pyHanko's validation): DER only (definite, minimal lengths; low tag numbers; minimal INTEGER and OID
encodings; primitive OCTET STRINGs; GeneralizedTime as ``YYYYMMDDHHMMSS[.f]Z``), every constructed value exactly
filled by its fields, each field with the tag its position requires, and nothing after the TSTInfo in its OCTET
STRING. As with asn1crypto's ``load``, bytes after the outermost ContentInfo (the zero padding of a PDF
signature's ``/Contents``) are ignored. ``tests/verifier/test_cms.py`` compares its reading with asn1crypto's.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "Algorithm",
    "Attribute",
    "DerError",
    "SignedData",
    "SignerInfo",
    "TstInfo",
    "certificate_serial_and_issuer",
    "octets_value",
    "oid_value",
    "signed_data",
    "tst_info",
]

ID_SIGNED_DATA = "1.2.840.113549.1.7.2"

_SEQUENCE, _SET, _INTEGER, _OCTET_STRING, _NULL, _OID, _BOOLEAN, _GENERALIZED_TIME = (
    0x30,
    0x31,
    0x02,
    0x04,
    0x05,
    0x06,
    0x01,
    0x18,
)
_GEN_TIME = re.compile(rb"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{0,5}[1-9]))?Z")


class DerError(ValueError):
    """The bytes are not the DER of the structure expected (or use an encoding this reader does not accept)."""


# One value in the input: (tag, where its tag is, where its contents are, where it ends). A plain tuple, not a
# dataclass: this reader makes a hundred of them per licence.
_Tlv = tuple[int, int, int, int]
_TAG, _START, _BODY, _END = 0, 1, 2, 3


def _read(data: bytes, at: int, end: int) -> _Tlv:
    if at + 2 > end:
        raise DerError("truncated")
    tag, length = data[at], data[at + 1]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag number")
    body = at + 2
    if length & 0x80:
        octets = length & 0x7F
        if octets == 0 or octets > 4 or body + octets > end:
            raise DerError("indefinite, oversized or truncated length")
        length = int.from_bytes(data[body : body + octets], "big")
        if data[body] == 0 or length < 0x80:
            raise DerError("length not minimally encoded")
        body += octets
    if body + length > end:
        raise DerError("truncated")
    return tag, at, body, body + length


def _children(data: bytes, parent: _Tlv) -> list[_Tlv]:
    if not parent[_TAG] & 0x20:
        raise DerError("a primitive value where a constructed one is expected")
    found, at = [], parent[_BODY]
    while at < parent[_END]:
        child = _read(data, at, parent[_END])
        found.append(child)
        at = child[_END]
    return found


def _expect(tlv: _Tlv, tag: int, what: str) -> _Tlv:
    if tlv[_TAG] != tag:
        raise DerError(f"{what}: tag 0x{tlv[_TAG]:02x}, expected 0x{tag:02x}")
    return tlv


def _integer(data: bytes, tlv: _Tlv, what: str) -> int:
    body = data[_expect(tlv, _INTEGER, what)[_BODY] : tlv[_END]]
    if not body or (len(body) > 1 and (body[0], body[1] >> 7) in ((0, 0), (0xFF, 1))):
        raise DerError(f"{what}: INTEGER not minimally encoded")
    return int.from_bytes(body, "big", signed=True)


def _oid(data: bytes, tlv: _Tlv, what: str) -> str:
    body = data[_expect(tlv, _OID, what)[_BODY] : tlv[_END]]
    if not body or body[-1] & 0x80:
        raise DerError(f"{what}: OBJECT IDENTIFIER truncated")
    arcs, value, fresh = [], 0, True
    for octet in body:
        if fresh and octet == 0x80:
            raise DerError(f"{what}: OBJECT IDENTIFIER not minimally encoded")
        value = (value << 7) | (octet & 0x7F)
        fresh = not octet & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _octets(data: bytes, tlv: _Tlv, what: str) -> bytes:
    return data[_expect(tlv, _OCTET_STRING, what)[_BODY] : tlv[_END]]


def oid_value(der: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER given as its whole DER (tag, length, contents), exactly filled."""
    tlv = _read(der, 0, len(der))
    if tlv[_END] != len(der):
        raise DerError("bytes after the OBJECT IDENTIFIER")
    return _oid(der, tlv, "value")


def octets_value(der: bytes) -> bytes:
    """The contents of an OCTET STRING given as its whole DER, exactly filled."""
    tlv = _read(der, 0, len(der))
    if tlv[_END] != len(der):
        raise DerError("bytes after the OCTET STRING")
    return _octets(der, tlv, "value")


@dataclass(frozen=True, slots=True)
class Algorithm:
    """An AlgorithmIdentifier whose parameters are absent or NULL (any other parameters are refused: asn1crypto
    types them by algorithm, and none of the algorithms the fast path accepts has others)."""

    oid: str
    no_parameters: bool
    """Parameters absent or NULL (what asn1crypto reads as ``None``); always True, kept for the checks' sake."""


def _algorithm(data: bytes, tlv: _Tlv, what: str) -> Algorithm:
    fields = _children(data, _expect(tlv, _SEQUENCE, what))
    if not 1 <= len(fields) <= 2:
        raise DerError(f"{what}: AlgorithmIdentifier")
    oid = _oid(data, fields[0], what)
    if len(fields) == 2 and (fields[1][_TAG] != _NULL or fields[1][_BODY] != fields[1][_END]):
        raise DerError(f"{what}: parameters other than NULL")
    return Algorithm(oid, True)


@dataclass(frozen=True, slots=True)
class Attribute:
    """A CMS Attribute: its type and the DER of each of its values, as in the input."""

    oid: str
    values: tuple[bytes, ...]


def _attributes(data: bytes, tlv: _Tlv, what: str) -> tuple[Attribute, ...]:
    found = []
    for attribute in _children(data, tlv):
        fields = _children(data, _expect(attribute, _SEQUENCE, what))
        if len(fields) != 2:
            raise DerError(f"{what}: Attribute")
        values = _children(data, _expect(fields[1], _SET, what))
        found.append(Attribute(_oid(data, fields[0], what), tuple(data[v[_START] : v[_END]] for v in values)))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """A SignerInfo; ``sid_issuer``/``sid_serial`` are None when the signer is named by a key identifier."""

    sid_issuer: bytes | None
    """The DER of the issuer Name, as in the input."""
    sid_serial: int | None
    digest_algorithm: Algorithm
    signed_attrs_der: bytes | None
    """The DER of the [0] IMPLICIT signed attributes, as in the input (tag 0xA0)."""
    signed_attrs: tuple[Attribute, ...] | None
    signature_algorithm: Algorithm
    signature: bytes
    unsigned_attrs: tuple[Attribute, ...] | None


def _signer_info(data: bytes, tlv: _Tlv) -> SignerInfo:
    what = "SignerInfo"
    fields = _children(data, _expect(tlv, _SEQUENCE, what))
    if len(fields) < 5:
        raise DerError(f"{what}: too few fields")
    _integer(data, fields[0], f"{what} version")
    sid = fields[1]
    issuer = serial = None
    if sid[_TAG] == _SEQUENCE:
        parts = _children(data, sid)
        if len(parts) != 2:
            raise DerError(f"{what}: IssuerAndSerialNumber")
        _expect(parts[0], _SEQUENCE, f"{what} issuer")
        issuer, serial = data[parts[0][_START] : parts[0][_END]], _integer(data, parts[1], f"{what} serial")
    elif sid[_TAG] != 0x80:  # [0] IMPLICIT SubjectKeyIdentifier
        raise DerError(f"{what}: signer identifier")
    digest_algorithm = _algorithm(data, fields[2], f"{what} digestAlgorithm")
    rest = fields[3:]
    signed_der = signed = None
    if rest[0][_TAG] == 0xA0:
        signed_der, signed = data[rest[0][_START] : rest[0][_END]], _attributes(data, rest[0], f"{what} signedAttrs")
        rest = rest[1:]
    if len(rest) not in (2, 3):
        raise DerError(f"{what}: fields")
    signature_algorithm = _algorithm(data, rest[0], f"{what} signatureAlgorithm")
    signature = _octets(data, rest[1], f"{what} signature")
    unsigned = None
    if len(rest) == 3:
        unsigned = _attributes(data, _expect(rest[2], 0xA1, f"{what} unsignedAttrs"), f"{what} unsignedAttrs")
    return SignerInfo(issuer, serial, digest_algorithm, signed_der, signed, signature_algorithm, signature, unsigned)


@dataclass(frozen=True, slots=True)
class SignedData:
    """A CMS SignedData (RFC 5652 § 5.1)."""

    digest_algorithms: tuple[Algorithm, ...]
    content_type: str
    content: bytes | None
    """The encapsulated content's octets; None when detached."""
    certificates: tuple[bytes, ...]
    """The DER of each certificate, as in the input (CertificateChoices of another kind are refused)."""
    crls_present: bool
    signer_infos: tuple[SignerInfo, ...]


@functools.lru_cache(maxsize=32)
def signed_data(der: bytes) -> SignedData:
    """The SignedData in a ContentInfo (``der``; bytes after it are ignored) whose type is id-signedData.

    Memoised (a pure function of the bytes, and the result is immutable): the checks of one licence read the same
    CMS several times."""
    outer = _expect(_read(der, 0, len(der)), _SEQUENCE, "ContentInfo")
    fields = _children(der, outer)
    if len(fields) != 2 or _oid(der, fields[0], "ContentInfo contentType") != ID_SIGNED_DATA:
        raise DerError("ContentInfo: not signed data")
    explicit = _children(der, _expect(fields[1], 0xA0, "ContentInfo content"))
    if len(explicit) != 1:
        raise DerError("ContentInfo: content")
    what = "SignedData"
    parts = _children(der, _expect(explicit[0], _SEQUENCE, what))
    if len(parts) < 4:
        raise DerError(f"{what}: too few fields")
    _integer(der, parts[0], f"{what} version")
    digests = tuple(
        _algorithm(der, alg, f"{what} digestAlgorithms")
        for alg in _children(der, _expect(parts[1], _SET, f"{what} digestAlgorithms"))
    )
    encap = _children(der, _expect(parts[2], _SEQUENCE, f"{what} encapContentInfo"))
    if not 1 <= len(encap) <= 2:
        raise DerError(f"{what}: encapContentInfo")
    content_type = _oid(der, encap[0], f"{what} eContentType")
    content = None
    if len(encap) == 2:
        inner = _children(der, _expect(encap[1], 0xA0, f"{what} eContent"))
        if len(inner) != 1:
            raise DerError(f"{what}: eContent")
        content = _octets(der, inner[0], f"{what} eContent")
    rest = parts[3:]
    certificates: list[bytes] = []
    if rest and rest[0][_TAG] == 0xA0:
        for choice in _children(der, rest[0]):
            certificates.append(der[_expect(choice, _SEQUENCE, f"{what} certificates")[_START] : choice[_END]])
        rest = rest[1:]
    crls_present = bool(rest) and rest[0][_TAG] == 0xA1
    if crls_present:
        rest = rest[1:]
    if len(rest) != 1:
        raise DerError(f"{what}: fields")
    signers = tuple(_signer_info(der, info) for info in _children(der, _expect(rest[0], _SET, f"{what} signerInfos")))
    return SignedData(digests, content_type, content, tuple(certificates), crls_present, signers)


@dataclass(frozen=True, slots=True)
class TstInfo:
    """An RFC 3161 TSTInfo: the fields the fast path checks."""

    version: int
    imprint_algorithm: Algorithm
    imprint: bytes
    gen_time: datetime
    extensions_present: bool


def _gen_time(data: bytes, tlv: _Tlv) -> datetime:
    match = _GEN_TIME.fullmatch(data, _expect(tlv, _GENERALIZED_TIME, "genTime")[_BODY], tlv[_END])
    if match is None:
        raise DerError("genTime: not YYYYMMDDHHMMSS[.f]Z")
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    fraction = match.group(7) or b""
    try:
        return datetime(year, month, day, hour, minute, second, int(fraction.ljust(6, b"0")), tzinfo=UTC)
    except ValueError as exc:
        raise DerError(f"genTime: {exc}") from None


# TSTInfo's optional fields after genTime, in order: accuracy, ordering, nonce, tsa [0], extensions [1].
_TST_OPTIONAL = (_SEQUENCE, _BOOLEAN, _INTEGER, 0xA0, 0xA1)


def tst_info(der: bytes) -> TstInfo:
    """The TSTInfo whose DER is exactly ``der`` (an encapsulated content's octets)."""
    outer = _expect(_read(der, 0, len(der)), _SEQUENCE, "TSTInfo")
    if outer[_END] != len(der):
        raise DerError("TSTInfo: bytes after it")
    fields = _children(der, outer)
    if len(fields) < 5:
        raise DerError("TSTInfo: too few fields")
    version = _integer(der, fields[0], "TSTInfo version")
    _oid(der, fields[1], "TSTInfo policy")
    imprint = _children(der, _expect(fields[2], _SEQUENCE, "TSTInfo messageImprint"))
    if len(imprint) != 2:
        raise DerError("TSTInfo: messageImprint")
    _integer(der, fields[3], "TSTInfo serialNumber")
    gen_time = _gen_time(der, fields[4])
    position = 0
    for field in fields[5:]:
        while position < len(_TST_OPTIONAL) and _TST_OPTIONAL[position] != field[_TAG]:
            position += 1
        if position == len(_TST_OPTIONAL):
            raise DerError("TSTInfo: unexpected or repeated field")
        if field[_TAG] == _SEQUENCE:  # accuracy: seconds INTEGER, millis [0], micros [1], each optional, in order
            tags = [part[_TAG] for part in _children(der, field)]
            if tags != sorted(set(tags)) or not set(tags) <= {_INTEGER, 0x80, 0x81}:
                raise DerError("TSTInfo: accuracy")
        elif field[_TAG] == _BOOLEAN and (field[_END] - field[_BODY] != 1 or der[field[_BODY]] not in (0, 0xFF)):
            raise DerError("TSTInfo: ordering")
        elif field[_TAG] == _INTEGER:
            _integer(der, field, "TSTInfo nonce")
        position += 1
    return TstInfo(
        version=version,
        imprint_algorithm=_algorithm(der, imprint[0], "TSTInfo hashAlgorithm"),
        imprint=_octets(der, imprint[1], "TSTInfo hashedMessage"),
        gen_time=gen_time,
        extensions_present=any(field[_TAG] == 0xA1 for field in fields[5:]),
    )


def certificate_serial_and_issuer(der: bytes) -> tuple[int, bytes]:
    """The serial number of the X.509 certificate whose DER is exactly ``der``, and its issuer Name's DER as in the
    input (the rest of the certificate is not read)."""
    outer = _expect(_read(der, 0, len(der)), _SEQUENCE, "Certificate")
    if outer[_END] != len(der):
        raise DerError("Certificate: bytes after it")
    tbs = _expect(_read(der, outer[_BODY], outer[_END]), _SEQUENCE, "TBSCertificate")
    fields: list[_Tlv] = []
    at = tbs[_BODY]
    while len(fields) < 3 and at < tbs[_END]:  # [0] version (optional), serial, signature algorithm, issuer
        field = _read(der, at, tbs[_END])
        if fields or field[_TAG] != 0xA0:
            fields.append(field)
        at = field[_END]
    if len(fields) < 3:
        raise DerError("TBSCertificate: too few fields")
    issuer = _expect(fields[2], _SEQUENCE, "TBSCertificate issuer")
    return _integer(der, fields[0], "TBSCertificate serialNumber"), der[issuer[_START] : issuer[_END]]
