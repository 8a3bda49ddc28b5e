"""Minimal DER writer for the per-request parts of TSA tokens and OCSP responses.

Why not asn1crypto all the way: assembling a SignedData with asn1crypto objects that embed shared,
pre-built parts (certificates, ESS attribute) re-encodes and deep-copies those parts on every call —
~15 ms per time-stamp token instead of ~0.1 ms. So the static parts are encoded once with asn1crypto
(correct by construction) and only the few dynamic TLVs are written here.

Example::

    tlv(SEQUENCE, integer(1), generalized_time(datetime(2025, 6, 1, tzinfo=UTC)))
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "BIT_STRING",
    "ENUMERATED",
    "GENERALIZED_TIME",
    "INTEGER",
    "NULL",
    "OCTET_STRING",
    "SEQUENCE",
    "SET",
    "bit_string",
    "context",
    "generalized_time",
    "integer",
    "octet_string",
    "set_of",
    "tlv",
]

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
ENUMERATED = 0x0A
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31


def tlv(tag: int, *content: bytes) -> bytes:
    """One DER TLV with definite length around the concatenation of ``content``."""
    body = b"".join(content)
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    size_bytes = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size_bytes))) + size_bytes + body


def context(number: int, *content: bytes, constructed: bool = True) -> bytes:
    """A context-specific ``[number]`` tag: EXPLICIT wrapper (constructed) or IMPLICIT primitive."""
    return tlv((0xA0 if constructed else 0x80) | number, *content)


def integer(value: int, tag: int = INTEGER) -> bytes:
    """Minimal two's-complement INTEGER (or ENUMERATED, with ``tag=ENUMERATED``)."""
    bits = value.bit_length() if value >= 0 else (~value).bit_length()
    return tlv(tag, value.to_bytes(bits // 8 + 1, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    """OCTET STRING."""
    return tlv(OCTET_STRING, value)


def bit_string(value: bytes) -> bytes:
    """BIT STRING of whole octets (signatures)."""
    return tlv(BIT_STRING, b"\x00", value)


def generalized_time(at: datetime) -> bytes:
    """GeneralizedTime ``YYYYMMDDHHMMSSZ``: UTC, whole seconds (RFC 5280 / RFC 5019 profile)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return tlv(GENERALIZED_TIME, at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def set_of(*elements: bytes) -> bytes:
    """SET OF, with the elements sorted by encoding as DER (X.690 §11.6) requires."""
    return tlv(SET, *sorted(elements))
