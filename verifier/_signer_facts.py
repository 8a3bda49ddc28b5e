"""Facts of a signature's CMS read with the strict DER reader (verifier/_cms.py), for the checks every licence runs.

Example::

    try:
        der = signer_certificate(sig)       # the certificate the signer identifier names, as in the file
    except Undecided:
        ...                                  # the asn1crypto code decides, as before

For every licence the verifier reads the signer's certificate (to report the seal), the signature time-stamp's
time, the digest each signature commits to, and checks the seal's signature value. Through asn1crypto and
pyHanko's signature validator those reads were about a tenth of verifying a licence. Each function here answers
from the strict reading or raises :class:`Undecided` when it cannot (a CMS outside strict DER, a signer named by
key identifier, two certificates with one serial number, an algorithm not listed here...); the caller then runs
its asn1crypto code. Where the strict reading accepts, it reads what asn1crypto reads (tests/verifier/test_cms.py),
so the answers are the same: tests/verifier/test_signer_facts.py compares both paths on every document of the
forgery corpus and on signatures with altered bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from verifier import _cms
from verifier._fastpath import FastPathRefused, _cert

__all__ = [
    "Undecided",
    "committed_digest",
    "signature_time_stamp_time",
    "signature_value_problem",
    "signer_certificate",
]

_ID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNATURE_TST = "1.2.840.113549.1.9.16.2.14"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
_ECDSA: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
_RSA_PKCS1: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384,
    "1.2.840.113549.1.1.13": hashes.SHA512,
}
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"  # PKCS #1 v1.5 with the signer's digest algorithm


class Undecided(Exception):
    """The strict reading cannot answer this; the caller's asn1crypto code decides."""


def _signer(sig: Any) -> tuple[_cms.SignedData, _cms.SignerInfo]:
    try:
        signed = _cms.signed_data(sig.pkcs7_content)
    except _cms.DerError:
        raise Undecided from None
    if len(signed.signer_infos) != 1:
        raise Undecided
    return signed, signed.signer_infos[0]


def _first_value(attrs: tuple[_cms.Attribute, ...] | None, oid: str) -> bytes | None:
    """The first value of the first attribute of type ``oid`` (as the asn1crypto code looks it up), or None."""
    for attr in attrs or ():
        if attr.oid == oid:
            if not attr.values:
                raise Undecided
            return attr.values[0]
    return None


def signer_certificate(sig: Any) -> bytes:
    """The DER of the certificate ``sig``'s signer identifier names: the only certificate in the CMS with its
    serial number, whose issuer name is byte for byte the identifier's."""
    signed, signer = _signer(sig)
    if signer.sid_issuer is None:
        raise Undecided
    try:
        same_serial = [
            (der, issuer)
            for der in signed.certificates
            for serial, issuer in (_cms.certificate_serial_and_issuer(der),)
            if serial == signer.sid_serial
        ]
    except _cms.DerError:
        raise Undecided from None
    if len(same_serial) != 1 or same_serial[0][1] != signer.sid_issuer:
        raise Undecided
    return same_serial[0][0]


def signature_time_stamp_time(sig: Any) -> datetime | None:
    """The genTime of ``sig``'s signature time-stamp token (the first one), or None when it has none."""
    _, signer = _signer(sig)
    token = _first_value(signer.unsigned_attrs, _ATTR_SIGNATURE_TST)
    if token is None:
        return None
    try:
        content = _cms.signed_data(token).content
        if content is None:
            raise Undecided
        return _cms.tst_info(content).gen_time
    except _cms.DerError:
        raise Undecided from None


def committed_digest(sig: Any, *, document_timestamp: bool) -> bytes | None:
    """The digest ``sig`` commits to: a document time-stamp's message imprint, or a signature's message-digest
    attribute (None when it has none)."""
    signed, signer = _signer(sig)
    try:
        if document_timestamp:
            if signed.content_type != _ID_TST_INFO or signed.content is None:
                raise Undecided
            return _cms.tst_info(signed.content).imprint
        value = _first_value(signer.signed_attrs, _ATTR_MESSAGE_DIGEST)
        return None if value is None else _cms.octets_value(value)
    except _cms.DerError:
        raise Undecided from None


def signature_value_problem(sig: Any) -> str | None:
    """:func:`verifier.checks.signature_value_problem` for ECDSA and RSA PKCS #1 v1.5 signatures with SHA-2 over
    signed attributes, by the certificate :func:`signer_certificate` finds: the same verification pyHanko's
    validator makes (cryptography's, with the same padding and hash)."""
    _, signer = _signer(sig)
    if not signer.signed_attrs or signer.signed_attrs_der is None:
        raise Undecided
    try:
        key = _cert(signer_certificate(sig)).key
    except FastPathRefused:
        raise Undecided from None
    message = b"\x31" + signer.signed_attrs_der[1:]
    algorithm = signer.signature_algorithm.oid
    try:
        if algorithm in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer.signature, message, ec.ECDSA(_ECDSA[algorithm]()))
        elif algorithm in _RSA_PKCS1 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signer.signature, message, padding.PKCS1v15(), _RSA_PKCS1[algorithm]())
        elif (
            algorithm == _RSA_ENCRYPTION
            and isinstance(key, rsa.RSAPublicKey)
            and signer.digest_algorithm.oid in _HASHES
        ):
            key.verify(signer.signature, message, padding.PKCS1v15(), _HASHES[signer.digest_algorithm.oid]())
        else:
            raise Undecided
    except InvalidSignature:
        return "the signature value does not verify with the certificate its signer identifier names"
    except (ValueError, TypeError):  # anything else cryptography raises: the validator's code decides
        raise Undecided from None
    return None
