"""The national seal in the service: init, SM2 keys, rotation, CLI and HTTP downloads, dual sealing switches."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.cli import main
from seal_service.errors import KeyUnavailable
from seal_service.gm import ensure_gm, ses_seal_of
from seal_service.gm.keys import Sm2KeyStore
from seal_service.gm.service import gm_keys, licence_seals
from seal_service.storage.gm_models import GmSealMaterial
from tests.support.pdfs import sample_licence_pdf
from verifier.gm_structures import SESeal, certificate_signed_by, sm2_public_key, sm2_verify


def test_init_is_idempotent_for_the_sm2_pki_and_seal_material(dual) -> None:  # type: ignore[no-untyped-def]
    report = ensure_gm(dual.instance, at=datetime.now(UTC))
    assert report.created == []
    assert "pki sm2-root" in report.present and "gm seal jc-bureau-approval" in report.present


def test_seal_data_is_signed_by_the_sm2_seal_ca_and_names_the_seal(dual) -> None:  # type: ignore[no-untyped-def]
    seal = SESeal.load(ses_seal_of(dual.instance, "jc-bureau-approval"))
    info = seal["eseal_info"]
    assert info["header"].native == {"id": "ES", "version": 4, "vid": "ONE-SEAL"}
    assert info["property"]["name"].native == "晋城市行政审批服务管理局行政审批专用章"
    assert info["picture"]["type"].native == "PNG" and info["picture"]["data"].native.startswith(b"\x89PNG")
    maker = x509.Certificate.load(seal["cert"].native)
    assert maker.dump() == dual.sm2_seal_ca
    assert sm2_verify(sm2_public_key(maker), info.dump(), bytes(seal["signed_value"].native))
    (signer_der,) = [c.native for c in info["property"]["cert_list"]]
    signer = x509.Certificate.load(signer_der)
    assert certificate_signed_by(signer, maker)
    assert certificate_signed_by(maker, x509.Certificate.load(dual.sm2_root))
    assert signer.key_usage_value.native == {"digital_signature", "non_repudiation"}


def test_sm2_keys_are_encrypted_and_need_the_passphrase(dual, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = gm_keys(dual.instance)
    with dual.instance.sessions() as session:
        ref = session.query(GmSealMaterial.key_ref).filter_by(seal_id="jc-bureau-approval").first()[0]
    assert ref.startswith("sm2file:")
    key = store.resolve(ref)
    text = store.path_of(ref).read_bytes()
    assert key.secret not in text and key.secret.hex().encode() not in text  # type: ignore[attr-defined]
    other = Sm2KeyStore(store.directory, passphrase=b"not the passphrase")
    with pytest.raises(KeyUnavailable, match="cannot be decrypted"):
        other.resolve(ref)
    with pytest.raises(KeyUnavailable, match="GM/T 0018 SDF"):
        other.resolve("sm2sdf:hsm0/3")


def test_rotation_gives_the_seal_new_sm2_material_and_old_licences_stay_valid(keys_instance) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.rotation import create_seal, rotate_seal
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from verifier.gm import verify_national_seals

    instance = keys_instance
    at = datetime.now(UTC)
    seal_id = f"gm-rot-{at.strftime('%H%M%S%f')}"
    create_seal(instance, authority_code="jc-bureau", seal_id=seal_id, at=at, actor="test")
    first = SESeal.load(ses_seal_of(instance, seal_id))
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id=seal_id)
    before = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    rotate_seal(instance, seal_id, at=datetime.now(UTC), actor="test")
    second = SESeal.load(ses_seal_of(instance, seal_id))
    from seal_service.storage.models import AuditEntry

    with instance.sessions() as session:
        entries = {e.action: e.details for e in session.query(AuditEntry).filter(AuditEntry.seal_id == seal_id).all()}
    # The SM2 material is issued in the rotation's (and creation's) own transaction and named in its audit entry.
    assert entries["seal.create"]["gm_es_id"] == f"{seal_id}-1"
    assert entries["seal.rotate"]["gm_es_id"] == f"{seal_id}-2"
    assert entries["seal.rotate"]["gm_key_ref"].startswith("sm2file:")
    assert first["eseal_info"]["es_id"].native == f"{seal_id}-1"
    assert second["eseal_info"]["es_id"].native == f"{seal_id}-2"
    assert first["eseal_info"]["property"]["cert_list"].dump() != second["eseal_info"]["property"]["cert_list"].dump()
    after = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    roots = [r for r in (instance.pki.certificate("root"),)]
    from seal_service.gm import national_trust_roots
    from verifier import Verifier
    from verifier.gm import NationalContext

    crl = instance.revocation.crl("sm2-seal-ca", at=datetime.now(UTC))
    context = NationalContext(crls=(crl,))
    for sealed, es_id in ((before, f"{seal_id}-1"), (after, f"{seal_id}-2")):
        (result,) = verify_national_seals(sealed.pdf, sm2_roots=national_trust_roots(instance), context=context)
        assert result.valid and result.es_id == es_id, result.reason
        verifier = Verifier.from_trust_roots(roots, sm2_roots=national_trust_roots(instance), crls=[crl])
        report = verifier.verify(sealed.pdf)
        assert report.verdict.value == "valid", report.messages
    # Retiring the superseded P-256 key destroys the superseded SM2 key too; the current one stays.
    from seal_service.services.rotation import retire_key
    from seal_service.storage.models import Seal

    with instance.sessions() as session:
        old_cert = session.get(Seal, seal_id).certificates[0].id
        materials = {m.generation: m.key_ref for m in session.query(GmSealMaterial).filter_by(seal_id=seal_id).all()}
    retire_key(instance, seal_id, old_cert, at=datetime.now(UTC), actor="test")
    store = gm_keys(instance)
    assert not store.exists(materials[1]) and store.exists(materials[2])
    with instance.sessions() as session:
        retired = [
            e for e in session.query(AuditEntry).filter(AuditEntry.seal_id == seal_id) if e.action == "key.retire"
        ]
    assert retired[-1].details["gm_key_refs"] == [materials[1]]
    (still,) = verify_national_seals(before.pdf, sm2_roots=national_trust_roots(instance), context=context)
    assert still.valid  # a retired key's seals keep verifying


def test_cli_writes_the_sm2_certificates_and_seal_data_and_signs_without_gm(dual, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = dual.instance.settings
    monkeypatch.setenv("SEAL_HOME", str(settings.resolved_home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    if settings.database_url:
        monkeypatch.setenv("SEAL_DATABASE_URL", settings.database_url)
    root, ca = tmp_path / "sm2-root.pem", tmp_path / "sm2-ca.pem"
    assert main(["ca-cert", "--role", "sm2-root", "-o", str(root)]) == 0
    assert main(["ca-cert", "--role", "sm2-seal-ca", "-o", str(ca)]) == 0
    assert pem.unarmor(root.read_bytes())[2] == dual.sm2_root
    checked = subprocess.run(
        ["openssl", "verify", "-vfyopt", "distid:1234567812345678", "-CAfile", root, ca], capture_output=True
    )
    assert checked.returncode == 0, checked.stderr
    ses = tmp_path / "seal.ses"
    assert main(["seals", "gm-seal", "--seal", "jc-bureau-approval", "-o", str(ses)]) == 0
    assert SESeal.load(ses.read_bytes())["eseal_info"]["es_id"].native == "jc-bureau-approval-1"
    assert main(["seals", "gm-seal", "--seal", "no-such-seal", "-o", str(tmp_path / "x.ses")]) == 2
    pdf_in, pdf_out = tmp_path / "in.pdf", tmp_path / "out.pdf"
    pdf_in.write_bytes(sample_licence_pdf())
    args = ["sign", str(pdf_in), "-o", str(pdf_out), "--seal", "jc-bureau-approval", "--item", "JC-001"]
    assert main([*args, "--holder", "测试", "--level", "B-B", "--no-gm"]) == 0
    assert b"/GB.T38540.SES.v4" not in pdf_out.read_bytes()
    assert main([*args, "--holder", "测试", "--level", "B-B", "--force"]) == 0
    assert b"/GB.T38540.SES.v4" in pdf_out.read_bytes()


def test_http_serves_sm2_certificates_and_seal_data(dual) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(instance=dual.instance))
    assert client.get("/pki/sm2-root.cer").content == dual.sm2_root
    assert client.get("/pki/sm2-seal-ca.cer").content == dual.sm2_seal_ca
    got = client.get("/v1/seals/jc-bureau-approval/ses-seal")
    assert got.status_code == 200 and got.content == ses_seal_of(dual.instance, "jc-bureau-approval")
    missing = client.get("/v1/seals/no-such-seal/ses-seal")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bundle = client.get("/v1/trust-bundle")
    assert bundle.status_code == 200
    from verifier.bundle import load_trust_bundle

    root = dual.instance.pki.certificate("root")
    loaded = load_trust_bundle(bundle.content, trust_roots=[root], at=datetime.now(UTC))
    assert loaded.sm2_roots == (dual.sm2_root,)
    assert set(loaded.sm2_certificates) == {"sm2-root", "sm2-seal-ca"}


def test_api_dual_seals_by_default_and_gm_false_skips_it(dual) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.apikeys import Role, create_api_key

    client = TestClient(create_app(instance=dual.instance))
    issued = create_api_key(
        dual.instance, name="gm test", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
    )
    headers = {"Authorization": f"Bearer {issued.secret}"}
    files = {"pdf": ("licence.pdf", sample_licence_pdf(), "application/pdf")}
    base = {"item_code": "JC-001", "holder_name": "测试"}
    dual_made = client.post("/v1/licences", data=base, files=files, headers=headers)
    assert dual_made.status_code == 201, dual_made.text
    assert dual_made.json()["seals"] == ["gm", "pades"]
    plain = client.post("/v1/licences", data={**base, "gm": "false"}, files=files, headers=headers)
    assert plain.status_code == 201 and plain.json()["seals"] == ["pades"]
    assert licence_seals(dual.instance, plain.json()["id"]) == ("pades",)
    pdf = client.get(f"/v1/licences/{dual_made.json()['id']}/pdf", headers=headers).content
    report = client.post("/v1/verify", files={"pdf": ("x.pdf", pdf, "application/pdf")})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["verdict"] == "valid", body
    assert [(s["kind"], s["valid"], s["trust_checked"]) for s in body["national_seals"]] == [("gm", True, True)]
