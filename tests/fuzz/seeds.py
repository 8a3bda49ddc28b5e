"""Make the fuzzing PKI and seed corpora from real objects (``python -m tests.fuzz.seeds``; run once, kept in git).

Every seed is a real input of its entry point, made here with the service's own code or the standard tools the
other tests use (pyHanko to sign, cryptography for OCSP requests, asn1crypto for time-stamp requests, httpx to
encode a multipart upload), small enough (a few KB) for the fuzzer to mutate quickly. The PKI (test-only keys,
never used outside tests/fuzz) is kept so that signed seeds stay valid against the same root on every run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FUZZ = Path(__file__).resolve().parent
PKI = FUZZ / "pki"
CORPUS = FUZZ / "corpus"
#: The clock of every harness: inside the PKI's validity and the seed bundle's.
AT = datetime(2026, 6, 2, tzinfo=UTC)
ISSUED = datetime(2026, 6, 1, tzinfo=UTC)


def _write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def make_pki() -> None:
    """Root, seal CA, seal, TSA, OCSP and bundle certificates and keys (EC P-256), written as PEM under pki/."""
    from seal_service.pki.certificates import (
        PkiUrls,
        SealSubject,
        build_bundle_certificate,
        build_ca,
        build_ocsp_certificate,
        build_root,
        build_seal_certificate,
        build_tsa_certificate,
    )

    PKI.mkdir(exist_ok=True)
    urls = PkiUrls("http://127.0.0.1:9")
    at = ISSUED - timedelta(days=30)
    keys = {role: ec.generate_private_key(ec.SECP256R1()) for role in ("root", "ca", "seal", "tsa", "ocsp", "bundle")}
    root = build_root(key=keys["root"], at=at)
    by_root = {"issuer": root, "issuer_key": keys["root"], "at": at, "urls": urls}
    ca = build_ca(key=keys["ca"], **by_root)  # type: ignore[arg-type]
    certs = {
        "root": root,
        "ca": ca,
        "tsa": build_tsa_certificate(key=keys["tsa"], **by_root),  # type: ignore[arg-type]
        "bundle": build_bundle_certificate(key=keys["bundle"], **by_root),  # type: ignore[arg-type]
        "ocsp": build_ocsp_certificate(key=keys["ocsp"], issuer=ca, issuer_key=keys["ca"], at=at, urls=urls),
        "seal": build_seal_certificate(
            subject=SealSubject(
                seal_name="晋城市行政审批服务管理局行政审批专用章",
                authority_name="晋城市行政审批服务管理局",
                credit_code="11140500MB01234568",
                jurisdiction_code="140500",
                seal_id="jc-bureau-approval",
            ),
            public_key=keys["seal"].public_key(),
            issuer=ca,
            issuer_key=keys["ca"],
            at=at,
            urls=urls,
        ),
    }
    for role, cert in certs.items():
        (PKI / f"{role}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (PKI / f"{role}.key").write_bytes(
            keys[role].private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def make_corpora() -> None:
    """Seed files for every target from real objects signed by the PKI under pki/."""
    from asn1crypto import algos, tsp
    from cryptography.x509 import ocsp
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from seal_service.samples import demo_licence_pdf
    from seal_service.services.trust_bundle import canonical_json, iso, sign_payload
    from tests.fuzz.targets import load_pki, tsa_authority

    pki = load_pki()
    plain = demo_licence_pdf()
    _write("pdf_checks", "licence.pdf", plain)
    _write("sign_input", "licence.pdf", plain)
    from tests.support.pdfs import sample_licence_pdf

    _write("sign_input", "two-pages-uncompressed.pdf", sample_licence_pdf(pages=2))

    signer = signers.SimpleSigner.load(
        str(PKI / "seal.key"), str(PKI / "seal.pem"), ca_chain_files=(str(PKI / "ca.pem"), str(PKI / "root.pem"))
    )
    assert signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(plain)), signers.PdfSignatureMetadata(field_name="Seal"), signer=signer
    )
    signed = out.getvalue()
    _write("verify_pdf", "sealed.pdf", signed)
    _write("pdf_checks", "sealed.pdf", signed)

    # Objects as the object reader meets them (the bytes after "N 0 obj"), from both documents.
    for number, match in enumerate(re.finditer(rb"\d+ 0 obj\s*(.*?)endobj", signed, re.S)):
        body = match.group(1)
        if b"stream" not in body and len(body) < 3000:
            _write("object_reader", f"object-{number}.bin", body)

    # The CMS SignedData of the signature, and a time-stamp token's TSTInfo.
    contents = re.search(rb"/Contents <([0-9a-fA-F]+)>", signed)
    assert contents is not None
    cms_der = bytes.fromhex(contents.group(1).decode()).rstrip(b"\x00")
    _write("cms", "signed-data.der", cms_der)
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": hashlib.sha256(b"licence").digest(),
            },
            "nonce": 12345,
            "cert_req": True,
        }
    ).dump()
    _write("tsa_request", "request.der", request)
    response = tsp.TimeStampResp.load(tsa_authority(pki).respond(request, at=AT))
    token = response["time_stamp_token"]
    _write("cms", "timestamp-token.der", token.dump())
    _write("cms", "tst-info.der", token["content"]["encap_content_info"]["content"].parsed.dump())
    _write("cms", "certificate.der", pki.certs["seal"].public_bytes(serialization.Encoding.DER))

    builder = ocsp.OCSPRequestBuilder().add_certificate(pki.certs["seal"], pki.certs["ca"], hashes.SHA1())  # noqa: S303 - RFC 5019 CertIDs use SHA-1
    _write("ocsp_request", "request.der", builder.build().public_bytes(serialization.Encoding.DER))
    with_nonce = builder.add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
    _write("ocsp_request", "request-nonce.der", with_nonce.build().public_bytes(serialization.Encoding.DER))

    def b64(cert: x509.Certificate) -> str:
        return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

    seal_der = pki.certs["seal"].public_bytes(serialization.Encoding.DER)
    payload = canonical_json(
        {
            "bundle_format": 1,
            "version": 1,
            "issued_at": iso(ISSUED),
            "next_update": iso(ISSUED + timedelta(days=7)),
            "publisher": "http://127.0.0.1:9",
            "pki": {k: b64(pki.certs[v]) for k, v in (("root", "root"), ("seal-ca", "ca"), ("tsa", "tsa"))}
            | {"bundle": b64(pki.certs["bundle"])},
            "authorities": [
                {
                    "code": "jc-bureau",
                    "name": "晋城市行政审批服务管理局",
                    "kind": "bureau",
                    "jurisdiction": "140500",
                    "credit_code": "11140500MB01234568",
                }
            ],
            "seals": [
                {
                    "id": "jc-bureau-approval",
                    "name": "行政审批专用章",
                    "authority": "jc-bureau",
                    "status": "active",
                    "history": [],
                    "certificates": [
                        {
                            "serial": format(pki.certs["seal"].serial_number, "x"),
                            "sha256": hashlib.sha256(seal_der).hexdigest(),
                            "der": base64.b64encode(seal_der).decode(),
                            "not_before": iso(pki.certs["seal"].not_valid_before_utc),
                            "not_after": iso(pki.certs["seal"].not_valid_after_utc),
                            "revocation": None,
                        }
                    ],
                }
            ],
            "items": [
                {
                    "code": "JC-001",
                    "name": "食品经营许可",
                    "licence_type_code": "11100000000013338W011",
                    "sealed_by": [{"authority": "jc-bureau", "from": "2019-04-28", "until": None, "memorandum": 1}],
                }
            ],
            "memoranda": [],
        }
    )
    _write("trust_bundle_payload", "payload.json", payload)
    bundle = sign_payload(payload, certificate=pki.certs["bundle"], key=pki.keys["bundle"])
    _write("trust_bundle", "bundle.json", bundle)

    import httpx

    upload = httpx.Request(
        "POST",
        "http://127.0.0.1/v1/licences",
        data={"item_code": "JC-001", "holder_name": "晋城市示例餐饮有限公司", "holder_code": "11430000006122244L",
              "holder_code_type": "001", "level": "B-B"},
        files={"pdf": ("licence.pdf", plain, "application/pdf")},
    )  # fmt: skip
    upload.read()
    _write("multipart_upload", "upload.bin", upload.headers["content-type"].encode() + b"\r\n\r\n" + upload.content)
    print(json.dumps({p.name: len(list(p.iterdir())) for p in sorted(CORPUS.iterdir())}))


if __name__ == "__main__":
    make_pki()
    make_corpora()
