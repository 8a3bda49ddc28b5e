"""Sealed licences as verifiers we did not write see them: pyHanko AdES, poppler pdfsig, a QR decoder.

The instance's public URL is a live server, so the OCSP and CRL URLs inside the certificates answer.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from PIL import Image

from seal_service.instance import PkiRole
from seal_service.services.registry import revoke_seal
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from tests.support.verifiers import make_nss_db, pdfsig, pyhanko_ades_lta

LEVELS = list(PadesLevel)


@pytest.fixture(scope="module")
def nss_db(live_instance, tmp_path_factory):  # type: ignore[no-untyped-def]
    instance, _ = live_instance
    directory = tmp_path_factory.mktemp("nss")
    root_pem = directory / "root.pem"
    root_pem.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    return make_nss_db(directory / "db", root_pem)


def _seal(instance, pdf: bytes, level: PadesLevel, *, seal_id: str = "jc-bureau-approval", item: str = "JC-001"):  # type: ignore[no-untyped-def]
    return seal_licence(
        instance,
        pdf,
        LicenceRequest(item_code=item, holder_name="晋城市示例餐饮有限公司", seal_id=seal_id, level=level),
        actor="test",
        at=datetime.now(UTC),
    )


def test_pyhanko_ades_passes_b_lta_offline_trusting_only_the_root(live_instance, licence_pdf):  # type: ignore[no-untyped-def]
    instance, _ = live_instance
    sealed = _seal(instance, licence_pdf, PadesLevel.B_LTA)
    root = instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER)
    assert pyhanko_ades_lta(sealed.pdf, root) == ("PASSED", None)


def test_pyhanko_ades_fails_a_tampered_b_lta(live_instance, licence_pdf):  # type: ignore[no-untyped-def]
    instance, _ = live_instance
    sealed = _seal(instance, licence_pdf, PadesLevel.B_LTA)
    # Change one byte of the page content inside the signed range.
    index = sealed.pdf.index(b"Food Business Licence")
    tampered = sealed.pdf[:index] + b"Fake" + sealed.pdf[index + 4 :]
    root = instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER)
    indication, _sub = pyhanko_ades_lta(tampered, root)
    assert indication == "FAILED"


def test_pyhanko_ades_does_not_trust_another_root(live_instance, licence_pdf, tmp_path):  # type: ignore[no-untyped-def]
    from tests.conftest import make_instance, make_settings

    instance, _ = live_instance
    sealed = _seal(instance, licence_pdf, PadesLevel.B_LTA)
    stranger = make_instance(make_settings(tmp_path / "other"))
    other_root = stranger.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER)
    indication, _sub = pyhanko_ades_lta(sealed.pdf, other_root)
    assert indication != "PASSED"


@pytest.mark.parametrize("level", LEVELS, ids=[lv.value for lv in LEVELS])
def test_pdfsig_says_valid_and_trusted_at_every_level(live_instance, nss_db, licence_pdf, tmp_path, level):  # type: ignore[no-untyped-def]
    instance, _ = live_instance
    sealed = _seal(instance, licence_pdf, level)
    path = tmp_path / f"sealed-{level.value}.pdf"
    path.write_bytes(sealed.pdf)
    report = pdfsig(path, nss_db)
    # Dual-sealed licences list the national seal (GB/T 38540, unknown to poppler) first, then the PAdES seal (the
    # suite's HSM run seals with PAdES only: no SM2 token driver).
    assert ("Field Name: NationalSeal" in report) == (sealed.seals == ("gm", "pades"))
    first = next(part for part in report.split("Signature #") if "Field Name: ApprovalSeal" in part)
    assert "Signature Validation: Signature is Valid." in first, report
    assert "Certificate Validation: Certificate is Trusted." in first, report
    assert "晋城市行政审批服务管理局行政审批专用章" in first


def test_pdfsig_reports_a_revoked_department_seal(live_instance, nss_db, licence_pdf, tmp_path):  # type: ignore[no-untyped-def]
    instance, _ = live_instance
    # jc-housing still seals JC-005 (not yet transferred), so its seal can be used, then revoked.
    sealed = _seal(instance, licence_pdf, PadesLevel.B_T, seal_id="jc-housing-approval", item="JC-005")
    path = tmp_path / "department.pdf"
    path.write_bytes(sealed.pdf)
    assert "Certificate is Trusted." in pdfsig(path, nss_db)
    revoke_seal(instance, "jc-housing-approval", reason="cessationOfOperation", at=datetime.now(UTC))
    report = pdfsig(path, nss_db)
    assert "Certificate has been Revoked." in report, report


def test_qr_code_on_the_rendered_page_is_the_verification_url(live_instance, licence_pdf, tmp_path):  # type: ignore[no-untyped-def]
    import zxingcpp

    instance, server = live_instance
    sealed = _seal(instance, licence_pdf, PadesLevel.B_LTA)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed.pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    results = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    texts = [r.text for r in results]
    assert texts == [f"{server.url}/v/{sealed.licence_id}"]
    assert sealed.verify_url == texts[0]


def test_stamp_text_is_readable_chinese(live_instance, licence_pdf, tmp_path):  # type: ignore[no-untyped-def]
    instance, _ = live_instance
    sealed = _seal(instance, licence_pdf, PadesLevel.B_B)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed.pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "证照编号" in text
    assert sealed.number in text
    assert "盖章时间" in text
