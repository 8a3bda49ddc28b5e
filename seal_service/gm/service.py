"""The national seal in the service: SM2 PKI at init, SM2 material per seal, dual sealing, the registry records.

Example::

    >>> ensure_gm(instance, at=now)                                           # doctest: +SKIP
    >>> material = gm_material_for(instance, "jc-bureau-approval", at=now)     # doctest: +SKIP
    >>> pdf, sm3_hex = gm_seal_pdf(instance, pdf, material, at=now, property_info="L1234.pdf")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import pem, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from seal_service.errors import ConfigurationError, NotFound
from seal_service.gm.keys import Sm2KeyStore, Sm2Signer
from seal_service.gm.pdf import ReservationTooSmall, embed_ses_signature
from seal_service.gm.pki import Sm2Role, build_sm2_root, build_sm2_seal_ca, build_sm2_seal_certificate
from seal_service.gm.seal_data import SealDataSpec, build_ses_seal, build_ses_signature, compact_picture
from seal_service.instance import Instance
from seal_service.services.audit import record
from seal_service.storage.gm_models import GmLicenceSeal, GmPkiCertificate, GmSealMaterial
from seal_service.storage.models import Authority, Seal, SealStatus
from verifier.gm_structures import SESeal, sm3

_LOCK = threading.Lock()
#: Bytes reserved for an SES_Signature beyond its seal data and signer certificate: the signature, the times and the
#: time-stamp token (about 2 kB with its TSA certificate). A larger one is embedded on a second try.
RESERVE_SLACK = 3072


def gm_keys(instance: Instance) -> Sm2KeyStore:
    """The SM2 key store of ``instance`` (same directory and passphrase as its file keys; one per instance, kept
    on the instance so that it lives and dies with it)."""
    with _LOCK:
        store: Sm2KeyStore | None = instance.__dict__.get("_gm_key_store")
        if store is None:
            store = Sm2KeyStore(instance.settings.resolved_keys_dir, passphrase=instance.settings.passphrase())
            instance.__dict__["_gm_key_store"] = store
        return store


@dataclass
class GmInitReport:
    """What :func:`ensure_gm` created."""

    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


def sm2_certificate(instance: Instance, role: Sm2Role) -> bytes:
    """DER of the SM2 service certificate in ``role``."""
    with instance.sessions() as session:
        row = session.get(GmPkiCertificate, role.value)
        if row is None:
            raise NotFound(f"the instance has no {role.value} certificate; run `seal-service init`")
        return row.certificate_der


def sm2_certificate_pem(instance: Instance, role: Sm2Role) -> bytes:
    """PEM of the SM2 service certificate in ``role``."""
    return bytes(pem.armor("CERTIFICATE", sm2_certificate(instance, role)))


def _new_key(instance: Instance, name: str, new_refs: list[str]) -> tuple[str, Sm2Signer]:
    store = gm_keys(instance)
    ref = f"sm2file:{name}"
    if store.exists(ref):
        raise ConfigurationError(f"SM2 key {ref} exists but the database has no certificate for it")
    ref, key = store.generate(name)
    new_refs.append(ref)
    return ref, key


def _pki(instance: Instance, session: Session) -> tuple[x509.Certificate, Sm2Signer]:
    row = session.get(GmPkiCertificate, Sm2Role.SEAL_CA.value)
    if row is None:
        raise ConfigurationError("the instance has no SM2 seal CA; run `seal-service init`")
    return x509.Certificate.load(row.certificate_der), gm_keys(instance).resolve(row.key_ref)


def issue_gm_material(
    instance: Instance,
    session: Session,
    seal: Seal,
    authority: Authority,
    *,
    at: datetime,
    new_refs: list[str],
    audit: bool = True,
) -> GmSealMaterial:
    """A new generation of SM2 material for ``seal``: key, SM2 seal certificate, seal data signed by the seal maker.

    Earlier generations become ``superseded`` (they still verify licences sealed with them).
    """
    ca, ca_key = _pki(instance, session)
    previous = list(session.scalars(select(GmSealMaterial).where(GmSealMaterial.seal_id == seal.id)))
    generation = len(previous) + 1
    ref, key = _new_key(instance, f"gm-seal-{seal.id}-{generation}", new_refs)
    cert = build_sm2_seal_certificate(
        seal_name=seal.name,
        authority_name=authority.name,
        credit_code=authority.credit_code,
        seal_id=seal.id,
        public_key=key.public_key,
        ca=ca,
        ca_key=ca_key,
        at=at,
        crl_url=instance.urls.crl(Sm2Role.SEAL_CA.value),
    )
    validity = cert["tbs_certificate"]["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    ses_seal = build_ses_seal(
        SealDataSpec(
            es_id=f"{seal.id}-{generation}",
            name=seal.name,
            signer_certificates=(cert.dump(),),
            picture_png=compact_picture(seal.image_png),
            created_at=at,
            valid_start=not_before,
            valid_end=not_after,
        ),
        maker_certificate=ca,
        maker_key=ca_key,
    )
    for row in previous:
        row.status = "superseded"
    material = GmSealMaterial(
        seal_id=seal.id,
        generation=generation,
        certificate_der=cert.dump(),
        key_ref=ref,
        ses_seal_der=ses_seal.dump(),
        status="current",
        not_before=not_before,
        not_after=not_after,
        created_at=at,
    )
    session.add(material)
    session.flush()
    if not audit:  # the caller's own entry (rotation, creation) names the material
        return material
    record(
        session,
        at=at,
        actor="init",
        action="seal.gm-material",
        seal_id=seal.id,
        details={"generation": generation, "key_ref": ref, "es_id": f"{seal.id}-{generation}"},
    )
    return material


def ensure_gm(instance: Instance, *, at: datetime, report: GmInitReport | None = None) -> GmInitReport:
    """Create what is missing: the SM2 root, the SM2 seal CA, SM2 material for every active seal. Idempotent."""
    report = report or GmInitReport()
    new_refs: list[str] = []
    store = gm_keys(instance)
    try:
        with instance.writer.begin() as session:
            root_row = session.get(GmPkiCertificate, Sm2Role.ROOT.value)
            if root_row is None:
                ref, key = _new_key(instance, "pki-sm2-root", new_refs)
                root_row = GmPkiCertificate(
                    role=Sm2Role.ROOT.value,
                    certificate_der=build_sm2_root(key=key, at=at).dump(),
                    key_ref=ref,
                    created_at=at,
                )
                session.add(root_row)
                report.created.append("pki sm2-root")
            else:
                report.present.append("pki sm2-root")
            if session.get(GmPkiCertificate, Sm2Role.SEAL_CA.value) is None:
                ref, key = _new_key(instance, "pki-sm2-seal-ca", new_refs)
                ca = build_sm2_seal_ca(
                    key=key,
                    root=x509.Certificate.load(root_row.certificate_der),
                    root_key=store.resolve(root_row.key_ref),
                    at=at,
                )
                session.add(
                    GmPkiCertificate(role=Sm2Role.SEAL_CA.value, certificate_der=ca.dump(), key_ref=ref, created_at=at)
                )
                report.created.append("pki sm2-seal-ca")
            else:
                report.present.append("pki sm2-seal-ca")
            session.flush()
            with_material = set(session.scalars(select(GmSealMaterial.seal_id)))
            for seal in session.scalars(select(Seal).order_by(Seal.id)):
                if seal.id in with_material:
                    report.present.append(f"gm seal {seal.id}")
                    continue
                if seal.status != SealStatus.ACTIVE.value:
                    continue
                issue_gm_material(instance, session, seal, seal.authority, at=at, new_refs=new_refs)
                report.created.append(f"gm seal {seal.id}")
    except BaseException:
        for ref in new_refs:
            store.destroy(ref)
        raise
    return report


@dataclass(frozen=True)
class GmMaterial:
    """What dual sealing needs of one generation of a seal's SM2 material (built once, reused)."""

    material_id: int
    ses_seal_der: bytes
    certificate_der: bytes
    signer: Sm2Signer
    not_before: datetime
    not_after: datetime


def gm_material_for(
    instance: Instance, seal_id: str, *, at: datetime, session: Session | None = None
) -> GmMaterial | None:
    """The current SM2 material of ``seal_id`` valid at ``at``, or None when the seal has none (read in
    ``session`` when given: the sealing flow's own)."""
    if session is None:
        with instance.sessions() as own:
            return gm_material_for(instance, seal_id, at=at, session=own)
    # Only the id and validity: the seal data and certificate (~25 kB) are read once per process and generation.
    current = session.execute(
        select(GmSealMaterial.id, GmSealMaterial.not_before, GmSealMaterial.not_after)
        .where(GmSealMaterial.seal_id == seal_id, GmSealMaterial.status == "current")
        .order_by(GmSealMaterial.generation.desc())
        .limit(1)
    ).first()
    if current is None or not (current.not_before <= at < current.not_after):
        return None
    materials: dict[int, GmMaterial] = instance.__dict__.setdefault("_gm_materials", {})
    found = materials.get(current.id)
    if found is None:
        row = session.get(GmSealMaterial, current.id)
        assert row is not None
        found = GmMaterial(
            material_id=row.id,
            ses_seal_der=row.ses_seal_der,
            certificate_der=row.certificate_der,
            signer=gm_keys(instance).resolve(row.key_ref),
            not_before=row.not_before,
            not_after=row.not_after,
        )
        materials[row.id] = found
    return found


def gm_seal_pdf(
    instance: Instance, pdf: bytes, material: GmMaterial, *, at: datetime, property_info: str, timestamp: bool = True
) -> tuple[bytes, str]:
    """``pdf`` with the national seal (SES_Signature) appended; returns the bytes and SM3 (hex) of the signature."""
    made: list[bytes] = []

    def time_stamp(signature_value: bytes) -> bytes:
        digest = hashlib.sha256(signature_value).digest()
        return bytes(
            instance.timestamps.token(message_imprint=digest, hash_algorithm="sha256", nonce=None, at=at).dump()
        )

    def sign(data_hash: bytes) -> bytes:
        signature = build_ses_signature(
            seal=SESeal.load(material.ses_seal_der),
            signer_certificate=material.certificate_der,
            signer_key=material.signer,
            data_hash=data_hash,
            at=at,
            property_info=property_info,
            time_stamp=time_stamp if timestamp else None,
        )
        der = bytes(signature.dump())
        made.append(der)
        return der

    # Room for the seal data (mostly its picture), the signer certificate, the signature and the time-stamp (a
    # token with its TSA certificate is about 1.3 kB): the reservation is hex in the PDF, and every byte of slack is
    # two more bytes the PAdES seal that follows has to parse.
    reserved = len(material.ses_seal_der) + len(material.certificate_der) + RESERVE_SLACK
    try:
        sealed = embed_ses_signature(pdf, sign=sign, at=at, reserved=reserved)
    except ReservationTooSmall as small:  # a larger time-stamp (a TSA chain): once more with room for it
        sealed = embed_ses_signature(pdf, sign=sign, at=at, reserved=small.needed + 1024)
    return sealed, sm3(made[-1]).hex()


def gm_licence_row(licence_id: str, material: GmMaterial, signature_sm3: str) -> GmLicenceSeal:
    """The registry row saying that licence ``licence_id`` carries the national seal."""
    return GmLicenceSeal(licence_id=licence_id, material_id=material.material_id, ses_signature_sm3=signature_sm3)


def ses_seal_of(instance: Instance, seal_id: str) -> bytes:
    """DER of the current seal data (SES_Seal) of ``seal_id``."""
    with instance.sessions() as session:
        if session.get(Seal, seal_id) is None:
            raise NotFound(f"unknown seal {seal_id!r}", field="seal")
        row = session.scalars(
            select(GmSealMaterial).where(GmSealMaterial.seal_id == seal_id).order_by(GmSealMaterial.generation.desc())
        ).first()
        if row is None:
            raise NotFound(f"seal {seal_id} has no national (SM2) seal data", field="seal")
        return row.ses_seal_der


def licence_seals(instance: Instance, licence_id: str) -> tuple[str, ...]:
    """Which seals licence ``licence_id`` carries: ``("pades",)`` or ``("gm", "pades")``."""
    with instance.sessions() as session:
        return ("gm", "pades") if session.get(GmLicenceSeal, licence_id) is not None else ("pades",)


def national_trust_roots(instance: Instance) -> tuple[bytes, ...]:
    """The instance's SM2 root (DER) for verifying national seals; empty when it has none."""
    with instance.sessions() as session:
        row = session.get(GmPkiCertificate, Sm2Role.ROOT.value)
        return (row.certificate_der,) if row is not None else ()


def sm2_service_certificates(instance: Instance) -> dict[str, bytes]:
    """The SM2 service certificates (DER) by role, for the trust bundle; empty when the instance has none."""
    with instance.sessions() as session:
        return {row.role: row.certificate_der for row in session.scalars(select(GmPkiCertificate))}


def renew_gm_material(instance: Instance, session: Session, seal: Seal, *, at: datetime) -> dict[str, str]:
    """At a rotation (or creation) of ``seal``, in the caller's transaction: a new SM2 generation when the seal
    already has SM2 material (rotation) or, for a new seal, when the instance has an SM2 seal CA.

    The SM2 key follows the P-256 key's custody rules: the same transaction (and so the same dual-control request)
    that switches the P-256 certificate issues the SM2 certificate and seal data. Returns what the caller's audit
    entry should add (``gm_key_ref``, ``gm_es_id``), empty when nothing was issued.
    """
    has_material = session.scalar(select(GmSealMaterial.id).where(GmSealMaterial.seal_id == seal.id).limit(1))
    if has_material is None and session.get(GmPkiCertificate, Sm2Role.SEAL_CA.value) is None:
        return {}
    new_refs: list[str] = []
    try:
        material = issue_gm_material(instance, session, seal, seal.authority, at=at, new_refs=new_refs, audit=False)
    except BaseException:
        for ref in new_refs:
            gm_keys(instance).destroy(ref)
        raise
    return {"gm_key_ref": material.key_ref, "gm_es_id": f"{seal.id}-{material.generation}"}


def retire_gm_keys(instance: Instance, seal_id: str, *, all_generations: bool) -> list[str]:
    """Destroy the SM2 keys of ``seal_id``'s superseded generations (all of them with ``all_generations``: the
    seal is retired or revoked), as :func:`seal_service.services.rotation.retire_key` does for the P-256 key.

    The certificates and seal data stay in the registry (status ``retired``) and keep verifying what they sealed.
    Returns the destroyed references (for the caller's audit entry).
    """
    wanted = ("superseded", "current") if all_generations else ("superseded",)
    with instance.writer.begin() as session:
        rows = list(
            session.scalars(
                select(GmSealMaterial).where(GmSealMaterial.seal_id == seal_id, GmSealMaterial.status.in_(wanted))
            )
        )
        for row in rows:
            gm_keys(instance).destroy(row.key_ref)
            row.status = "retired"
        return [row.key_ref for row in rows]
