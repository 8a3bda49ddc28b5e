"""RFC 3161 TSA: requests from ``openssl ts -query``, responses checked by ``openssl ts -verify`` and
by pyHanko (document time-stamp and signature time-stamp)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import cms, core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seal_service.protocols.tsa import InProcessTimeStamper, TimestampAuthority

AT = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
POLICY = "1.3.6.1.4.1.61142.1.1.1"


class TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp; asn1crypto 1.5's own class cannot parse a rejection (token not OPTIONAL)."""

    _fields = [  # noqa: RUF012
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _authority(issued, pki) -> TimestampAuthority:
    return TimestampAuthority(certificate=issued.cert, private_key=issued.key, chain=[pki.ca.cert])


def _query(openssl, tmp_path: Path, *options: str) -> bytes:
    data = tmp_path / "data.bin"
    data.write_bytes(b"licence 2025-000123 approved")
    out = tmp_path / "req.tsq"
    result = openssl("ts", "-query", "-data", data, *options, "-out", out)
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def _verify(openssl, pki, tmp_path: Path, request: bytes, response: bytes, tsa_pem: Path):
    (tmp_path / "req.tsq").write_bytes(request)
    (tmp_path / "resp.tsr").write_bytes(response)
    return openssl(
        "ts", "-verify", "-in", tmp_path / "resp.tsr", "-queryfile", tmp_path / "req.tsq",
        "-CAfile", pki.root_and_ca_pem, "-untrusted", tsa_pem,
    )  # fmt: skip


def _tst_info(response: bytes) -> tsp.TSTInfo:
    resp = tsp.TimeStampResp.load(response)
    assert resp["status"]["status"].native == "granted"
    return resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed


@pytest.mark.parametrize("which", ["tsa_ec", "tsa_p384", "tsa_rsa"])
def test_openssl_verifies_response(which: str, pki, openssl, tmp_path: Path) -> None:
    issued = getattr(pki, which)
    request = _query(openssl, tmp_path, "-sha256", "-cert")
    response = _authority(issued, pki).respond(request, at=AT)

    result = _verify(openssl, pki, tmp_path, request, response, issued.pem)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification: OK" in result.stdout
    text = openssl("ts", "-reply", "-in", tmp_path / "resp.tsr", "-text").stdout
    assert "Status: Granted." in text
    assert "Time stamp: Jun  1 12:00:00 2025 GMT" in text
    assert f"Policy OID: {POLICY}" in text
    assert "Accuracy: 0x01 seconds" in text


def test_nonce_is_echoed_and_time_is_at(pki, openssl, tmp_path: Path) -> None:
    request = _query(openssl, tmp_path, "-sha512", "-cert")
    nonce = tsp.TimeStampReq.load(request)["nonce"].native
    assert nonce is not None  # openssl adds one by default

    info = _tst_info(_authority(pki.tsa_ec, pki).respond(request, at=AT))

    assert info["nonce"].native == nonce
    assert info["gen_time"].native == AT
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha512"
    digest = hashlib.sha512(b"licence 2025-000123 approved").digest()
    assert info["message_imprint"]["hashed_message"].native == digest


def test_cert_req_decides_certificates(pki, openssl, tmp_path: Path) -> None:
    tsa = _authority(pki.tsa_ec, pki)
    without = _query(openssl, tmp_path, "-sha256", "-no_nonce")
    with_certs = _query(openssl, tmp_path, "-sha256", "-no_nonce", "-cert")

    token_without = tsp.TimeStampResp.load(tsa.respond(without, at=AT))["time_stamp_token"]
    token_with = tsp.TimeStampResp.load(tsa.respond(with_certs, at=AT))["time_stamp_token"]

    assert not token_without["content"]["certificates"]
    subjects = {c.chosen.subject.native["common_name"] for c in token_with["content"]["certificates"]}
    assert subjects == {"Test TSA EC", "Test Issuing CA"}
    assert token_without["content"]["encap_content_info"]["content"].parsed["nonce"].native is None
    # Without embedded certs openssl still verifies when given the TSA cert.
    result = _verify(openssl, pki, tmp_path, without, tsa.respond(without, at=AT), pki.tsa_ec.pem)
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr


def test_signed_attributes_carry_ess_signing_certificate_v2(pki) -> None:
    token = _authority(pki.tsa_rsa, pki).token(message_imprint=bytes(32), hash_algorithm="sha256", nonce=7, at=AT)
    signer_info = token["content"]["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}

    assert set(attrs) == {"content_type", "message_digest", "signing_certificate_v2"}
    assert attrs["content_type"].native == "tst_info"
    ess = attrs["signing_certificate_v2"]["certs"][0]
    tsa_der = pki.tsa_rsa.cert.public_bytes(serialization.Encoding.DER)
    assert ess["cert_hash"].native == hashlib.sha256(tsa_der).digest()
    assert ess["issuer_serial"]["serial_number"].native == pki.tsa_rsa.cert.serial_number
    tst_der = token["content"]["encap_content_info"]["content"].contents
    assert attrs["message_digest"].native == hashlib.sha256(tst_der).digest()


@pytest.mark.parametrize("which", ["tsa_ec", "tsa_rsa"])
def test_token_is_canonical_der(which: str, pki, openssl, tmp_path: Path) -> None:
    # The token is assembled from pre-encoded parts; re-encoding it must not change a byte.
    request = _query(openssl, tmp_path, "-sha256", "-cert")
    response = _authority(getattr(pki, which), pki).respond(request, at=AT)

    assert tsp.TimeStampResp.load(response).dump(force=True) == response


def test_serial_numbers_are_unique(pki) -> None:
    tsa = _authority(pki.tsa_ec, pki)

    def serial() -> int:
        token = tsa.token(message_imprint=bytes(32), hash_algorithm="sha256", nonce=None, at=AT)
        return token["content"]["encap_content_info"]["content"].parsed["serial_number"].native

    assert len({serial() for _ in range(50)}) == 50


def _status(response: bytes) -> tuple[str, set[str]]:
    parsed = TimeStampResp.load(response)
    status = parsed["status"]
    assert parsed["time_stamp_token"].native is None
    return status["status"].native, set(status["fail_info"].native or ())


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        (b"", "bad_data_format"),
        (b"\x30\x03\x02\x01", "bad_data_format"),
        (b"not a request at all" * 10, "bad_data_format"),
        (b"\x30" + b"\x84\xff\xff\xff\xff", "bad_data_format"),
        (bytes(20000), "bad_data_format"),
    ],
)
def test_garbage_is_rejected_without_raising(request_der: bytes, fail_info: str, pki) -> None:
    assert _status(_authority(pki.tsa_ec, pki).respond(request_der, at=AT)) == ("rejection", {fail_info})


@pytest.mark.parametrize(
    ("options", "fail_info", "openssl_text"),
    [
        (("-sha1",), "bad_alg", "unrecognized or unsupported algorithm identifier"),
        (("-md5",), "bad_alg", "unrecognized or unsupported algorithm identifier"),
        (
            ("-sha256", "-tspolicy", "1.2.3.4"),
            "unaccepted_policy",
            "the requested TSA policy is not supported by the TSA",
        ),
    ],
)
def test_unsupported_requests_are_rejected(options, fail_info, openssl_text, pki, openssl, tmp_path) -> None:
    response = _authority(pki.tsa_ec, pki).respond(_query(openssl, tmp_path, *options), at=AT)

    assert _status(response) == ("rejection", {fail_info})
    (tmp_path / "resp.tsr").write_bytes(response)
    text = openssl("ts", "-reply", "-in", tmp_path / "resp.tsr", "-text").stdout
    assert "Status: Rejected." in text
    assert openssl_text in text


def _request(imprint: bytes = bytes(32), **extra: object) -> bytes:
    fields = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": imprint},
        "cert_req": True,
        **extra,
    }
    return tsp.TimeStampReq(fields).dump()


def test_request_checks(pki) -> None:
    tsa = _authority(pki.tsa_ec, pki)
    extension = {"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}

    granted = tsp.TimeStampResp.load(tsa.respond(_request(req_policy=POLICY), at=AT))
    assert granted["status"]["status"].native == "granted"
    assert _status(tsa.respond(_request(bytes(31)), at=AT)) == ("rejection", {"bad_data_format"})
    assert _status(tsa.respond(_request(version=2), at=AT)) == ("rejection", {"bad_request"})
    rejected = tsa.respond(_request(extensions=[extension]), at=AT)
    assert _status(rejected) == ("rejection", {"unaccepted_extensions"})


def test_token_checks_its_arguments(pki) -> None:
    tsa = _authority(pki.tsa_ec, pki)
    with pytest.raises(ValueError, match="32 bytes"):
        tsa.token(message_imprint=bytes(31), hash_algorithm="sha256", nonce=None, at=AT)
    with pytest.raises(ValueError, match="unsupported"):
        tsa.token(message_imprint=bytes(20), hash_algorithm="sha1", nonce=None, at=AT)


def test_configuration_is_checked(pki) -> None:
    with pytest.raises(ValueError, match="does not match"):
        TimestampAuthority(certificate=pki.tsa_ec.cert, private_key=pki.tsa_rsa.key)
    with pytest.raises(ValueError, match="timeStamping"):
        TimestampAuthority(certificate=pki.ocsp_ec.cert, private_key=pki.ocsp_ec.key)
    with pytest.raises(ValueError, match="timezone-aware"):
        _authority(pki.tsa_ec, pki).respond(b"", at=datetime(2025, 1, 1))


# --- pyHanko -------------------------------------------------------------------------------------


def _tiny_pdf() -> BytesIO:
    writer = PdfFileWriter()
    content = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (seal) Tj ET"))
    writer.insert_page(
        PageObject(contents=content, media_box=generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))))
    )
    out = BytesIO()
    writer.write(out)
    out.seek(0)
    return out


def _validation_context(pki) -> ValidationContext:
    root = load_cert_from_pemder(str(pki.root.pem))
    ca = load_cert_from_pemder(str(pki.ca.pem))
    return ValidationContext(trust_roots=[root], other_certs=[ca], allow_fetching=False)


def test_pyhanko_document_timestamp_validates(pki) -> None:
    timestamper = InProcessTimeStamper(_authority(pki.tsa_ec, pki), clock=lambda: AT)

    signed = signers.PdfTimeStamper(timestamper).timestamp_pdf(IncrementalPdfFileWriter(_tiny_pdf()), "sha256")

    embedded = PdfFileReader(signed).embedded_signatures
    assert len(embedded) == 1
    status = validate_pdf_timestamp(embedded[0], validation_context=_validation_context(pki))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp == AT


def test_pyhanko_signature_timestamp_validates(pki) -> None:
    # A real signing flow: pyHanko signs "now", so the TSA clock is the wall clock too.
    timestamper = InProcessTimeStamper(_authority(pki.tsa_rsa, pki), clock=lambda: datetime.now(UTC))
    key_der = pki.leaf.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(pki.leaf.cert.public_bytes(serialization.Encoding.DER)),
        signing_key=keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([load_cert_from_pemder(str(pki.ca.pem))]),
    )

    signed = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Seal"), signer=signer, timestamper=timestamper
    ).sign_pdf(IncrementalPdfFileWriter(_tiny_pdf()))

    vc = _validation_context(pki)
    status = validate_pdf_signature(
        PdfFileReader(signed).embedded_signatures[0], signer_validation_context=vc, ts_validation_context=vc
    )
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.valid and status.timestamp_validity.trusted


def test_in_process_timestamper_refuses_rejections(pki) -> None:
    timestamper = InProcessTimeStamper(_authority(pki.tsa_ec, pki), clock=lambda: AT)

    with pytest.raises(TimestampRequestError, match="bad_alg"):
        asyncio.run(timestamper.async_timestamp(hashlib.sha1(b"x").digest(), "sha1"))  # noqa: S324
    token = asyncio.run(timestamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))
    assert isinstance(token, cms.ContentInfo)


def test_in_process_timestamper_checks_the_imprint(pki) -> None:
    class SwappingAuthority(TimestampAuthority):
        """A faulty TSA that stamps something other than what it was asked to."""

        def respond(self, request_der: bytes, *, at: datetime) -> bytes:
            request = tsp.TimeStampReq.load(request_der)
            return super().respond(_request(bytes(32), nonce=request["nonce"].native), at=at)

    faulty = SwappingAuthority(certificate=pki.tsa_ec.cert, private_key=pki.tsa_ec.key)
    timestamper = InProcessTimeStamper(faulty, clock=lambda: AT)

    with pytest.raises(TimestampRequestError, match="does not certify"):
        asyncio.run(timestamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))
