"""The national seal checked without the project's code: OpenSSL 3 (SM3, SM2 with distid), and the PAdES seal
of the same dual-sealed file still accepted by OpenSSL CMS, pyHanko AdES and poppler's pdfsig.

The SES_Signature is taken out of the PDF with pikepdf and split with asn1crypto's generic DER parser (not the
project's GB/T 38540 classes); digests and signatures are checked by the ``openssl`` command.
"""

from __future__ import annotations

import subprocess
from io import BytesIO
from pathlib import Path

import pikepdf
from asn1crypto import core, pem

from tests.support.verifiers import pyhanko_ades_lta

DISTID = "distid:1234567812345678"


def _openssl(*args: object, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], input=stdin, capture_output=True, timeout=60)


def _signature_field(pdf: bytes, name: str) -> tuple[bytes, list[int]]:
    with pikepdf.open(BytesIO(pdf)) as doc:
        for field in doc.Root.AcroForm.Fields:
            if str(field.get("/T")) == name:
                value = field.V
                return bytes(value.Contents), [int(v) for v in value.ByteRange]
    raise AssertionError(f"no field {name}")


def _signed(pdf: bytes, byte_range: list[int]) -> bytes:
    a, b, c, d = byte_range
    return pdf[a : a + b] + pdf[c : c + d]


def _pem_cert(der: bytes, path: Path) -> Path:
    path.write_bytes(pem.armor("CERTIFICATE", der))
    return path


def test_openssl_recomputes_the_data_hash_and_verifies_the_sm2_signature_and_chain(dual, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    contents, byte_range = _signature_field(dual.pdf, "NationalSeal")
    with pikepdf.open(BytesIO(dual.pdf)) as doc:
        sub_filter = next(str(f.V.SubFilter) for f in doc.Root.AcroForm.Fields if str(f.T) == "NationalSeal")
    assert sub_filter == "/GB.T38540.SES.v4"
    ses = core.Sequence.load(contents, strict=False)  # generic DER: [TBS_Sign, cert, algId, signature, [0] ts]
    tbs, signer_der, alg, signature = ses[0], ses[1].native, ses[2], ses[3]
    assert core.ObjectIdentifier.load(alg.dump()).dotted == "1.2.156.10197.1.501"
    assert core.Integer.load(tbs[0].dump()).native == 4
    data_hash = bytes(core.OctetBitString.load(tbs[3].dump()).native)

    # dataHash = SM3 of the bytes the ByteRange covers, as OpenSSL computes it.
    (tmp_path / "signed.bin").write_bytes(_signed(dual.pdf, byte_range))
    digest = _openssl("dgst", "-sm3", "-binary", tmp_path / "signed.bin")
    assert digest.returncode == 0, digest.stderr
    assert digest.stdout == data_hash

    # The SM2 signature over DER(TBS_Sign) with the GM/T 0009 default user id; any other id fails.
    (tmp_path / "tbs.der").write_bytes(tbs.dump())
    (tmp_path / "sig.der").write_bytes(bytes(core.OctetBitString.load(signature.dump()).native))
    signer = _pem_cert(signer_der, tmp_path / "signer.pem")
    pub = _openssl("x509", "-in", signer, "-pubkey", "-noout")
    assert pub.returncode == 0, pub.stderr
    (tmp_path / "signer.pub").write_bytes(pub.stdout)
    verify = ["dgst", "-sm3", "-verify", tmp_path / "signer.pub", "-signature", tmp_path / "sig.der"]
    ok = _openssl(*verify, "-sigopt", DISTID, tmp_path / "tbs.der")
    assert ok.returncode == 0 and b"Verified OK" in ok.stdout, ok.stdout + ok.stderr
    wrong_id = _openssl(*verify, "-sigopt", "distid:ALICE123@YAHOO.COM", tmp_path / "tbs.der")
    assert wrong_id.returncode != 0
    (tmp_path / "tbs-altered.der").write_bytes(tbs.dump()[:-1] + bytes([tbs.dump()[-1] ^ 1]))
    assert _openssl(*verify, "-sigopt", DISTID, tmp_path / "tbs-altered.der").returncode != 0

    # The chain: seal certificate <- SM2 seal CA (the seal maker, whose certificate is in the SESeal) <- SM2 root.
    # OpenSSL 3.0 applies -vfyopt distid only to the certificate at depth 0 (openssl#23471), so each link is
    # checked on its own: the seal certificate against the CA (partial chain), the CA against the root.
    maker_der = core.OctetString.load(tbs[1][1].dump()).native
    assert maker_der == dual.sm2_seal_ca
    ca = _pem_cert(maker_der, tmp_path / "ca.pem")
    root = _pem_cert(dual.sm2_root, tmp_path / "root.pem")
    link1 = _openssl("verify", "-partial_chain", "-vfyopt", DISTID, "-CAfile", ca, signer)
    assert link1.returncode == 0 and b"OK" in link1.stdout, link1.stdout + link1.stderr
    link2 = _openssl("verify", "-vfyopt", DISTID, "-CAfile", root, ca)
    assert link2.returncode == 0 and b"OK" in link2.stdout, link2.stdout + link2.stderr
    foreign = _openssl("verify", "-partial_chain", "-vfyopt", DISTID, "-CAfile", root, signer)
    assert foreign.returncode != 0  # the root did not sign the seal certificate directly
    text = _openssl("x509", "-in", signer, "-noout", "-text").stdout.decode()
    assert "SM2-with-SM3" in text and "Digital Signature, Non Repudiation" in text


def test_the_pades_seal_of_a_dual_sealed_licence_still_passes_openssl_cms_and_pyhanko(dual, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    root = dual.instance.pki.certificate("root")
    contents, byte_range = _signature_field(dual.pdf, "ApprovalSeal")
    # The PAdES seal's ByteRange runs past the national seal's revision: it covers it.
    national_range = _signature_field(dual.pdf, "NationalSeal")[1]
    assert byte_range[2] + byte_range[3] > national_range[2] + national_range[3]
    cms = core.Sequence.load(contents, strict=False).dump()
    (tmp_path / "cms.der").write_bytes(cms)
    (tmp_path / "signed.bin").write_bytes(_signed(dual.pdf, byte_range))
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    checked = _openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "cms.der",
        "-content", tmp_path / "signed.bin", "-CAfile", tmp_path / "root.pem", "-purpose", "any", "-out", "/dev/null",
    )  # fmt: skip
    assert checked.returncode == 0 and b"Verification successful" in checked.stderr, checked.stderr
    # pyHanko AdES (LTA) accepts the PAdES seal offline, trusting only the root.
    root_der = root.public_bytes(serialization.Encoding.DER)
    assert pyhanko_ades_lta(dual.pdf, root_der) == ("PASSED", None)


def test_pdfsig_accepts_the_pades_seal_and_lists_the_national_seal_apart(live_instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import serialization

    from seal_service.services.sealing import LicenceRequest, seal_licence
    from tests.support.pdfs import sample_licence_pdf
    from tests.support.verifiers import make_nss_db, pdfsig

    instance, _server = live_instance
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval")
    sealed = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    assert sealed.seals == ("gm", "pades")
    path = tmp_path / "dual.pdf"
    path.write_bytes(sealed.pdf)
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(instance.pki.certificate("root").public_bytes(serialization.Encoding.PEM))
    report = pdfsig(path, make_nss_db(tmp_path / "nss", root_pem))
    pades = report[report.index("ApprovalSeal") :].split("Signature #")[0]
    assert "Signature is Valid." in pades and "Certificate is Trusted." in pades, report
    national = report[report.index("NationalSeal") : report.index("ApprovalSeal")]
    assert "Signature Type: unknown" in national  # poppler does not know GB/T 38540: it neither accepts nor fails it
