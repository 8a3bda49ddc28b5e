"""Seal key lifecycle: new seals, rotation (own CA or CSR + import), compromise, key retirement, history.

Example::

    >>> result = rotate_seal(instance, "jc-bureau-approval", at=now, actor="security-officer:k1...")  # doctest: +SKIP
    >>> [c.status for c in seal_history(instance, "jc-bureau-approval").certificates]              # doctest: +SKIP
    ['superseded', 'current']

These functions are what an *approved* dual-control request executes (:mod:`seal_service.services.key_requests`);
they do not check roles themselves.

Rotation without downtime, and without a half-rotated seal:

1. the new key is generated (in the backend of the seal's current key) and, with the own seal CA, certified,
   *before* any write transaction, so sealing never waits for a key generation;
2. one short transaction locks the seal row, checks that the current certificate is still the one rotation
   started from, adds the new certificate as current (``successor_of`` = the old one) and marks the old one
   superseded (``superseded_at``). Readers see either the old or the new state, never both or neither;
3. the sealer caches material per *certificate id*: a sealing that read the old certificate before the switch
   completes with it (its licence records that certificate), any sealing that reads after uses the new one.

A superseded certificate is not revoked: everything it sealed keeps validating. Its key can later be retired
(destroyed); verification needs only the certificate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select

from seal_service.errors import InvalidInput, NotFound, SealNotUsable, StateConflict
from seal_service.gm import renew_gm_material, retire_gm_keys
from seal_service.instance import Instance, PkiRole
from seal_service.keys.store import KeyResolver, PrivateKey
from seal_service.services.audit import record
from seal_service.settings import KeyAlgorithm, KeyBackend
from seal_service.storage.keys_models import PendingKey, SealEvent
from seal_service.storage.models import Authority, CertificateStatus, Seal, SealCertificate, SealStatus


@dataclass(frozen=True)
class RotationResult:
    """What a rotation (or a new seal) produced."""

    seal_id: str
    previous_certificate_id: int | None
    """The certificate that was current before (None for a new seal)."""
    certificate_id: int | None
    """The new current certificate; None while a CSR waits for the CA's certificate."""
    certificate_serial: str | None
    key_ref: str
    csr_pem: str | None = None
    """The certificate signing request, for a rotation with an external CA."""


@dataclass(frozen=True)
class CertificateGeneration:
    """One certificate of a seal in its history."""

    id: int
    serial_number: str
    status: str
    """current, superseded or revoked."""
    not_before: datetime
    not_after: datetime
    created_at: datetime
    successor_of: int | None
    """Id of the certificate this one replaced."""
    superseded_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    key_backend: str
    certificate_der: bytes


@dataclass(frozen=True)
class SealEventView:
    """One recorded step in a seal's key history."""

    at: datetime
    event: str
    certificate_id: int | None
    actor: str
    request_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class SealHistory:
    """A seal's certificates in order with their succession, and its key events (for trust bundles and audits)."""

    seal_id: str
    status: str
    current_certificate_id: int | None
    certificates: tuple[CertificateGeneration, ...]
    events: tuple[SealEventView, ...]


def _current(seal: Seal) -> SealCertificate | None:
    for cert in reversed(seal.certificates):
        if cert.status == CertificateStatus.CURRENT.value and cert.revoked_at is None:
            return cert
    return None


def _usable(instance: Instance, seal: Seal, at: datetime) -> tuple[bool, str]:
    """Whether the seal may seal at ``at`` (active, not revoked, not retired by a memorandum), and why not."""
    lifecycle = instance.lifecycle
    state = lifecycle.seal_state(seal, at=at, state=lifecycle.state())
    return state.usable, state.describe()


def seal_history(instance: Instance, seal_id: str) -> SealHistory:
    """The succession of a seal's certificates (``successor_of`` links, supersession and revocation times)."""
    with instance.sessions() as session:
        seal = session.get(Seal, seal_id)
        if seal is None:
            raise NotFound(f"unknown seal {seal_id!r}", field="seal_id")
        current = _current(seal)
        events = session.scalars(
            select(SealEvent).where(SealEvent.seal_id == seal_id).order_by(SealEvent.at, SealEvent.id)
        ).all()
        return SealHistory(
            seal_id=seal.id,
            status=seal.status,
            current_certificate_id=current.id if current else None,
            certificates=tuple(
                CertificateGeneration(
                    id=c.id,
                    serial_number=c.serial_number,
                    status=c.status,
                    not_before=c.not_before,
                    not_after=c.not_after,
                    created_at=c.created_at,
                    successor_of=c.successor_of,
                    superseded_at=c.superseded_at,
                    revoked_at=c.revoked_at,
                    revocation_reason=c.revocation_reason,
                    key_backend=KeyResolver.backend_of(c.key_ref).value,
                    certificate_der=c.certificate_der,
                )
                for c in seal.certificates
            ),
            events=tuple(
                SealEventView(e.at, e.event, e.certificate_id, e.actor, e.request_id, dict(e.details or {}))
                for e in events
            ),
        )


def _algorithm_of(cert: SealCertificate) -> KeyAlgorithm:
    public = x509.load_der_x509_certificate(cert.certificate_der).public_key()
    return KeyAlgorithm.RSA_3072 if isinstance(public, rsa.RSAPublicKey) else KeyAlgorithm.EC_P256


def _key_name(instance: Instance, seal_id: str, generation: int, backend: KeyBackend) -> str:
    """``seal-<id>-<n>``: the next free file name (token labels may repeat; their CKA_ID is random)."""
    if backend is KeyBackend.FILE:
        while instance.key_store.exists(f"file:seal-{seal_id}-{generation}"):
            generation += 1
    return f"seal-{seal_id}-{generation}"


def _spki_sha256(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _event(session: Any, seal_id: str, event: str, *, at: datetime, actor: str, **kw: Any) -> None:
    session.add(
        SealEvent(
            seal_id=seal_id,
            event=event,
            at=at,
            actor=actor,
            certificate_id=kw.pop("certificate_id", None),
            request_id=kw.pop("request_id", None),
            details=kw,
        )
    )


def _rotation_start(instance: Instance, seal_id: str, at: datetime) -> tuple[int, str, KeyAlgorithm, int]:
    """(current certificate id, its key ref, its algorithm, next generation) of a seal that may rotate."""
    with instance.sessions() as session:
        seal = session.get(Seal, seal_id)
        if seal is None:
            raise NotFound(f"unknown seal {seal_id!r}", field="seal_id")
        usable, why = _usable(instance, seal, at)
        if not usable:
            raise SealNotUsable(f"{why}; a retired or revoked seal is not rotated")
        current = _current(seal)
        if current is None:
            raise SealNotUsable(f"seal {seal_id} has no current certificate to rotate")
        pending = session.scalar(select(PendingKey.id).where(PendingKey.seal_id == seal_id))
        generation = len(seal.certificates) + (1 if pending is None else 2)
        return current.id, current.key_ref, _algorithm_of(current), generation


def _switch_over(
    instance: Instance,
    seal_id: str,
    *,
    expected_current_id: int,
    key_ref: str,
    certificate: x509.Certificate,
    at: datetime,
    actor: str,
    request_id: str | None,
    pending_id: int | None = None,
) -> RotationResult:
    """The one transaction that makes the new certificate current and supersedes the old one."""
    with instance.writer.begin() as session:
        # Lock the seal row: two rotations of one seal serialise here (SQLite: the writer lock already does).
        seal = session.get(Seal, seal_id, with_for_update=True)
        if seal is None:
            raise NotFound(f"unknown seal {seal_id!r}", field="seal_id")
        usable, why = _usable(instance, seal, at)
        if not usable:
            raise SealNotUsable(f"{why}; it is not rotated")
        current = _current(seal)
        if current is None or current.id != expected_current_id:
            raise StateConflict(f"seal {seal_id} changed while rotating (rotated or revoked meanwhile); try again")
        serial = format(certificate.serial_number, "x")
        new = SealCertificate(
            seal=seal,
            serial_number=serial,
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            key_ref=key_ref,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            status=CertificateStatus.CURRENT.value,
            successor_of=current.id,
            created_at=at,
        )
        session.add(new)
        current.status = CertificateStatus.SUPERSEDED.value
        current.superseded_at = at
        session.flush()
        if pending_id is not None:
            pending = session.get(PendingKey, pending_id)
            assert pending is not None
            pending.status = "imported"
            pending.certificate_id = new.id
        _event(
            session,
            seal_id,
            "superseded",
            at=at,
            actor=actor,
            certificate_id=current.id,
            request_id=request_id,
            successor=new.id,
        )
        _event(
            session,
            seal_id,
            "rotated",
            at=at,
            actor=actor,
            certificate_id=new.id,
            request_id=request_id,
            successor_of=current.id,
            serial=serial,
            key_backend=KeyResolver.backend_of(key_ref).value,
        )
        gm = renew_gm_material(instance, session, seal, at=at)  # the national seal rotates with it
        record(
            session,
            at=at,
            actor=actor,
            action="seal.rotate",
            seal_id=seal_id,
            details={
                "request": request_id,
                "previous_certificate_serial": current.serial_number,
                "certificate_serial": serial,
                "key_ref": key_ref,
                "external_ca": pending_id is not None,
                **gm,
            },
        )
        result = RotationResult(seal_id, current.id, new.id, serial, key_ref)
    # New sealings read the new current certificate from the database; the old material is only dropped from
    # the cache (an in-flight sealing keeps its own reference and completes with the old certificate).
    instance.sealer.forget(expected_current_id)
    return result


def rotate_seal(
    instance: Instance,
    seal_id: str,
    *,
    at: datetime,
    actor: str,
    request_id: str | None = None,
    algorithm: KeyAlgorithm | None = None,
) -> RotationResult:
    """Rotate ``seal_id`` with the own seal CA: new key in the same backend, new certificate, atomic switch."""
    current_id, current_ref, current_algorithm, generation = _rotation_start(instance, seal_id, at)
    backend = KeyResolver.backend_of(current_ref)
    ref, key = instance.keys.generate(
        _key_name(instance, seal_id, generation, backend), algorithm or current_algorithm, backend=backend
    )
    try:
        from seal_service.services.bootstrap import seal_certificate_for

        # Certify before the switch-over transaction, so that the write lock is held only for the switch.
        with instance.sessions() as session:
            seal = session.get(Seal, seal_id)
            assert seal is not None
            certificate = seal_certificate_for(instance, seal, seal.authority, key.public_key(), at=at)
        return _switch_over(
            instance,
            seal_id,
            expected_current_id=current_id,
            key_ref=ref,
            certificate=certificate,
            at=at,
            actor=actor,
            request_id=request_id,
        )
    except BaseException:
        # A key whose certificate was never committed is useless; remove it rather than leave it lying around.
        instance.keys.destroy(ref)
        raise


# ---- rotation with an external CA: CSR, then import ---------------------------------------------------------


def build_csr(key: PrivateKey, subject: x509.Name) -> str:
    """A PKCS#10 request (PEM) signed by ``key``; works for token keys (built with asn1crypto, signed by ``key``)."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
            "attributes": [],
        }
    )
    tbs = info.dump()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature, algorithm = key.sign(tbs, ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    else:
        signature, algorithm = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": algorithm},
            "signature": signature,
        }
    )
    return asn1_pem.armor("CERTIFICATE REQUEST", request.dump()).decode()


def start_csr_rotation(
    instance: Instance,
    seal_id: str,
    *,
    at: datetime,
    actor: str,
    request_id: str | None = None,
    algorithm: KeyAlgorithm | None = None,
) -> RotationResult:
    """Generate the next key of ``seal_id`` and a CSR for it; the seal keeps its current certificate until import."""
    current_id, current_ref, current_algorithm, generation = _rotation_start(instance, seal_id, at)
    backend = KeyResolver.backend_of(current_ref)
    with instance.sessions() as session:
        current = session.get(SealCertificate, current_id)
        assert current is not None
        subject = x509.load_der_x509_certificate(current.certificate_der).subject
    ref, key = instance.keys.generate(
        _key_name(instance, seal_id, generation, backend), algorithm or current_algorithm, backend=backend
    )
    abandoned: list[str] = []
    try:
        csr_pem = build_csr(key, subject)
        with instance.writer.begin() as session:
            # Only the newest CSR of a seal is pending; an older one is abandoned (its key destroyed below).
            for old in session.scalars(
                select(PendingKey).where(PendingKey.seal_id == seal_id, PendingKey.status == "pending")
            ):
                old.status = "abandoned"
                abandoned.append(old.key_ref)
            session.add(
                PendingKey(
                    seal_id=seal_id,
                    key_ref=ref,
                    public_key_sha256=_spki_sha256(key.public_key()),
                    csr_pem=csr_pem,
                    request_id=request_id,
                    status="pending",
                    created_at=at,
                )
            )
            _event(session, seal_id, "csr-created", at=at, actor=actor, request_id=request_id, key_ref=ref)
            record(
                session,
                at=at,
                actor=actor,
                action="seal.csr",
                seal_id=seal_id,
                details={"request": request_id, "key_ref": ref, "public_key_sha256": _spki_sha256(key.public_key())},
            )
    except BaseException:
        instance.keys.destroy(ref)
        raise
    for old_ref in abandoned:
        instance.keys.destroy(old_ref)
    return RotationResult(seal_id, current_id, None, None, ref, csr_pem=csr_pem)


def pending_csr(instance: Instance, seal_id: str) -> str:
    """The CSR (PEM) of the seal's pending key."""
    with instance.sessions() as session:
        pending = session.scalar(
            select(PendingKey)
            .where(PendingKey.seal_id == seal_id, PendingKey.status == "pending")
            .order_by(PendingKey.id.desc())
        )
        if pending is None:
            raise StateConflict(f"seal {seal_id} has no pending key (rotate it with --csr first)")
        return pending.csr_pem


def _load_certificate(data: bytes) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        raise InvalidInput("not an X.509 certificate (PEM or DER)", field="certificate") from None


def import_certificate(instance: Instance, seal_id: str, data: bytes, *, at: datetime, actor: str) -> RotationResult:
    """Make the CA's certificate for the pending key current, after checking it really is for that key and CA."""
    cert = _load_certificate(data)
    with instance.sessions() as session:
        pending = session.scalar(
            select(PendingKey)
            .where(PendingKey.seal_id == seal_id, PendingKey.status == "pending")
            .order_by(PendingKey.id.desc())
        )
        if pending is None:
            raise StateConflict(f"seal {seal_id} has no pending key waiting for a certificate")
        pending_id, pending_ref, pending_spki, request_id = (
            pending.id,
            pending.key_ref,
            pending.public_key_sha256,
            pending.request_id,
        )
        seal = session.get(Seal, seal_id)
        assert seal is not None
        current = _current(seal)
        if current is None:
            raise SealNotUsable(f"seal {seal_id} has no current certificate")
        current_id = current.id
    # (1) the certificate carries exactly the pending key.
    if _spki_sha256(cert.public_key()) != pending_spki:
        raise InvalidInput(f"the certificate is not for the pending key of seal {seal_id}", field="certificate")
    # (2) it chains to the configured CA: the instance's seal CA (which chains to the root).
    ca = instance.pki.certificate(PkiRole.SEAL_CA)
    try:
        if cert.issuer != ca.subject:
            raise ValueError("issuer name differs")
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise InvalidInput(
            f"the certificate was not issued by the configured seal CA ({ca.subject.rfc4514_string()}): {exc}",
            field="certificate",
        ) from None
    # (3) it is valid now, it is an end-entity signing certificate, and it names this seal.
    if not (cert.not_valid_before_utc <= at < cert.not_valid_after_utc):
        raise InvalidInput("the certificate is not valid at this time", field="certificate")
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise InvalidInput("the certificate is a CA certificate", field="certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            raise InvalidInput("the certificate's key usage lacks digitalSignature", field="certificate")
    except x509.ExtensionNotFound:
        pass
    pseudonyms = cert.subject.get_attributes_for_oid(x509.NameOID.PSEUDONYM)
    if pseudonyms and pseudonyms[0].value != seal_id:
        raise InvalidInput(f"the certificate names seal {pseudonyms[0].value!r}, not {seal_id!r}", field="certificate")
    return _switch_over(
        instance,
        seal_id,
        expected_current_id=current_id,
        key_ref=pending_ref,
        certificate=cert,
        at=at,
        actor=actor,
        request_id=request_id,
        pending_id=pending_id,
    )


def issue_certificate_from_csr(
    instance: Instance, seal_id: str, csr_pem: bytes, *, at: datetime, actor: str
) -> x509.Certificate:
    """The instance's seal CA certifies the key in a CSR for ``seal_id`` (the offline-CA step of a CSR rotation).

    The subject and extensions come from the registry's seal profile, not from the request; the request's
    signature proves possession of the key.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise InvalidInput("not a PEM certificate signing request", field="csr") from None
    if not csr.is_signature_valid:
        raise InvalidInput("the CSR's signature does not verify", field="csr")
    from seal_service.services.bootstrap import seal_certificate_for

    with instance.writer.begin() as session:
        seal = session.get(Seal, seal_id)
        if seal is None:
            raise NotFound(f"unknown seal {seal_id!r}", field="seal_id")
        cert = seal_certificate_for(instance, seal, seal.authority, csr.public_key(), at=at)
        record(
            session,
            at=at,
            actor=actor,
            action="ca.issue",
            seal_id=seal_id,
            details={
                "certificate_serial": format(cert.serial_number, "x"),
                "public_key_sha256": _spki_sha256(csr.public_key()),
            },
        )
    return cert


# ---- new seals, compromise, key retirement -----------------------------------------------------------------


def create_seal(
    instance: Instance,
    *,
    authority_code: str,
    seal_id: str,
    at: datetime,
    actor: str,
    request_id: str | None = None,
) -> RotationResult:
    """A new seal for an authority of the catalogue: first key (in ``SEAL_KEY_BACKEND``) and certificate."""
    from seal_service.appearance.seal_image import draw_seal_image
    from seal_service.services.bootstrap import seal_certificate_for

    spec = instance.catalogue.authorities.get(authority_code)
    if spec is None:
        raise NotFound(f"unknown authority {authority_code!r}", field="authority")
    name = spec.name + spec.seal_title
    with instance.sessions() as session:
        if session.get(Seal, seal_id) is not None:
            raise StateConflict(f"seal {seal_id} exists already")
        # A replacement seal of an authority shows the same seal picture as its predecessor (the physical seal's).
        image = session.scalar(
            select(Seal.image_png)
            .join(Authority, Seal.authority_id == Authority.id)
            .where(Authority.code == authority_code, Seal.name == name)
            .limit(1)
        )
    settings = instance.settings
    backend = settings.key_backend
    ref, key = instance.keys.generate(_key_name(instance, seal_id, 1, backend), settings.key_algorithm, backend=backend)
    if image is None:
        image = draw_seal_image(authority_name=spec.name, seal_title=spec.seal_title)
    try:
        with instance.writer.begin() as session:
            authority = session.scalar(select(Authority).where(Authority.code == authority_code))
            if authority is None:
                raise NotFound(f"authority {authority_code!r} is not in the registry; run init", field="authority")
            if session.get(Seal, seal_id) is not None:
                raise StateConflict(f"seal {seal_id} exists already")
            seal = Seal(
                id=seal_id,
                name=name,
                seal_type="approval" if spec.kind.value == "bureau" else "licensing",
                authority_id=authority.id,
                status=SealStatus.ACTIVE.value,
                image_png=image,
                created_at=at,
            )
            session.add(seal)
            session.flush()
            cert = seal_certificate_for(instance, seal, authority, key.public_key(), at=at)
            row = SealCertificate(
                seal=seal,
                serial_number=format(cert.serial_number, "x"),
                certificate_der=cert.public_bytes(serialization.Encoding.DER),
                key_ref=ref,
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                status=CertificateStatus.CURRENT.value,
                created_at=at,
            )
            session.add(row)
            session.flush()
            _event(
                session,
                seal_id,
                "created",
                at=at,
                actor=actor,
                certificate_id=row.id,
                request_id=request_id,
                serial=row.serial_number,
                key_backend=backend.value,
            )
            gm = renew_gm_material(instance, session, seal, at=at)  # its national seal too
            record(
                session,
                at=at,
                actor=actor,
                action="seal.create",
                seal_id=seal_id,
                details={"request": request_id, "certificate_serial": row.serial_number, "key_ref": ref, **gm},
            )
            result = RotationResult(seal_id, None, row.id, row.serial_number, ref)
    except BaseException:
        instance.keys.destroy(ref)
        raise
    return result


def record_compromise(
    instance: Instance,
    seal_id: str,
    *,
    at: datetime,
    invalidity_date: datetime | None,
    actor: str,
    request_id: str | None = None,
) -> None:
    """Respond to a key compromise: revoke the seal (keyCompromise, from the invalidity date) and record it."""
    from seal_service.services.registry import revoke_seal

    view = revoke_seal(
        instance, seal_id, reason="keyCompromise", at=at, invalidity_date=invalidity_date or at, actor=actor
    )
    with instance.writer.begin() as session:
        for cert in view.certificates:
            _event(
                session,
                seal_id,
                "key-compromised",
                at=at,
                actor=actor,
                certificate_id=cert.id,
                request_id=request_id,
                invalidity_date=(invalidity_date or at).isoformat(),
            )


def record_revocation(instance: Instance, seal_id: str, *, at: datetime, actor: str, request_id: str | None) -> None:
    """Add the revocation of every certificate to the seal's history (the audit entry is ``revoke_seal``'s)."""
    with instance.writer.begin() as session:
        seal = session.get(Seal, seal_id)
        if seal is None:
            return
        for cert in seal.certificates:
            _event(
                session,
                seal_id,
                "revoked",
                at=at,
                actor=actor,
                certificate_id=cert.id,
                request_id=request_id,
                reason=cert.revocation_reason,
            )


def check_retirable(instance: Instance, cert: SealCertificate, at: datetime) -> None:
    """Refuse to destroy the key a seal still seals with: its current certificate while the seal is usable."""
    if cert.status == CertificateStatus.CURRENT.value and cert.revoked_at is None:
        usable, _why = _usable(instance, cert.seal, at)
        if usable:
            raise StateConflict(
                f"certificate {cert.id} is the current one of a seal in use; rotate (or retire the seal) first"
            )


def retire_key(
    instance: Instance, seal_id: str, certificate_id: int, *, at: datetime, actor: str, request_id: str | None = None
) -> str:
    """Destroy the private key of a superseded or revoked certificate, or any key of a retired or revoked seal
    (封存: sealed away for good). The certificate stays in the registry and keeps verifying what it sealed."""
    with instance.sessions() as session:
        cert = session.get(SealCertificate, certificate_id)
        if cert is None or cert.seal_id != seal_id:
            raise NotFound(f"seal {seal_id} has no certificate {certificate_id}", field="certificate_id")
        check_retirable(instance, cert, at)
        key_ref = cert.key_ref
        serial = cert.serial_number
        whole_seal = cert.status == CertificateStatus.CURRENT.value  # only a retired or revoked seal's current one
    instance.keys.destroy(key_ref)
    instance.sealer.forget(certificate_id)
    gm_refs = retire_gm_keys(instance, seal_id, all_generations=whole_seal)  # SM2 keys follow the P-256 key
    with instance.writer.begin() as session:
        _event(
            session,
            seal_id,
            "key-retired",
            at=at,
            actor=actor,
            certificate_id=certificate_id,
            request_id=request_id,
            key_ref=key_ref,
        )
        record(
            session,
            at=at,
            actor=actor,
            action="key.retire",
            seal_id=seal_id,
            details={
                "request": request_id,
                "certificate_serial": serial,
                "key_ref": key_ref,
                **({"gm_key_refs": gm_refs} if gm_refs else {}),
            },
        )
    return key_ref
