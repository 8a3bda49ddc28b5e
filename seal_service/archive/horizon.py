"""How long a B-LTA licence stays verifiable: its newest document time-stamp's TSA certificate expiry, or the
expiry of the algorithms it relies on, whichever comes first.

Example::

    >>> verifiable_until(pdf_bytes)                       # doctest: +SKIP
    datetime.datetime(2031, 12, 2, 13, 58, 22, tzinfo=datetime.timezone.utc)

A licence must be renewed (:mod:`seal_service.archive.renewal`) before that date: afterwards nobody can show that
its last time-stamp was made while the TSA's key was sound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from seal_service.errors import InvalidDocument

#: Algorithms and the date from which they are no longer trusted for new proofs (ETSI TS 119 312 announces none
#: for SHA-256, SHA-384, P-256, P-384 or RSA-3072 yet). Reviewed with the signature policy; a date set here pulls
#: every licence relying on the algorithm into the renewal horizon before it.
ALGORITHM_EXPIRY: dict[str, datetime] = {}


class NotRenewable(InvalidDocument):
    """The stored PDF cannot be renewed: it does not parse, or it has no document time-stamp (not B-LTA)."""


def newest_document_timestamp(reader: PdfFileReader) -> tuple[EmbeddedPdfSignature, int]:
    """The newest document time-stamp of the PDF and how many there are.

    :raises NotRenewable: there is none.
    """
    stamps = reader.embedded_timestamp_signatures
    if not stamps:
        raise NotRenewable("the PDF has no document time-stamp (not PAdES B-LTA)")
    return max(stamps, key=lambda s: int(s.signed_revision)), len(stamps)


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_DOC_TIMESTAMP = re.compile(rb"/Type\s*/DocTimeStamp\b")


@dataclass(frozen=True)
class NewestTimestamp:
    """The newest document time-stamp of a PDF, as renewal needs it."""

    token: cms.SignedData
    """The time-stamp token's SignedData."""
    count: int
    """How many document time-stamps the PDF has."""

    @property
    def signer_info(self) -> cms.SignerInfo:
        """The token's (only) SignerInfo."""
        return self.token["signer_infos"][0]

    @property
    def signer_cert(self) -> asn1_x509.Certificate:
        """The TSA certificate the SignerInfo names."""
        sid = self.signer_info["sid"]
        for choice in self.token["certificates"]:
            cert = choice.chosen
            if sid.name == "issuer_and_serial_number":
                wanted = sid.chosen
                # DER equality of the issuer name: no LDAP string preparation needed for our own tokens.
                if cert.serial_number == wanted["serial_number"].native and cert.issuer.dump() == (
                    wanted["issuer"].dump()
                ):
                    return cert
            elif cert.key_identifier == sid.chosen.native:
                return cert
        raise NotRenewable("the newest document time-stamp does not carry its TSA certificate")


def _fast_newest(pdf: bytes) -> NewestTimestamp | None:
    """The newest document time-stamp read straight from the bytes, or None when the layout is not the plain one
    (the last signature covers the whole file and is a time-stamp token); the caller then asks pyHanko.

    pyHanko's reader tokenises every signature's /Contents hex string byte by byte, which is most of the cost of
    a renewal; the stored licences are our own files, and the verifier checks every byte of the result anyway.
    """
    ranges = [tuple(int(v) for v in m.groups()) for m in _BYTE_RANGE.finditer(pdf)]
    if not ranges:
        return None
    a, b, c, d = max(ranges, key=lambda r: r[2] + r[3])
    end = len(pdf.rstrip(b"\r\n\t \x00"))
    if a != 0 or c + d < end - 1 or c + d > len(pdf) or not b < c:
        return None
    hex_string = pdf[b:c].strip()
    if not (hex_string.startswith(b"<") and hex_string.endswith(b">")):
        return None
    try:
        content = cms.ContentInfo.load(bytes.fromhex(hex_string[1:-1].decode("ascii")), strict=False)
        token = content["content"]
        if content["content_type"].native != "signed_data" or token["encap_content_info"]["content_type"].native != (
            "tst_info"
        ):
            return None
    except Exception:
        return None
    count = len(_DOC_TIMESTAMP.findall(pdf))
    return NewestTimestamp(token=token, count=count) if count else None


def newest_timestamp(pdf: bytes) -> NewestTimestamp:
    """The newest document time-stamp of ``pdf`` (fast for our own layout, pyHanko otherwise).

    :raises NotRenewable: the bytes are not a readable PDF with a document time-stamp.
    """
    found = _fast_newest(pdf)
    if found is not None:
        return found
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        stamp, count = newest_document_timestamp(reader)
        return NewestTimestamp(token=stamp.signed_data, count=count)
    except NotRenewable:
        raise
    except Exception as exc:  # any parse failure of a damaged file
        raise NotRenewable(f"the stored PDF cannot be read: {type(exc).__name__}: {exc}") from None


#: TSA certificate facts by the DER of a token's certificate set and signer identifier: the licences renewed in one
#: round were mostly time-stamped by the same one or two TSA certificates, so they are parsed once per process.
_EXPIRY_CACHE: dict[tuple[bytes, bytes], tuple[datetime, bytes]] = {}
_EXPIRY_CACHE_SIZE = 64


def timestamp_expiry(stamp: EmbeddedPdfSignature | NewestTimestamp) -> tuple[datetime, asn1_x509.Certificate]:
    """When the proof of ``stamp`` ends (TSA certificate or algorithm expiry) and the TSA certificate."""
    if isinstance(stamp, NewestTimestamp):
        info = stamp.signer_info
        # Not the whole SignerInfo (its signature differs in every token): what the expiry depends on.
        key = (
            stamp.token["certificates"].dump(),
            info["sid"].dump() + info["digest_algorithm"].dump() + info["signature_algorithm"].dump(),
        )
        cached = _EXPIRY_CACHE.get(key)
        if cached is None:
            until, cert = _timestamp_expiry(stamp)
            if len(_EXPIRY_CACHE) >= _EXPIRY_CACHE_SIZE:
                _EXPIRY_CACHE.clear()
            _EXPIRY_CACHE[key] = (until, cert.dump())
            return until, cert
        # A fresh certificate object for every caller: asn1crypto's lazily parsed objects are not thread-safe.
        return cached[0], asn1_x509.Certificate.load(cached[1])
    return _timestamp_expiry(stamp)


def _timestamp_expiry(stamp: EmbeddedPdfSignature | NewestTimestamp) -> tuple[datetime, asn1_x509.Certificate]:
    tsa_cert = stamp.signer_cert
    until: datetime = tsa_cert["tbs_certificate"]["validity"]["not_after"].native.astimezone(UTC)
    signer_info = stamp.signer_info
    names = (
        signer_info["digest_algorithm"]["algorithm"].native,
        signer_info["signature_algorithm"].signature_algo,
        tsa_cert.public_key.curve[1] if tsa_cert.public_key.algorithm == "ec" else tsa_cert.public_key.algorithm,
    )
    for name in names:
        expiry = ALGORITHM_EXPIRY.get(str(name))
        if expiry is not None and expiry < until:
            until = expiry
    return until, tsa_cert


def verifiable_until(pdf: bytes) -> datetime:
    """The date until which ``pdf`` (a B-LTA licence) is verifiable without renewal.

    :raises NotRenewable: the bytes are not a readable PDF with a document time-stamp.
    """
    return timestamp_expiry(newest_timestamp(pdf))[0]
