"""RFC 6960 OCSP responder: requests from ``openssl ocsp -reqout``, responses checked by
``openssl ocsp -respin`` (an independent verifier) and by ``cryptography``."""

from __future__ import annotations

import base64
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from seal_service.protocols.ocsp import CertificateStatus, OCSPResponder, ocsp_get_request_bytes

AT = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
REVOKED_AT = datetime(2025, 5, 20, 8, 30, 0, tzinfo=UTC)
# openssl checks thisUpdate/nextUpdate against the wall clock; AT is fixed in the past, so allow
# ~60 years of skew and let the assertions on the printed times do the checking instead.
SKEW = "2000000000"


class Registry:
    """A mutable stand-in for the certificate registry."""

    def __init__(self) -> None:
        self.statuses: dict[int, CertificateStatus] = {}
        self.lookups = 0

    def __call__(self, serial: int) -> CertificateStatus | None:
        self.lookups += 1
        return self.statuses.get(serial)


@pytest.fixture
def registry(pki) -> Registry:
    registry = Registry()
    registry.statuses[pki.leaf.cert.serial_number] = CertificateStatus(pki.leaf.cert.serial_number)
    return registry


@pytest.fixture
def responder(pki, registry: Registry) -> OCSPResponder:
    return OCSPResponder(
        issuer=pki.ca.cert, responder_certificate=pki.ocsp_ec.cert, responder_key=pki.ocsp_ec.key, status_of=registry
    )


def _request(openssl, pki, tmp_path: Path, *options: str, issuer: Path | None = None, cert: Path | None = None) -> Path:
    out = tmp_path / "req.der"
    result = openssl(
        "ocsp", "-issuer", issuer or pki.ca.pem, *options, "-cert", cert or pki.leaf.pem, "-reqout", out
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _check(
    openssl, pki, tmp_path: Path, request: Path, response: bytes, *trust: str | Path, digest: str = "-sha1"
) -> str:
    """Run openssl's verifier over ``response`` as an answer to ``request``; returns all its output.

    Two passes, because ``openssl ocsp`` builds a fresh request (with a fresh nonce) as soon as it
    sees ``-cert``: one with ``-reqin`` only, checking signature and nonce and dumping the response;
    one with ``-issuer/-cert -no_nonce`` for the per-certificate status summary.
    """
    resp = tmp_path / "resp.der"
    resp.write_bytes(response)
    common = ("-respin", resp, "-CAfile", pki.root_and_ca_pem, *trust, "-validity_period", SKEW)
    dump = openssl("ocsp", *common, "-reqin", request, "-resp_text")
    summary = openssl("ocsp", *common, "-issuer", pki.ca.pem, digest, "-cert", pki.leaf.pem, "-no_nonce")
    return dump.stdout + dump.stderr + summary.stdout + summary.stderr


def _built_request(pki, nonce: bytes | None = None) -> bytes:
    """An OCSPRequest for the leaf built by ``cryptography``, SHA-1 CertID as RFC 5019 clients send."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(pki.leaf.cert, pki.ca.cert, hashes.SHA1())  # noqa: S303
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_good_with_nonce_sha1_certid(responder, pki, openssl, tmp_path: Path) -> None:
    request = _request(openssl, pki, tmp_path)  # openssl: SHA-1 CertID and a nonce by default

    output = _check(
        openssl, pki, tmp_path, request, responder.respond(request.read_bytes(), at=AT), "-VAfile", pki.ocsp_ec.pem
    )

    assert output.count("Response verify OK") == 2  # both the -reqin (nonce) pass and the summary pass
    assert f"{pki.leaf.pem}: good" in output
    assert "This Update: Jun  1 12:00:00 2025 GMT" in output
    assert "Next Update: Jun  2 00:00:00 2025 GMT" in output
    assert "Produced At: Jun  1 12:00:00 2025 GMT" in output
    assert "Hash Algorithm: sha1" in output
    assert "OCSP Nonce" in output
    assert "no nonce in response" not in output and "Nonce Verify error" not in output


def test_delegated_responder_verifies_through_the_chain_alone(responder, pki, openssl, tmp_path: Path) -> None:
    # No -VAfile: openssl must accept the responder because the CA issued it with id-kp-OCSPSigning.
    request = _request(openssl, pki, tmp_path, "-sha256")

    output = _check(openssl, pki, tmp_path, request, responder.respond(request.read_bytes(), at=AT), digest="-sha256")

    assert "Response verify OK" in output
    assert f"{pki.leaf.pem}: good" in output
    assert "Hash Algorithm: sha256" in output


def test_nonce_echoed_byte_for_byte(responder, pki, openssl, tmp_path: Path) -> None:
    request = ocsp.load_der_ocsp_request(_request(openssl, pki, tmp_path).read_bytes())
    response = ocsp.load_der_ocsp_response(responder.respond(request.public_bytes(serialization.Encoding.DER), at=AT))

    requested = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert echoed == requested and len(echoed) == 16


def test_revoked_with_reason(responder, registry: Registry, pki, openssl, tmp_path: Path) -> None:
    serial = pki.leaf.cert.serial_number
    registry.statuses[serial] = CertificateStatus(serial, REVOKED_AT, x509.ReasonFlags.key_compromise)
    request = _request(openssl, pki, tmp_path, "-no_nonce")

    output = _check(
        openssl, pki, tmp_path, request, responder.respond(request.read_bytes(), at=AT), "-VAfile", pki.ocsp_ec.pem
    )

    assert "Response verify OK" in output
    assert f"{pki.leaf.pem}: revoked" in output
    assert "Reason: keyCompromise" in output
    assert "Revocation Time: May 20 08:30:00 2025 GMT" in output


def test_revocation_after_at_is_not_yet_visible(responder, registry: Registry, pki) -> None:
    serial = pki.leaf.cert.serial_number
    registry.statuses[serial] = CertificateStatus(serial, AT + timedelta(days=1), x509.ReasonFlags.superseded)

    before = ocsp.load_der_ocsp_response(responder.response_for(pki.leaf.cert, at=AT))
    after = ocsp.load_der_ocsp_response(responder.response_for(pki.leaf.cert, at=AT + timedelta(days=2)))

    assert before.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert after.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_reason is x509.ReasonFlags.superseded


def test_unknown_serial_and_foreign_issuer(responder, registry: Registry, pki, openssl, tmp_path: Path) -> None:
    registry.statuses.clear()
    request = _request(openssl, pki, tmp_path)
    output = _check(
        openssl, pki, tmp_path, request, responder.respond(request.read_bytes(), at=AT), "-VAfile", pki.ocsp_ec.pem
    )
    assert "Response verify OK" in output
    assert f"{pki.leaf.pem}: unknown" in output

    # A CertID naming another issuer (the root, for the issuing CA's certificate) is not ours.
    foreign = _request(openssl, pki, tmp_path, issuer=pki.root.pem, cert=pki.ca.pem).read_bytes()
    response = ocsp.load_der_ocsp_response(responder.respond(foreign, at=AT))
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert response.serial_number == pki.ca.cert.serial_number


def test_response_fields_and_signature(responder, pki, openssl, tmp_path: Path) -> None:
    der = responder.respond(_request(openssl, pki, tmp_path, "-sha256").read_bytes(), at=AT)
    response = ocsp.load_der_ocsp_response(der)

    assert response.produced_at_utc == AT
    assert response.this_update_utc == AT
    assert response.next_update_utc == AT + timedelta(hours=12)
    assert response.certificates == [pki.ocsp_ec.cert]
    assert response.hash_algorithm.name == "sha256"
    assert response.responder_key_hash is not None
    pki.ocsp_ec.cert.public_key().verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )


def test_response_is_canonical_der(responder, registry: Registry, pki) -> None:
    serial = pki.leaf.cert.serial_number
    registry.statuses[serial] = CertificateStatus(serial, REVOKED_AT, x509.ReasonFlags.key_compromise)
    # The response is assembled from pre-encoded parts; re-encoding it must not change a byte.
    der = responder.respond(_built_request(pki, bytes(16)), at=AT)

    assert asn1_ocsp.OCSPResponse.load(der).dump(force=True) == der
    with pytest.raises(ValueError, match="timezone-aware"):
        responder.respond(der, at=datetime(2025, 6, 1))


def test_rsa_responder_and_several_certificates(pki, registry: Registry, openssl, tmp_path: Path) -> None:
    for issued in (pki.leaf, pki.tsa_ec):
        registry.statuses[issued.cert.serial_number] = CertificateStatus(issued.cert.serial_number)
    rsa_responder = OCSPResponder(
        issuer=pki.ca.cert, responder_certificate=pki.ocsp_rsa.cert, responder_key=pki.ocsp_rsa.key, status_of=registry
    )
    request = tmp_path / "req.der"
    result = openssl(
        "ocsp", "-issuer", pki.ca.pem, "-cert", pki.leaf.pem, "-cert", pki.tsa_ec.pem, "-reqout", request
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (tmp_path / "resp.der").write_bytes(rsa_responder.respond(request.read_bytes(), at=AT))

    common = ("-respin", tmp_path / "resp.der", "-CAfile", pki.root_and_ca_pem, "-validity_period", SKEW)
    nonce_check = openssl("ocsp", *common, "-reqin", request)
    summary = openssl(
        "ocsp", *common, "-issuer", pki.ca.pem, "-cert", pki.leaf.pem, "-cert", pki.tsa_ec.pem, "-no_nonce"
    )  # fmt: skip
    assert "Response verify OK" in nonce_check.stderr and "Nonce" not in nonce_check.stdout + nonce_check.stderr
    assert "Response verify OK" in summary.stderr
    assert f"{pki.leaf.pem}: good" in summary.stdout and f"{pki.tsa_ec.pem}: good" in summary.stdout


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x30\x00", b"\x30\x03\x02\x01", b"hello" * 50, b"\x30\x84\xff\xff\xff\xff", bytes(20000)],
)
def test_malformed_request(garbage: bytes, responder) -> None:
    response = ocsp.load_der_ocsp_response(responder.respond(garbage, at=AT))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_malformed_request_as_openssl_sees_it(responder, openssl, tmp_path: Path) -> None:
    (tmp_path / "resp.der").write_bytes(responder.respond(b"\x30\x03garbage", at=AT))
    output = openssl("ocsp", "-respin", tmp_path / "resp.der", "-resp_text", "-noverify").stdout
    assert "Responder Error: malformedrequest (1)" in output


def test_oversized_nonce_is_malformed(responder, pki) -> None:
    too_long = ocsp.load_der_ocsp_response(responder.respond(_built_request(pki, bytes(33)), at=AT))
    just_right = ocsp.load_der_ocsp_response(responder.respond(_built_request(pki, bytes(32)), at=AT))

    assert too_long.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert just_right.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL


def test_registry_failure_is_internal_error(pki) -> None:
    def broken(serial: int) -> CertificateStatus | None:
        raise ConnectionError("registry down")

    failing = OCSPResponder(
        issuer=pki.ca.cert, responder_certificate=pki.ocsp_ec.cert, responder_key=pki.ocsp_ec.key, status_of=broken
    )
    response = ocsp.load_der_ocsp_response(failing.respond(_built_request(pki), at=AT))

    assert response.response_status is ocsp.OCSPResponseStatus.INTERNAL_ERROR


def test_get_form_round_trip(responder, pki, openssl, tmp_path: Path) -> None:
    der = _request(openssl, pki, tmp_path).read_bytes()
    path = urllib.parse.quote(base64.b64encode(der).decode(), safe="")

    assert "%2F" in path or "%2B" in path or "%3D" in path  # the escapes clients really send
    assert ocsp_get_request_bytes(path) == der
    assert ocsp_get_request_bytes(base64.b64encode(der).decode()) == der  # unescaped '/' and '+' too
    response = ocsp.load_der_ocsp_response(responder.respond(ocsp_get_request_bytes(path), at=AT))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert ocsp_get_request_bytes("MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ%2F%2BAQIDBAUGBwgJCgsMDQ4PEBESBBQ%3D") == (
        base64.b64decode("MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ/+AQIDBAUGBwgJCgsMDQ4PEBESBBQ=")
    )


@pytest.mark.parametrize("garbage", ["", "not base64!", "%ZZ", "AAA", "QUJD%", "////%2"])
def test_get_form_garbage(garbage: str) -> None:
    with pytest.raises(ValueError):
        ocsp_get_request_bytes(garbage)


def test_response_for_is_cached_within_half_validity(responder, registry: Registry, pki) -> None:
    first = responder.response_for(pki.leaf.cert, at=AT)
    again = responder.response_for(pki.leaf.cert, at=AT + timedelta(hours=5, minutes=59))
    later = responder.response_for(pki.leaf.cert, at=AT + timedelta(hours=6))

    assert again == first
    assert later != first
    assert ocsp.load_der_ocsp_response(later).produced_at_utc == AT + timedelta(hours=6)
    assert ocsp.load_der_ocsp_response(first).hash_algorithm.name == "sha1"


def test_nonceless_requests_share_the_cache(responder, pki) -> None:
    assert responder.respond(_built_request(pki), at=AT) == responder.response_for(pki.leaf.cert, at=AT)


def test_status_change_or_invalidate_gives_new_response(responder, registry: Registry, pki) -> None:
    serial = pki.leaf.cert.serial_number
    good = responder.response_for(pki.leaf.cert, at=AT)

    # The registry changes: the next call notices without invalidate().
    registry.statuses[serial] = CertificateStatus(serial, REVOKED_AT, x509.ReasonFlags.cessation_of_operation)
    revoked = responder.response_for(pki.leaf.cert, at=AT + timedelta(minutes=1))
    parsed = ocsp.load_der_ocsp_response(revoked)
    assert revoked != good
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_time_utc == REVOKED_AT
    assert parsed.revocation_reason is x509.ReasonFlags.cessation_of_operation

    # invalidate() forces a fresh response even when the status is unchanged.
    assert responder.response_for(pki.leaf.cert, at=AT + timedelta(minutes=2)) == revoked
    responder.invalidate(serial)
    fresh = responder.response_for(pki.leaf.cert, at=AT + timedelta(minutes=2))
    assert fresh != revoked
    assert ocsp.load_der_ocsp_response(fresh).produced_at_utc == AT + timedelta(minutes=2)
    responder.invalidate()
    assert responder.response_for(pki.leaf.cert, at=AT + timedelta(minutes=3)) != fresh


def test_nonce_responses_are_never_cached(responder, pki) -> None:
    request = _built_request(pki, b"0123456789abcdef")

    # ECDSA signatures are randomised: identical bytes would mean a cached answer.
    assert responder.respond(request, at=AT) != responder.respond(request, at=AT)


def test_configuration_is_checked(pki, registry: Registry) -> None:
    with pytest.raises(ValueError, match="OCSPSigning"):
        OCSPResponder(
            issuer=pki.ca.cert, responder_certificate=pki.leaf.cert, responder_key=pki.leaf.key, status_of=registry
        )
    with pytest.raises(ValueError, match="issued directly"):
        OCSPResponder(
            issuer=pki.root.cert,
            responder_certificate=pki.ocsp_ec.cert,
            responder_key=pki.ocsp_ec.key,
            status_of=registry,
        )
    with pytest.raises(ValueError, match="does not match"):
        OCSPResponder(
            issuer=pki.ca.cert, responder_certificate=pki.ocsp_ec.cert, responder_key=pki.leaf.key, status_of=registry
        )
    # The CA may also answer for itself.
    OCSPResponder(issuer=pki.ca.cert, responder_certificate=pki.ca.cert, responder_key=pki.ca.key, status_of=registry)
