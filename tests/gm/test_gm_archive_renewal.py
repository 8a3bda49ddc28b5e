"""Archive renewal carries the national seal (国密) forward: a dual-sealed B-LTA licence, the TSA rotated, renewed,
and verified after the first TSA certificate expired is valid, both seals (seal-verify, the verify API, pyHanko's
AdES validation of the PAdES seal); the same licence not renewed is indeterminate, saying why; a tampered national
revision stays invalid. The national seal's time-stamp is then validated at the time the PAdES seal proves the
national revision existed (verifier/gm_existence.py).

As in tests/seal_service/archive/test_renewal_proof.py, the service runs with its injectable clock (``at=``) and
the command-line verifiers under libfaketime (Debian ``faketime``): pyHanko's past validation reads the wall clock.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from seal_service import archive
from seal_service.archive import RenewalOutcomeKind, renew_licence
from seal_service.gm import Sm2Role, sm2_certificate
from seal_service.gm.pdf import national_time_stamp_certificates
from seal_service.instance import PkiRole
from tests.conftest import make_instance, make_settings
from tests.seal_service.archive.test_renewal_proof import _rotate_tsa
from tests.support.archive import faketime_available, pyhanko_ades_at, run_at, seal_blta
from tests.support.pdfs import sample_licence_pdf
from verifier.gm import verify_national_seals
from verifier.gm_structures import SesSignature

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not faketime_available(), reason="Debian faketime (libfaketime) is not installed"),
]

SEAL_VERIFY = str(Path(sys.executable).with_name("seal-verify"))


@dataclass(frozen=True)
class Renewed:
    """Two dual-sealed B-LTA licences of one instance: one renewed after a TSA rotation, one left alone."""

    instance: object
    files: Path
    renewed_id: str
    neglected_id: str
    tsa1: x509.Certificate
    after_expiry: datetime
    """Two months after the first TSA certificate expired."""


@pytest.fixture(scope="module")
def renewed(tmp_path_factory: pytest.TempPathFactory) -> Renewed:
    files = tmp_path_factory.mktemp("gm-renewal")
    # File keys even in the suite's HSM run (software SM2 keys); TSA certificates live two years here.
    instance = make_instance(make_settings(files / "home", tsa_certificate_days=730, key_backend="file"))
    tsa1 = instance.pki.certificate(PkiRole.TSA)
    renewed_id = seal_blta(instance, sample_licence_pdf())
    neglected_id = seal_blta(instance, sample_licence_pdf())
    rotation_at = tsa1.not_valid_after_utc - timedelta(days=30)
    _rotate_tsa(instance, rotation_at)
    outcome = renew_licence(instance, renewed_id, at=rotation_at + timedelta(hours=1), horizon=timedelta(days=365))
    assert outcome.kind is RenewalOutcomeKind.RENEWED and outcome.version == 2, outcome
    after_expiry = tsa1.not_valid_after_utc + timedelta(days=60)
    (files / "renewed.pdf").write_bytes(archive.licence_pdf(instance, renewed_id)[0])
    (files / "neglected.pdf").write_bytes(archive.licence_pdf(instance, neglected_id)[0])
    (files / "root.pem").write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    (files / "root.der").write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER))
    (files / "sm2-root.pem").write_bytes(pem.armor("CERTIFICATE", sm2_certificate(instance, Sm2Role.ROOT)))
    # The SM2 seal CA's CRL as a verifier fetches it then (the national seal's own revocation data is not embedded).
    (files / "sm2.crl").write_bytes(instance.revocation.crl("sm2-seal-ca", at=after_expiry))  # type: ignore[attr-defined]
    yield Renewed(instance, files, renewed_id, neglected_id, tsa1, after_expiry)
    instance.engine.dispose()  # type: ignore[attr-defined]


def _national_token(pdf: bytes) -> cms.SignedData:
    match = pdf.index(b"/SubFilter /GB.T38540.SES.v4")
    br_at = pdf.rindex(b"/ByteRange [", 0, match)
    first, second = (int(v) for v in pdf[br_at + 12 : pdf.index(b"]", br_at)].split()[1:3])
    der = bytes.fromhex(pdf[first + 1 : second - 1].decode())
    token = SesSignature.load(der, strict=False)["time_stamp"].native
    return cms.ContentInfo.load(bytes(token))["content"]


def _signer(token: cms.SignedData) -> asn1_x509.Certificate:
    serial = token["signer_infos"][0]["sid"].chosen["serial_number"].native
    return next(c.chosen for c in token["certificates"] if c.chosen.serial_number == serial)


def test_the_dss_holds_the_validation_data_of_the_national_time_stamp(renewed: Renewed) -> None:
    instance = renewed.instance
    root = instance.pki.certificate(PkiRole.ROOT)  # type: ignore[attr-defined]
    for version in (1, 2):
        pdf = archive.licence_pdf(instance, renewed.renewed_id, version=version)[0]
        reader = PdfFileReader(BytesIO(pdf))
        national_tsa = _signer(_national_token(pdf))
        # The same TSA certificate as the PAdES signature time-stamp's (both from the instance's TSA at sealing).
        (seal,) = reader.embedded_regular_signatures
        assert seal.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        (tst,) = (
            a["values"][0]["content"]
            for a in seal.signer_info["unsigned_attrs"]
            if a["type"].native == "signature_time_stamp_token"
        )
        pades_tsa = _signer(tst)
        assert national_tsa.dump() == pades_tsa.dump()
        assert national_tsa.dump() in national_time_stamp_certificates(pdf)
        dss = DocumentSecurityStore.read_dss(reader)
        assert national_tsa.dump() in [bytes(ref.get_object().data) for ref in dss.certs.values()]
        crls = [x509.load_der_x509_crl(bytes(ref.get_object().data)) for ref in dss.crls]
        from_root = [c for c in crls if c.issuer == root.subject and c.is_signature_valid(root.public_key())]
        # A CRL of its issuer from within its validity, not listing it.
        assert any(
            c.last_update_utc <= renewed.tsa1.not_valid_after_utc
            and c.get_revoked_certificate_by_serial_number(national_tsa.serial_number) is None
            for c in from_root
        ), version


def _dss(pdf: bytes) -> DocumentSecurityStore:
    return DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(pdf)))


def _seal_verify(renewed: Renewed, *pdfs: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    files = renewed.files
    argv = [SEAL_VERIFY, "--trust-root", str(files / "root.pem"), "--sm2-root", str(files / "sm2-root.pem")]
    done = run_at(renewed.after_expiry, [*argv, "--crl", str(files / "sm2.crl"), "--json", *map(str, pdfs)])
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return {Path(r["file"]).name: r for r in json.loads(done.stdout)}


def test_seal_verify_after_the_first_tsa_certificate_expired(renewed: Renewed) -> None:
    files = renewed.files
    # The national revision tampered with (a byte of the page the national seal signs): invalid, renewed or not.
    data = (files / "renewed.pdf").read_bytes()
    position = data.index(b"/MediaBox")
    (files / "tampered.pdf").write_bytes(data[:position] + b"/MediaBoy" + data[position + 9 :])
    reports = _seal_verify(renewed, files / "renewed.pdf", files / "neglected.pdf", files / "tampered.pdf")

    report = reports["renewed.pdf"]
    assert report["verdict"] == "valid" and report["pades_verdict"] == "valid", report
    (national,) = report["national_seals"]
    assert national["status"] == "valid" and national["revocation"] == "good", national
    # Validated at the time the PAdES seal proves, before the first TSA certificate expired.
    validated_at = datetime.fromisoformat(national["validated_at"])
    assert validated_at < renewed.tsa1.not_valid_after_utc
    assert validated_at == datetime.fromisoformat(report["proven_signing_time"])
    assert "when the PAdES seal proves the national seal existed" in national["reason"]

    report = reports["neglected.pdf"]
    assert report["verdict"] == "indeterminate", report
    (national,) = report["national_seals"]
    assert national["status"] == "indeterminate" and national["validated_at"] is None, national
    assert "can no longer be checked" in national["reason"] and "not renewed" in national["reason"], national
    assert any("newest document time-stamp" in m for m in report["messages"]), report

    report = reports["tampered.pdf"]
    assert report["verdict"] == "invalid", report
    assert report["national_seals"][0]["status"] == "invalid", report
    assert "SM3" in report["national_seals"][0]["reason"], report


def test_the_verify_api_after_the_first_tsa_certificate_expired(renewed: Renewed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    import seal_service.api.verify as verify_api
    from seal_service.api.app import create_app

    monkeypatch.setattr(verify_api, "now", lambda: renewed.after_expiry)
    client = TestClient(create_app(instance=renewed.instance))
    answers = {}
    for name in ("renewed.pdf", "neglected.pdf"):
        response = client.post("/v1/verify", files={"pdf": (name, (renewed.files / name).read_bytes())})
        assert response.status_code == 200, response.text
        answers[name] = response.json()
    good = answers["renewed.pdf"]
    assert good["verdict"] == "valid" and good["pades_verdict"] == "valid", good
    assert [s["status"] for s in good["national_seals"]] == ["valid"], good
    assert good["national_seals"][0]["validated_at"] is not None
    stale = answers["neglected.pdf"]
    assert stale["verdict"] == "indeterminate", stale
    assert [s["status"] for s in stale["national_seals"]] == ["indeterminate"], stale


def test_pyhanko_ades_accepts_the_pades_seal_of_the_renewed_dual_sealed_licence(renewed: Renewed) -> None:
    files = renewed.files
    ades = pyhanko_ades_at(renewed.after_expiry, files / "root.der", [files / "renewed.pdf", files / "neglected.pdf"])
    assert ades[str(files / "renewed.pdf")][0] == "PASSED", ades
    assert ades[str(files / "neglected.pdf")][0] == "INDETERMINATE", ades


def test_past_validation_needs_revocation_data_and_a_consistent_time(renewed: Renewed) -> None:
    """The national seal's rules on their own (verify_national_seals with the PAdES seal's proven time)."""
    from verifier.gm import NationalContext

    instance = renewed.instance
    root = instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    context = NationalContext(trust_roots=(root,), crls=((renewed.files / "sm2.crl").read_bytes(),))
    sm2_root = sm2_certificate(instance, Sm2Role.ROOT)
    neglected = (renewed.files / "neglected.pdf").read_bytes()
    gen_time = _national_token(neglected)["encap_content_info"]["content"].parsed["gen_time"].native
    # Proven at a time no CRL in the file speaks for (after the sealing CRL's nextUpdate): status unknown.
    crls = [x509.load_der_x509_crl(bytes(r.get_object().data)) for r in _dss(neglected).crls]
    unspoken = max(crl.next_update_utc or renewed.after_expiry for crl in crls) + timedelta(days=1)
    assert unspoken < renewed.tsa1.not_valid_after_utc
    (result,) = verify_national_seals(
        neglected, sm2_roots=[sm2_root], at=renewed.after_expiry, context=context, pades_proven_at=unspoken
    )
    assert result.status == "indeterminate" and "no revocation data (CRL)" in result.reason.en, result.reason
    # A time-stamp claiming a time after the PAdES seal proves the national seal existed: not believable.
    (result,) = verify_national_seals(
        neglected,
        sm2_roots=[sm2_root],
        at=renewed.after_expiry,
        context=context,
        pades_proven_at=gen_time - timedelta(hours=1),
    )
    assert result.status == "invalid" and "later than the time the PAdES seal proves" in result.reason.en
    # With a proof of existence, the issued file's own DSS (the root's CRL of the sealing) speaks for the TSA.
    (result,) = verify_national_seals(
        neglected, sm2_roots=[sm2_root], at=renewed.after_expiry, context=context, pades_proven_at=gen_time
    )
    assert result.status == "valid" and result.validated_at == gen_time, result.reason
