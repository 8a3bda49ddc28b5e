"""Revocation of SM2 seal certificates and the national seal's time-stamp: the SM2 CRL (checked by OpenSSL too),
revoked signers, forged and stale CRLs, the trust bundle as a source, and forged / altered / untrusted tokens."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from seal_service.gm.keys import SoftwareSm2Key
from seal_service.gm.revocation import build_sm2_crl
from seal_service.gm.seal_data import build_ses_signature
from seal_service.gm.service import gm_keys, gm_material_for, gm_seal_pdf
from seal_service.protocols.crl import RevokedEntry
from seal_service.storage.gm_models import GmPkiCertificate
from tests.support.pdfs import sample_licence_pdf
from verifier.gm import NationalContext, verify_national_seals
from verifier.gm_revocation import is_sm2_crl
from verifier.gm_structures import SESeal

DISTID = "distid:1234567812345678"


@dataclass(frozen=True)
class Revoked:
    """A seal of its own in the shared instance: a licence sealed before its revocation and one made after."""

    seal_id: str
    before: bytes
    after: bytes
    before_at: datetime
    revoked_at: datetime
    crl: bytes
    signer_der: bytes
    before_id: str


def _ca(instance):  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        row = session.get(GmPkiCertificate, "sm2-seal-ca")
        return asn1_x509.Certificate.load(row.certificate_der), gm_keys(instance).resolve(row.key_ref)


@pytest.fixture(scope="module")
def revoked(dual) -> Revoked:  # type: ignore[no-untyped-def]
    from seal_service.services.registry import revoke_seal
    from seal_service.services.rotation import create_seal
    from seal_service.services.sealing import LicenceRequest, seal_licence

    instance = dual.instance
    # Times after the instance's TSA certificate was made (the time-stamps must be trusted): a minute apart.
    now = datetime.now(UTC).replace(microsecond=0)
    seal_id = f"gm-rev-{now.strftime('%H%M%S')}"
    create_seal(instance, authority_code="jc-bureau", seal_id=seal_id, at=now, actor="test")
    before_at = now + timedelta(minutes=1)
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id=seal_id)
    sealed = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=before_at)
    before = sealed.pdf
    revoked_at = now + timedelta(minutes=2)
    revoke_seal(instance, seal_id, reason="cessationOfOperation", at=revoked_at, actor="test")
    # The service refuses to seal with a revoked seal; whoever still holds the SM2 key can make a national seal.
    material = gm_material_for(instance, seal_id, at=now + timedelta(minutes=3))
    assert material is not None
    after, _ = gm_seal_pdf(instance, sample_licence_pdf(), material, at=now + timedelta(minutes=3), property_info="x")
    crl = instance.revocation.crl("sm2-seal-ca", at=now + timedelta(minutes=4))
    return Revoked(seal_id, before, after, before_at, revoked_at, crl, material.certificate_der, sealed.licence_id)


#: The validation time: after every time used here (the revoked fixture's run a few minutes ahead).
LATER = datetime.now(UTC) + timedelta(minutes=10)


def _one(pdf: bytes, dual, **context):  # type: ignore[no-untyped-def]
    trust = dual.instance.pki.certificate("root").public_bytes(serialization.Encoding.DER)
    (result,) = verify_national_seals(
        pdf, sm2_roots=[dual.sm2_root], at=LATER, context=NationalContext(trust_roots=(trust,), **context)
    )
    return result


def test_the_sm2_crl_lists_the_revoked_certificate_and_openssl_accepts_it(dual, revoked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert is_sm2_crl(revoked.crl)
    parsed = asn1_crl.CertificateList.load(revoked.crl)
    signer = asn1_x509.Certificate.load(revoked.signer_der)
    serials = {e["user_certificate"].native for e in parsed["tbs_cert_list"]["revoked_certificates"]}
    assert signer.serial_number in serials
    # The signer certificate names the CRL's address (its distribution point).
    assert any("/crl/sm2-seal-ca.crl" in str(dp.native) for dp in signer.crl_distribution_points)
    (tmp_path / "crl.der").write_bytes(revoked.crl)
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", dual.sm2_seal_ca))
    (tmp_path / "signer.pem").write_bytes(pem.armor("CERTIFICATE", revoked.signer_der))

    def openssl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)

    # OpenSSL lists the seal certificate on the CRL, with its reason ...
    listed = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text")
    assert listed.returncode == 0 and "SM2-with-SM3" in listed.stdout, listed
    assert f"Serial Number: {signer.serial_number:X}" in listed.stdout.replace("Serial Number: 0", "Serial Number: ")
    assert "Cessation Of Operation" in listed.stdout
    # ... and verifies the CRL's SM2 signature over DER(tbsCertList) with the SM2 seal CA's public key and the user
    # id 1234567812345678. (OpenSSL 3.0's `crl -CAfile` and `verify -crl_check` cannot be given a distid for the
    # CRL's signature, openssl#23471, so the signature is cut out with asn1parse and checked with dgst.)
    parsed_by_openssl = openssl("asn1parse", "-inform", "DER", "-in", "crl.der").stdout
    bit_string = next(line for line in parsed_by_openssl.splitlines() if "d=1" in line and "BIT STRING" in line)
    assert openssl("asn1parse", "-inform", "DER", "-in", "crl.der", "-strparse", "4", "-noout", "-out", "tbs.der")
    offset = bit_string.split(":")[0].strip()
    openssl("asn1parse", "-inform", "DER", "-in", "crl.der", "-strparse", offset, "-noout", "-out", "sig.der")
    openssl("x509", "-in", "ca.pem", "-pubkey", "-noout", "-out", "ca.pub")
    good = openssl("dgst", "-sm3", "-verify", "ca.pub", "-sigopt", DISTID, "-signature", "sig.der", "tbs.der")
    assert good.returncode == 0 and "Verified OK" in good.stdout, good
    # A CRL altered after signing (its tbsCertList changed) does not verify.
    tbs = bytearray((tmp_path / "tbs.der").read_bytes())
    tbs[-40] ^= 0x01
    (tmp_path / "tbs-bad.der").write_bytes(bytes(tbs))
    bad = openssl("dgst", "-sm3", "-verify", "ca.pub", "-sigopt", DISTID, "-signature", "sig.der", "tbs-bad.der")
    assert bad.returncode != 0 and "Verification failure" in bad.stdout
    # The seal certificate itself chains to the SM2 seal CA (the same check as for valid seals).
    link = openssl("verify", "-partial_chain", "-vfyopt", DISTID, "-CAfile", "ca.pem", "signer.pem")
    assert link.returncode == 0, link


def test_a_national_seal_made_after_revocation_is_invalid_and_one_before_stays_valid(dual, revoked) -> None:  # type: ignore[no-untyped-def]
    after = _one(revoked.after, dual, crls=(revoked.crl,))
    assert after.status == "invalid" and after.revocation == "revoked"
    assert "revoked" in after.reason.en and "cessation_of_operation" in after.reason.en
    before = _one(revoked.before, dual, crls=(revoked.crl,))
    assert before.status == "valid" and before.revocation == "good", before.reason
    assert "applied before its SM2 certificate was revoked" in before.reason.en
    # The whole document (the forged one carries the national seal only): invalid.
    report = dual.verifier(crls=[revoked.crl]).verify(revoked.after, at=LATER)
    assert report.national_seals[0].status == "invalid" and report.verdict.value == "invalid"


def test_a_key_compromise_invalidates_national_seals_from_its_invalidity_date(dual, revoked) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.registry import revoke_seal

    now = LATER - timedelta(minutes=5)
    revoke_seal(
        dual.instance,
        revoked.seal_id,
        reason="keyCompromise",
        at=now,
        invalidity_date=revoked.before_at - timedelta(seconds=30),
        actor="test",
    )
    crl = dual.instance.revocation.crl("sm2-seal-ca", at=now)
    before = _one(revoked.before, dual, crls=(crl,))
    assert before.status == "invalid" and "key_compromise" in before.reason.en, before.reason


def test_the_trust_bundle_carries_the_sm2_status(dual, revoked) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.trust_bundle import current_trust_bundle
    from verifier import Verifier
    from verifier.bundle import load_trust_bundle

    root = dual.instance.pki.certificate("root")
    now = datetime.now(UTC)
    bundle = load_trust_bundle(current_trust_bundle(dual.instance, at=now).document, trust_roots=[root], at=now)
    assert bundle.sm2_status_source is not None
    verifier = Verifier.from_bundle(bundle)  # no CRL: the bundle's signed status entries decide
    assert verifier.verify(revoked.after, at=LATER).national_seals[0].status == "invalid"
    fine = verifier.verify(dual.pdf, at=LATER)
    assert fine.national_seals[0].status == "valid", fine.national_seals[0].reason


def test_a_crl_signed_by_another_key_is_not_used(dual, revoked) -> None:  # type: ignore[no-untyped-def]
    ca, _ca_key = _ca(dual.instance)
    rogue = SoftwareSm2Key.generate()

    @dataclass(frozen=True)
    class Impostor:  # names the CA's key, signs with another
        public_key: bytes

        def sign(self, message: bytes) -> bytes:
            return rogue.sign(message)

    now = datetime.now(UTC)
    forged = build_sm2_crl(
        issuer=ca,
        issuer_key=Impostor(bytes(ca.public_key["public_key"].contents[1:])),
        revoked=[],
        number=999,
        this_update=now,
        next_update=now + timedelta(days=7),
    )
    result = _one(revoked.after, dual, crls=(forged,))
    assert result.status == "indeterminate", result.reason
    assert "not signed by its key" in result.reason.en
    report = dual.verifier(crls=[forged]).verify(dual.pdf, at=LATER)
    assert report.verdict.value == "indeterminate", report.messages


def test_a_stale_crl_leaves_the_national_seal_indeterminate(dual) -> None:  # type: ignore[no-untyped-def]
    ca, ca_key = _ca(dual.instance)
    old = dual.sealed_at - timedelta(days=20)
    stale = build_sm2_crl(
        issuer=ca, issuer_key=ca_key, revoked=[], number=1, this_update=old, next_update=old + timedelta(days=7)
    )
    result = _one(dual.pdf, dual, crls=(stale,))
    assert result.status == "indeterminate" and "stale" in result.reason.en, result.reason
    # The same CRL listing the signer as revoked is still evidence of revocation (a revocation never expires).
    material = gm_material_for(dual.instance, "jc-bureau-approval", at=dual.sealed_at)
    assert material is not None
    signer = asn1_x509.Certificate.load(material.certificate_der)
    listed = build_sm2_crl(
        issuer=ca,
        issuer_key=ca_key,
        revoked=[RevokedEntry(signer.serial_number, old, x509.ReasonFlags.key_compromise)],
        number=2,
        this_update=old,
        next_update=old + timedelta(days=7),
    )
    assert _one(dual.pdf, dual, crls=(listed,)).status == "invalid"


def test_the_service_serves_the_sm2_crl_and_seal_verify_fetches_it(dual, revoked, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from seal_service.api.app import create_app

    client = TestClient(create_app(instance=dual.instance))
    got = client.get("/crl/sm2-seal-ca.crl")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pkix-crl"
    assert is_sm2_crl(got.content)
    # The verify API judges the national seal with the instance's SM2 status: the forged-after-revocation one fails.
    answer = client.post("/v1/verify", files={"pdf": ("after.pdf", revoked.after, "application/pdf")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["verdict"] != "valid"
    assert body["national_seals"][0]["status"] == "invalid"


# --- the time-stamp inside the SES_Signature ----------------------------------------------------------------------


def _rogue_tsa():  # type: ignore[no-untyped-def]
    from seal_service.protocols.tsa import TimestampAuthority

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue TSA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return TimestampAuthority(certificate=cert, private_key=key)


def _with_token(dual, token):  # type: ignore[no-untyped-def]
    """The sample licence with a national seal whose time-stamp is ``token(signature_value)``."""
    from seal_service.gm.pdf import embed_ses_signature

    material = gm_material_for(dual.instance, "jc-bureau-approval", at=dual.sealed_at)
    assert material is not None

    def sign(data_hash: bytes) -> bytes:
        return bytes(
            build_ses_signature(
                seal=SESeal.load(material.ses_seal_der),
                signer_certificate=material.certificate_der,
                signer_key=material.signer,
                data_hash=data_hash,
                at=dual.sealed_at,
                property_info="licence.pdf",
                time_stamp=token,
            ).dump()
        )

    reserved = len(material.ses_seal_der) + 8192
    return embed_ses_signature(sample_licence_pdf(), sign=sign, at=dual.sealed_at, reserved=reserved)


def _genuine(dual, value: bytes) -> bytes:  # type: ignore[no-untyped-def]
    import hashlib

    token = dual.instance.timestamps.token(
        message_imprint=hashlib.sha256(value).digest(), hash_algorithm="sha256", nonce=None, at=dual.sealed_at
    )
    return bytes(token.dump())


def test_the_time_stamp_is_checked_and_its_time_is_the_proven_signing_time(dual) -> None:  # type: ignore[no-untyped-def]
    result = _one(dual.pdf, dual, crls=(dual.sm2_crl(),))
    assert result.valid and result.time_stamp_at is not None
    assert abs((result.time_stamp_at - dual.sealed_at).total_seconds()) < 2


def test_a_time_stamp_from_an_untrusted_tsa_is_reported(dual) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    tsa = _rogue_tsa()

    def forged(value: bytes) -> bytes:
        token = tsa.token(
            message_imprint=hashlib.sha256(value).digest(), hash_algorithm="sha256", nonce=None, at=dual.sealed_at
        )
        return bytes(token.dump())

    result = _one(_with_token(dual, forged), dual, crls=(dual.sm2_crl(),))
    # No chain to a trust anchor: indeterminate, as for the PAdES seal (ETSI NO_CERTIFICATE_CHAIN_FOUND).
    assert result.status == "indeterminate" and "untrusted TSA" in result.reason.en, result.reason


def test_an_altered_time_stamp_is_reported(dual) -> None:  # type: ignore[no-untyped-def]
    def altered(value: bytes) -> bytes:
        der = bytearray(_genuine(dual, value))
        # Move genTime by a year inside the signed TSTInfo: the TSA's signature no longer matches.
        year = str(dual.sealed_at.year).encode()
        at = bytes(der).index(year + dual.sealed_at.strftime("%m%d").encode())
        der[at + 3] = ord("0") + (int(chr(der[at + 3])) + 1) % 10
        return bytes(der)

    result = _one(_with_token(dual, altered), dual, crls=(dual.sm2_crl(),))
    assert result.status == "invalid" and "forged or altered" in result.reason.en, result.reason


def test_a_time_stamp_over_other_data_is_reported(dual) -> None:  # type: ignore[no-untyped-def]
    result = _one(_with_token(dual, lambda value: _genuine(dual, value + b"x")), dual, crls=(dual.sm2_crl(),))
    assert result.status == "invalid" and "not over its signature value" in result.reason.en


def test_a_time_stamp_whose_tsa_certificate_expired_since_can_no_longer_prove_the_time(dual) -> None:  # type: ignore[no-untyped-def]
    expired = dual.instance.pki.certificate("tsa").not_valid_after_utc + timedelta(days=1)
    trust = dual.instance.pki.certificate("root").public_bytes(serialization.Encoding.DER)
    (result,) = verify_national_seals(
        dual.pdf, sm2_roots=[dual.sm2_root], at=expired, context=NationalContext(trust_roots=(trust,))
    )
    assert result.status == "indeterminate" and "can no longer be checked" in result.reason.en, result.reason


def test_the_qr_page_shows_each_seal_with_its_status(dual, revoked) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from seal_service.api.app import create_app
    from seal_service.services.sealing import LicenceRequest, seal_licence

    client = TestClient(create_app(instance=dual.instance))
    page = client.get(f"/v/{dual.licence_id}").text
    assert 'id="seal-pades"' in page and 'id="seal-gm" class="ok" data-status="valid"' in page
    assert "国密电子签章" in page and "National seal" in page and "jc-bureau-approval-1" in page
    # Sealed before its seal's revocation: the national seal stays valid, and the page says when it was revoked.
    before = client.get(f"/v/{revoked.before_id}?lang=en").text
    assert 'data-status="valid"' in before and "after this licence was sealed" in before
    # A PAdES-only licence says it carries no national seal.
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval", gm=False)
    plain = seal_licence(dual.instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    assert 'id="seal-gm" data-status="absent"' in client.get(f"/v/{plain.licence_id}").text


def test_a_time_stamp_larger_than_the_reservation_is_embedded_on_a_second_try(dual, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import seal_service.gm.service as gm_service

    monkeypatch.setattr(gm_service, "RESERVE_SLACK", 0)
    material = gm_material_for(dual.instance, "jc-bureau-approval", at=dual.sealed_at)
    assert material is not None
    pdf, _ = gm_seal_pdf(dual.instance, sample_licence_pdf(), material, at=dual.sealed_at, property_info="x")
    result = _one(pdf, dual, crls=(dual.sm2_crl(),))
    assert result.valid and result.time_stamped, result.reason
