"""Proof of existence for national seals (国密): their time-stamp validated in the past, its TSA certificate expired.

Example::

    >>> proof = ExistenceProof(at=pades_proven_at, covers=119470)                  # doctest: +SKIP
    >>> proof.covers_range((0, 1219, 54919, 686))                                 # doctest: +SKIP
    True
    >>> tsa_status_at(reader, tsa_der=tsa, issuer_der=root, at=proof.at).outcome   # doctest: +SKIP
    'good'

A national seal's RFC 3161 time-stamp proves its signing time only while the TSA certificate that signed it can be
validated: after that certificate expires, the token alone proves nothing. Archive renewal does not touch the
SES_Signature (it lies inside the signed bytes of the PAdES seal); what carries the national seal forward is the
PAdES side, following ETSI EN 319 102-1 (past signature validation, proof of existence):

1. The national seal's revision, its ``/Contents`` (the SES_Signature with its time-stamp token) included, lies
   inside the bytes the PAdES seal signs, and so inside every document time-stamp after it. When the PAdES
   validation accepts the seal with a proof of time (B-T and up: its signature time-stamp, or for a renewed B-LTA
   licence the chain of document time-stamps that proves that time-stamp in turn), that proven time is a **proof
   of existence** of the SES_Signature and its token (:class:`ExistenceProof`); it is the earliest one the file
   offers, as the PAdES seal is the first signature after the national one.
2. The national seal's token is then validated at that time instead of now: its CMS signature, the TSA
   certificate's profile and chain to a trusted root, valid at its genTime and at the proven time, which may not
   lie before the genTime.
3. The TSA certificate's revocation status at the proven time comes from the file (:func:`tsa_status_at`): a CRL
   of its issuer in the DSS, signed by the issuer, issued before the certificate expired and speaking for the
   proven time (valid then, or issued after it), in a revision that a document time-stamp made before the
   certificate expired covers (so the CRL itself existed while the certificate could still be checked). Listed
   as revoked at or before the proven time: the national seal is invalid. No such CRL: indeterminate, saying so.

Without a proof of existence (the PAdES seal is not valid, or is B-B, or the licence was not renewed before its
newest time-stamp expired) the national seal whose TSA certificate expired stays indeterminate, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError

from verifier.report import Message

__all__ = ["ExistenceProof", "TsaStatus", "tsa_status_at"]


@dataclass(frozen=True)
class ExistenceProof:
    """A proof of existence (ETSI EN 319 102-1 POE) of the first bytes of the file at a time."""

    at: datetime
    """When the bytes are proven to have existed: the PAdES seal's proven signing time."""
    covers: int
    """The bytes ``[0, covers)`` existed at :attr:`at` (the PAdES seal's signed bytes up to its own /Contents)."""

    def covers_range(self, byte_range: tuple[int, ...]) -> bool:
        """Whether the revision a ``/ByteRange`` signs, its ``/Contents`` gap included, lies within the proof."""
        return len(byte_range) == 4 and byte_range[2] + byte_range[3] <= self.covers


@dataclass(frozen=True)
class TsaStatus:
    """The revocation status of a TSA certificate at a past time, as the file's validation data states it."""

    outcome: str
    """``good``, ``revoked`` or ``unknown``."""
    message: Message


def _day(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _proving_revisions(reader: PdfFileReader, before: datetime) -> list[int]:
    """The revisions signed by a document time-stamp made at or before ``before`` (its DSS existed then)."""
    revisions = []
    for stamp in reader.embedded_timestamp_signatures:
        try:
            gen_time: datetime = stamp.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
        except Exception:  # noqa: S112 - an unreadable token proves nothing; the PAdES validation reports it
            continue
        if gen_time.astimezone(UTC) <= before:
            revisions.append(int(stamp.signed_revision))
    return revisions


def tsa_status_at(reader: PdfFileReader, *, tsa_der: bytes, issuer_der: bytes, at: datetime) -> TsaStatus:
    """The status of the TSA certificate ``tsa_der`` (issued by ``issuer_der``) at ``at`` from the CRLs of the
    file's DSS (module docstring, point 3)."""
    tsa = x509.load_der_x509_certificate(tsa_der)
    issuer = x509.load_der_x509_certificate(issuer_der)
    expiry = tsa.not_valid_after_utc
    seen: set[bytes] = set()
    speaking: list[x509.CertificateRevocationList] = []
    for revision in _proving_revisions(reader, expiry):
        try:
            dss = DocumentSecurityStore.read_dss(HistoricalResolver(reader, revision=revision))
        except NoDSSFoundError:
            continue
        for ref in dss.crls:
            der = bytes(ref.get_object().data)
            if der in seen:
                continue
            seen.add(der)
            try:
                crl = x509.load_der_x509_crl(der)
                if crl.issuer != tsa.issuer or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                    continue
            except Exception:  # noqa: S112 - not a CRL of this issuer (an SM2 CRL, say): it says nothing here
                continue
            this_update = crl.last_update_utc
            next_update = crl.next_update_utc
            # Issued while the certificate could still be listed, and speaking for ``at``: valid then, or later.
            if this_update > expiry or (this_update < at and (next_update is None or next_update <= at)):
                continue
            speaking.append(crl)
    for crl in speaking:
        entry = crl.get_revoked_certificate_by_serial_number(tsa.serial_number)
        if entry is not None and entry.revocation_date_utc <= at:
            return TsaStatus(
                "revoked",
                Message(
                    f"国密签章时间戳的时间戳服务证书已于 {_day(entry.revocation_date_utc)} 吊销，"
                    "早于其被证明存在的时间",
                    f"the TSA certificate of the national seal's time-stamp was revoked on "
                    f"{_day(entry.revocation_date_utc)}, before the time the seal is proven to exist ({_day(at)})",
                ),
            )
    if speaking:
        newest = max(speaking, key=lambda crl: crl.last_update_utc)
        return TsaStatus(
            "good",
            Message(
                f"时间戳服务证书在 {_day(at)} 未被吊销（文件中的 CRL，{_day(newest.last_update_utc)} 签发）",
                f"its TSA certificate was not revoked at {_day(at)} (CRL in the file issued "
                f"{_day(newest.last_update_utc)})",
            ),
        )
    return TsaStatus(
        "unknown",
        Message(
            "文件中没有国密签章时间戳服务证书到期前的吊销信息（CRL），无法确认其在被证明存在时未被吊销",
            f"the file holds no revocation data (CRL) for the national seal's TSA certificate from before it expired "
            f"on {_day(expiry)}, so its status at {_day(at)} is unknown",
        ),
    )
