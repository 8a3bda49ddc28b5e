"""Revocation of SM2 seal certificates: derived from the seal's lifecycle, published as an SM2-signed CRL.

Example::

    >>> der = build_sm2_crl(issuer=ca, issuer_key=ca_key, revoked=entries, number=3,
    ...                     this_update=now, next_update=now + timedelta(days=7))      # doctest: +SKIP
    >>> # openssl crl -inform DER -in sm2.crl -CAfile sm2-seal-ca.pem -vfyopt distid:1234567812345678

An SM2 certificate is revoked with its seal: ``seals revoke`` (any reason, a key compromise with its invalidity
date) revokes every P-256 certificate of the seal and so every SM2 generation too, at the same time and for the
same reason, and a retirement by memorandum revokes them (cessationOfOperation) from the cut-over. Nothing new is
stored: the SM2 revocation is read from the seal's P-256 certificates (the newest explicit revocation) and the
lifecycle state, with :func:`seal_service.services.lifecycle.effective_revocation` combining them exactly as for
the P-256 certificates. A superseded generation (after a rotation) is not revoked, as a superseded P-256
certificate is not.

The CRL is an RFC 5280 v2 CertificateList built with asn1crypto and signed by the SM2 seal CA through the SM2
signer (gmalglib; SM2-with-SM3, user id 1234567812345678), with CRL number, authority key identifier, reason
codes and invalidity dates; ``openssl crl -verify`` accepts it given ``-vfyopt distid:1234567812345678``
(docs/gm-crypto.md, "Revocation").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from seal_service.gm.keys import Sm2Signer
from seal_service.protocols.crl import RevokedEntry
from seal_service.services.lifecycle import LifecycleState, Revocation, effective_revocation, explicit_revocation
from seal_service.storage.gm_models import GmSealMaterial
from seal_service.storage.models import Seal
from verifier.gm_structures import SM2_WITH_SM3

__all__ = ["build_sm2_crl", "material_revocation", "sm2_revocations"]

# asn1crypto's CRLReason names by RFC 5280 reason (x509.ReasonFlags values).
_REASONS = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "removeFromCRL": "remove_from_crl",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}


def _seconds(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return at.astimezone(UTC).replace(microsecond=0)


def _time(at: datetime) -> x509.Time:
    return x509.Time({"utc_time": at} if at.year < 2050 else {"general_time": at})


def build_sm2_crl(
    *,
    issuer: x509.Certificate,
    issuer_key: Sm2Signer,
    revoked: Iterable[RevokedEntry],
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A DER CRL of ``issuer`` (the SM2 seal CA) signed with ``issuer_key`` (SM2-with-SM3).

    :raises ValueError: key does not match ``issuer``, ``next_update`` not after ``this_update``, naive times, a
        serial listed twice.
    """
    if issuer_key.public_key != bytes(issuer.public_key["public_key"].contents[1:]):
        raise ValueError("issuer_key does not match the issuer certificate")
    this_update, next_update = _seconds(this_update), _seconds(next_update)
    if next_update <= this_update:
        raise ValueError("next_update must be after this_update")
    entries = []
    seen: set[int] = set()
    for entry in sorted(revoked, key=lambda e: e.serial_number):
        if entry.serial_number in seen:
            raise ValueError(f"serial {entry.serial_number:#x} listed twice")
        seen.add(entry.serial_number)
        extensions = []
        reason = entry.reason.value if entry.reason is not None else "unspecified"
        if reason != "unspecified":
            extensions.append({"extn_id": "crl_reason", "critical": False, "extn_value": _REASONS[reason]})
        if entry.invalidity_date is not None:
            extensions.append(
                {
                    "extn_id": "invalidity_date",
                    "critical": False,
                    "extn_value": _seconds(entry.invalidity_date),
                }
            )
        value: dict[str, object] = {
            "user_certificate": entry.serial_number,
            "revocation_date": _time(_seconds(entry.revoked_at)),
        }
        if extensions:
            value["crl_entry_extensions"] = extensions
        entries.append(value)
    tbs_value: dict[str, object] = {
        "version": "v2",
        "signature": {"algorithm": SM2_WITH_SM3},
        "issuer": issuer.subject,
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            {"extn_id": "crl_number", "critical": False, "extn_value": number},
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": issuer.key_identifier},
            },
        ],
    }
    if entries:
        tbs_value["revoked_certificates"] = entries
    tbs = asn1_crl.TbsCertList(tbs_value)
    signature = issuer_key.sign(tbs.dump())
    crl = asn1_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": {"algorithm": SM2_WITH_SM3}, "signature": signature}
    )
    return bytes(crl.dump())


def material_revocation(seal: Seal, state: LifecycleState) -> Revocation | None:
    """The revocation (past or scheduled) of every SM2 generation of ``seal``: its P-256 certificates' newest
    explicit revocation (``seals revoke``, key compromise) combined with its retirement."""
    explicit = [r for cert in seal.certificates if (r := explicit_revocation(cert)) is not None]
    newest = max(explicit, key=lambda r: r.revoked_at, default=None)
    return effective_revocation(newest, state.retirement_of(seal.authority.code))


def sm2_revocations(session: Session, state: LifecycleState) -> list[tuple[GmSealMaterial, Revocation | None]]:
    """Every SM2 seal certificate with its revocation (None: not revoked), past or scheduled."""
    rows = session.execute(select(GmSealMaterial, Seal).join(Seal, GmSealMaterial.seal_id == Seal.id)).all()
    by_seal: dict[str, Revocation | None] = {}
    found = []
    for material, seal in rows:
        if seal.id not in by_seal:
            by_seal[seal.id] = material_revocation(seal, state)
        found.append((material, by_seal[seal.id]))
    return found


def certificate_serial(material: GmSealMaterial) -> int:
    """The serial number of a material's SM2 certificate."""
    return int(x509.Certificate.load(material.certificate_der).serial_number)


def certificate_sha256(material: GmSealMaterial) -> str:
    """SHA-256 (hex) of a material's SM2 certificate: how the trust bundle names it."""
    return hashlib.sha256(material.certificate_der).hexdigest()
