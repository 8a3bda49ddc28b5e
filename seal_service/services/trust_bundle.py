"""The trust bundle: everything an offline verifier needs to judge a seal, signed so it can check it came from us.

Example::

    >>> issued = current_trust_bundle(instance, at=now)          # doctest: +SKIP
    >>> Path("bundle.json").write_bytes(issued.document)         # doctest: +SKIP

The document is JSON::

    {"format": "one-seal-trust-bundle/1",
     "payload": "<base64 of the UTF-8 JSON payload>",
     "signature": {"certificate": "<base64 DER of the bundle signer>", "value": "<base64 signature>"}}

The signature covers ``b"one-seal-trust-bundle/1\\x00" + payload bytes`` (the prefix keeps the key from ever
vouching for anything else), made with the dedicated ``bundle`` key whose certificate the root issued with the
critical extended key usage id-kp-oneSealTrustBundleSigning. Carrying the payload as base64 avoids any JSON
canonicalisation question: the verifier checks the exact bytes, then parses them. So ``verifier/bundle.py`` needs
only the root certificate to check that a bundle is ours, and ``version``/``next_update`` to check it is current.

The payload lists the service certificates, every seal with its certificates and status history (retirement at a
memorandum cut-over, revocations with reasons and invalidity dates, including scheduled ones), the effective
catalogue with its history and the memoranda. A new version is issued when the content changes or the newest
bundle is half-way to its ``next_update``; versions only ever increase.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from seal_service.errors import ConfigurationError
from seal_service.gm import sm2_service_certificates
from seal_service.instance import Instance, PkiRole
from seal_service.keys.store import PrivateKey
from seal_service.log.publication import bundle_section as log_bundle_section
from seal_service.log.publication import content_for_digest
from seal_service.services.lifecycle import Revocation, seal_lifecycles
from seal_service.storage.lifecycle_models import TrustBundleRecord

BUNDLE_FORMAT = "one-seal-trust-bundle/1"
#: Domain separation: what the bundle key signs is always this prefix followed by the payload bytes.
SIGNING_PREFIX = BUNDLE_FORMAT.encode() + b"\x00"
BUNDLE_VALIDITY = timedelta(days=7)
#: Service certificates the bundle carries (the audit signer is not needed to judge a seal).
BUNDLE_ROLES = (PkiRole.ROOT, PkiRole.SEAL_CA, PkiRole.TSA, PkiRole.OCSP, PkiRole.BUNDLE)


@dataclass(frozen=True)
class IssuedBundle:
    """A signed trust bundle as served."""

    version: int
    issued_at: datetime
    next_update: datetime
    document: bytes
    """The signed JSON document, byte for byte."""


def iso(at: datetime) -> str:
    """An instant as ISO 8601 in UTC (``2027-01-01T16:00:00Z``)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _revocation(revocation: Revocation | None) -> dict[str, Any] | None:
    if revocation is None:
        return None
    return {
        "revoked_at": iso(revocation.revoked_at),
        "reason": revocation.reason.value,
        "invalidity_date": iso(revocation.invalidity_date) if revocation.invalidity_date else None,
        "retirement": revocation.retirement is not None,
    }


def _gm_seal_certificates(instance: Instance) -> list[dict[str, Any]]:
    """Every SM2 seal certificate (seal, serial, SHA-256) with its revocation, past or scheduled."""
    from seal_service.gm.revocation import certificate_serial, certificate_sha256, sm2_revocations

    with instance.sessions() as session:
        rows = sm2_revocations(session, instance.lifecycle.state(session))
        return [
            {
                "seal": material.seal_id,
                "serial": format(certificate_serial(material), "x"),
                "sha256": certificate_sha256(material),
                "revocation": _revocation(revocation),
            }
            for material, revocation in sorted(rows, key=lambda r: r[0].id)
        ]


def _retired_tsa_entries(instance: Instance) -> dict[str, str]:
    """TSA certificates retired by rotation, as ``tsa-{serial hex}`` entries: their time-stamps must keep verifying."""
    from seal_service.archive.tsa_rotation import retired_tsa_certificates

    return {f"tsa-{cert.serial_number:x}": _b64(_der(cert)) for cert in retired_tsa_certificates(instance)}


def bundle_content(instance: Instance, *, at: datetime) -> dict[str, Any]:
    """The payload without version and times: deterministic for an unchanged registry and catalogue."""
    state = instance.lifecycle.state()
    catalogue = state.catalogue
    seals = []
    for view in seal_lifecycles(instance, at=at):
        history: list[dict[str, Any]] = []
        certificates = []
        for cert, revocation in view.certificates:
            certificates.append(
                {
                    "serial": cert.serial_number,
                    "sha256": hashlib.sha256(cert.certificate_der).hexdigest(),
                    "der": _b64(cert.certificate_der),
                    "not_before": iso(cert.not_before),
                    "not_after": iso(cert.not_after),
                    "revocation": _revocation(revocation),
                }
            )
            explicit = cert.revoked_at
            if explicit is not None and not any(h.get("at") == iso(explicit) for h in history):
                history.append(
                    {
                        "status": "revoked",
                        "at": iso(explicit),
                        "reason": cert.revocation_reason,
                        "invalidity_date": iso(cert.invalidity_date) if cert.invalidity_date else None,
                    }
                )
        if view.retirement is not None:
            r = view.retirement
            history.append(
                {
                    "status": "retired",
                    "at": iso(r.at),
                    "date": r.day.isoformat(),
                    "memorandum": r.memorandum,
                    "successor": r.successor,
                }
            )
        history.sort(key=lambda h: h["at"])
        seals.append(
            {
                "id": view.id,
                "name": view.name,
                "authority": view.authority_code,
                "credit_code": view.credit_code,
                "status": view.state.status.value,
                "certificates": certificates,
                "history": history,
            }
        )
    return {
        "pki": {role.value: _b64(_der(instance.pki.certificate(role))) for role in BUNDLE_ROLES}
        | _retired_tsa_entries(instance),
        "gm_pki": {role: _b64(der) for role, der in sm2_service_certificates(instance).items()},
        # The SM2 seal certificates' status, as the P-256 ones' under "seals" (deterministic: no CRL times here);
        # the SM2-signed CRL itself is at gm_crl.
        "gm_seal_certificates": _gm_seal_certificates(instance),
        "gm_crl": f"{instance.urls.base}/crl/sm2-seal-ca.crl" if sm2_service_certificates(instance) else None,
        "authorities": [
            {
                "code": a.code,
                "name": a.name,
                "kind": a.kind.value,
                "jurisdiction": a.jurisdiction,
                "credit_code": a.credit_code,
            }
            for a in catalogue.authorities.values()
        ],
        "seals": seals,
        "items": [
            {
                "code": i.code,
                "name": i.name,
                "licence_type": i.licence_type,
                "licence_type_code": i.licence_type_code,
                "supervisor": i.supervisor,
                "sealed_by": [
                    {
                        "authority": p.authority,
                        "from": p.start.isoformat(),
                        "until": p.end.isoformat() if p.end else None,
                        "memorandum": p.memorandum,
                    }
                    for p in i.sealed_by
                ],
            }
            for i in catalogue.items.values()
        ],
        "memoranda": [
            {
                "id": m.id,
                "department": m.department,
                "bureau": m.bureau,
                "items": list(m.items),
                "effective_on": m.effective_on.isoformat(),
                "cut_over_at": iso(m.cut_over_at),
                "whole_department": m.whole_department,
                "reference": m.reference,
                "recorded_at": iso(m.recorded_at) if m.recorded_at else None,
            }
            for m in state.memoranda
        ],
        "log": log_bundle_section(instance),
    }


def canonical_json(value: Any) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_payload(payload: bytes, *, certificate: x509.Certificate, key: PrivateKey) -> bytes:
    """The signed document around ``payload``."""
    message = SIGNING_PREFIX + payload
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:  # pragma: no cover - the key store only makes EC and RSA keys
        raise ConfigurationError(f"unsupported bundle key type {type(key).__name__}")
    document = {
        "format": BUNDLE_FORMAT,
        "payload": _b64(payload),
        "signature": {"certificate": _b64(_der(certificate)), "value": _b64(signature)},
    }
    return json.dumps(document, indent=1).encode("ascii") + b"\n"


def _issue(instance: Instance, content: dict[str, Any], digest: str, version: int, at: datetime) -> TrustBundleRecord:
    issued_at = at.astimezone(UTC).replace(microsecond=0)
    next_update = issued_at + BUNDLE_VALIDITY
    payload = canonical_json(
        {
            "bundle_format": 1,
            "version": version,
            "issued_at": iso(issued_at),
            "next_update": iso(next_update),
            "publisher": instance.settings.public_url,
            **content,
        }
    )
    document = sign_payload(
        payload, certificate=instance.pki.certificate(PkiRole.BUNDLE), key=instance.pki.key(PkiRole.BUNDLE)
    )
    return TrustBundleRecord(
        version=version, issued_at=issued_at, next_update=next_update, content_sha256=digest, document=document
    )


def _latest(instance: Instance) -> TrustBundleRecord | None:
    with instance.sessions() as session:
        return session.scalars(select(TrustBundleRecord).order_by(TrustBundleRecord.version.desc()).limit(1)).first()


def current_trust_bundle(instance: Instance, *, at: datetime, fresh: bool = False) -> IssuedBundle:
    """The newest trust bundle, issuing a new version when the content changed or the newest is half-way stale.

    ``fresh`` issues a new version whatever the newest one says (``seal-service trust-bundle --fresh``).
    """
    content = bundle_content(instance, at=at)
    digest = hashlib.sha256(canonical_json(content_for_digest(content))).hexdigest()
    for _ in range(5):
        latest = _latest(instance)
        if latest is not None and not fresh and latest.content_sha256 == digest:
            half_way = latest.issued_at + (latest.next_update - latest.issued_at) / 2
            if latest.issued_at <= at < half_way:
                return IssuedBundle(latest.version, latest.issued_at, latest.next_update, latest.document)
        record = _issue(instance, content, digest, (latest.version if latest else 0) + 1, at)
        try:
            with instance.writer.begin() as session:
                session.add(record)
        except IntegrityError:
            # Another node issued this version first; look again (its bundle may well be the one to serve).
            fresh = False
            continue
        return IssuedBundle(record.version, record.issued_at, record.next_update, record.document)
    raise ConfigurationError("could not issue a trust bundle: version conflicts kept recurring")


__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VALIDITY",
    "SIGNING_PREFIX",
    "IssuedBundle",
    "bundle_content",
    "canonical_json",
    "current_trust_bundle",
    "sign_payload",
]
