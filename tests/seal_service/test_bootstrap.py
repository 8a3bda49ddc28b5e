"""``init``: the development PKI, authorities and demo seals, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from seal_service.instance import PkiRole
from seal_service.pki.certificates import DOCUMENT_SIGNING, OCSP_NO_CHECK
from seal_service.services.bootstrap import initialise
from seal_service.services.registry import list_seals

DEMO_SEALS = {"jc-bureau-approval", "zz-bureau-approval", "jc-market-approval", "jc-housing-approval"}


def test_init_creates_pki_authorities_and_seals(db_instance) -> None:  # type: ignore[no-untyped-def]
    seals = {s.id: s for s in list_seals(db_instance)}
    assert set(seals) >= DEMO_SEALS
    bureau = seals["jc-bureau-approval"]
    assert bureau.name == "晋城市行政审批服务管理局行政审批专用章"
    assert bureau.authority_kind == "bureau"
    assert seals["jc-market-approval"].authority_kind == "department"
    assert all(len(s.certificates) == 1 for s in seals.values())
    for role in PkiRole:
        assert db_instance.pki.certificate(role) is not None


def test_init_is_idempotent_and_never_touches_keys(db_instance) -> None:  # type: ignore[no-untyped-def]
    keys_dir = db_instance.settings.resolved_keys_dir
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keys_dir.iterdir()}
    report = initialise(db_instance, at=datetime.now(UTC))
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keys_dir.iterdir()}
    assert report.created == []
    assert before == after


def test_init_makes_one_key_per_service_certificate_and_seal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A fresh instance: the shared one gains keys as other modules create seals and rotate keys in it.
    from tests.conftest import make_instance, make_settings

    instance = make_instance(make_settings(tmp_path / "fresh"))
    try:
        names = [p.name for p in instance.settings.resolved_keys_dir.iterdir()]
    finally:
        instance.engine.dispose()
    # One key per service certificate and per seal, the log key, and the national (SM2) ones: root, seal CA, one
    # per seal.
    assert len(names) == len(PkiRole) + len(DEMO_SEALS) + 1 + 2 + len(DEMO_SEALS), sorted(names)


def test_private_keys_are_encrypted_and_private(db_instance) -> None:  # type: ignore[no-untyped-def]
    keys_dir = db_instance.settings.resolved_keys_dir
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for path in keys_dir.iterdir():
        header = b"-----BEGIN ONE-SEAL SM2 ENCRYPTED" if path.suffix == ".key" else b"-----BEGIN ENCRYPTED PRIVATE KEY"
        assert path.read_bytes().startswith(header), path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _seal_certificate(instance, seal_id: str) -> x509.Certificate:  # type: ignore[no-untyped-def]
    from seal_service.storage.models import Seal

    with instance.sessions() as session:
        seal = session.get(Seal, seal_id)
        return x509.load_der_x509_certificate(seal.certificates[-1].certificate_der)


def test_seal_certificate_profile(db_instance) -> None:  # type: ignore[no-untyped-def]
    cert = _seal_certificate(db_instance, "jc-bureau-approval")
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "晋城市行政审批服务管理局行政审批专用章"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "晋城市行政审批服务管理局"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "11140500MB01234568"
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku and DOCUMENT_SIGNING in eku
    base = db_instance.settings.public_url
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert any(d.access_location.value == f"{base}/ocsp" for d in aia)
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == f"{base}/crl/seal-ca.crl"
    assert cert.issuer == db_instance.pki.certificate(PkiRole.SEAL_CA).subject


def test_service_certificate_profiles(db_instance) -> None:  # type: ignore[no-untyped-def]
    pki = db_instance.pki
    tsa = pki.certificate(PkiRole.TSA)
    tsa_eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_eku.critical and list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    ocsp = pki.certificate(PkiRole.OCSP)
    assert ExtendedKeyUsageOID.OCSP_SIGNING in ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ocsp.extensions.get_extension_for_oid(OCSP_NO_CHECK)
    assert ocsp.issuer == pki.certificate(PkiRole.SEAL_CA).subject
    root = pki.certificate(PkiRole.ROOT)
    assert root.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Each certificate verifies under its issuer.
    seal_ca = pki.certificate(PkiRole.SEAL_CA)
    seal_ca.verify_directly_issued_by(root)
    tsa.verify_directly_issued_by(root)
    ocsp.verify_directly_issued_by(seal_ca)
    _seal_certificate(db_instance, "jc-bureau-approval").verify_directly_issued_by(seal_ca)


def test_rsa_3072_is_selectable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import rsa

    from seal_service.settings import KeyAlgorithm
    from tests.conftest import make_instance, make_settings

    instance = make_instance(make_settings(tmp_path, key_algorithm=KeyAlgorithm.RSA_3072))
    key = _seal_certificate(instance, "jc-bureau-approval").public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
