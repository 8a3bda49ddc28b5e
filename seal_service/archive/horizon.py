"""How long a B-LTA licence stays verifiable: its newest document time-stamp's TSA certificate expiry, or the
expiry of the algorithms it relies on, whichever comes first.

Example::

    >>> verifiable_until(pdf_bytes)                       # doctest: +SKIP
    datetime.datetime(2031, 12, 2, 13, 58, 22, tzinfo=datetime.timezone.utc)

A licence must be renewed (:mod:`seal_service.archive.renewal`) before that date: afterwards nobody can show that
its last time-stamp was made while the TSA's key was sound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

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


def timestamp_expiry(stamp: EmbeddedPdfSignature) -> tuple[datetime, asn1_x509.Certificate]:
    """When the proof of ``stamp`` ends (TSA certificate or algorithm expiry) and the TSA certificate."""
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
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        stamp, _ = newest_document_timestamp(reader)
        return timestamp_expiry(stamp)[0]
    except NotRenewable:
        raise
    except Exception as exc:  # any parse failure of a damaged file
        raise NotRenewable(f"the stored PDF cannot be read: {type(exc).__name__}: {exc}") from None
