"""``seal-verify`` with national seals: --sm2-root, --require-gm, and refusing a non-SM2 root file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import pem
from cryptography.hazmat.primitives import serialization

from verifier.cli import main


def _files(dual, tmp_path: Path) -> tuple[Path, Path, Path]:  # type: ignore[no-untyped-def]
    pdf = tmp_path / "dual.pdf"
    pdf.write_bytes(dual.pdf)
    root = tmp_path / "root.pem"
    root.write_bytes(dual.instance.pki.certificate("root").public_bytes(serialization.Encoding.PEM))
    sm2_root = tmp_path / "sm2-root.pem"
    sm2_root.write_bytes(pem.armor("CERTIFICATE", dual.sm2_root))
    return pdf, root, sm2_root


def test_seal_verify_reports_both_seals(dual, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pdf, root, sm2_root = _files(dual, tmp_path)
    crl = tmp_path / "sm2-seal-ca.crl"
    crl.write_bytes(dual.sm2_crl())
    code = main([str(pdf), "--trust-root", str(root), "--sm2-root", str(sm2_root), "--crl", str(crl), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    (report,) = out
    assert report["verdict"] == "valid"
    national = report["national_seals"][0]
    assert national["valid"] and national["trust_checked"] and national["revocation"] == "good"
    assert national["status"] == "valid" and national["time_stamp_at"]
    assert any(m.startswith("国密电子签章有效") for m in report["messages"])


def test_seal_verify_offline_without_sm2_revocation_data_is_indeterminate(dual, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pdf, root, sm2_root = _files(dual, tmp_path)
    code = main([str(pdf), "--trust-root", str(root), "--sm2-root", str(sm2_root), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1, out
    (report,) = out
    assert report["verdict"] == "indeterminate"
    assert report["national_seals"][0]["status"] == "indeterminate"
    assert (
        "no revocation data for the national seal" in report["messages"][0]
        or "缺少国密签章证书的吊销信息" in (report["messages"][0])
    )


def test_seal_verify_require_gm_fails_a_pades_only_licence(dual, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from tests.support.pdfs import sample_licence_pdf

    _pdf, root, sm2_root = _files(dual, tmp_path)
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval", gm=False)
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(seal_licence(dual.instance, sample_licence_pdf(), request, actor="t", at=datetime.now(UTC)).pdf)
    args = [str(plain), "--trust-root", str(root), "--sm2-root", str(sm2_root), "--json"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--require-gm"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "invalid" and "requires a national seal" in report["messages"][0]


def test_seal_verify_refuses_a_non_sm2_root_file(dual, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pdf, root, _sm2 = _files(dual, tmp_path)
    assert main([str(pdf), "--trust-root", str(root), "--sm2-root", str(root)]) == 2
    assert "not an SM2 certificate" in capsys.readouterr().err


def test_seal_verify_fetches_the_sm2_crl_with_service_or_online(live_instance, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from seal_service.gm import Sm2Role, sm2_certificate
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from tests.support.pdfs import sample_licence_pdf

    instance, server = live_instance
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval")
    sealed = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    pdf = tmp_path / "dual.pdf"
    pdf.write_bytes(sealed.pdf)
    root = tmp_path / "root.pem"
    root.write_bytes(instance.pki.certificate("root").public_bytes(serialization.Encoding.PEM))
    sm2_root = tmp_path / "sm2-root.pem"
    sm2_root.write_bytes(pem.armor("CERTIFICATE", sm2_certificate(instance, Sm2Role.ROOT)))
    base = [str(pdf), "--trust-root", str(root), "--sm2-root", str(sm2_root), "--json"]
    # The service under another spelling of its address (its certificates say 127.0.0.1): still asked.
    for extra in (["--service", server.url.replace("127.0.0.1", "localhost")], ["--online"]):
        code = main([*base, *extra])
        (report,) = json.loads(capsys.readouterr().out)
        national = report["national_seals"][0]
        assert national["status"] == "valid" and national["revocation"] == "good", (extra, national)
        assert "SM2 CRL" in national["reason"], national["reason"]
        assert code == 0 and report["verdict"] == "valid", (extra, report["messages"])
