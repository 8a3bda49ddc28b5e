"""The TSA, OCSP and CRL endpoints as other clients use them: openssl over real HTTP."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from seal_service.instance import PkiRole
from seal_service.storage.models import Seal


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def test_tsa_over_http_verifies_with_openssl(live_instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    instance, server = live_instance
    data = tmp_path / "data.txt"
    data.write_text("行政审批专用章")
    query = tmp_path / "q.tsq"
    assert _openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)).returncode == 0
    response = httpx.post(
        f"{server.url}/tsa", content=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/timestamp-reply"
    reply = tmp_path / "r.tsr"
    reply.write_bytes(response.content)
    roots = tmp_path / "root.pem"
    roots.write_bytes(_pem(instance.pki.certificate(PkiRole.ROOT)))
    verified = _openssl("ts", "-verify", "-in", str(reply), "-queryfile", str(query), "-CAfile", str(roots))
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr


def test_tsa_refuses_a_wrong_content_type_with_a_problem(live_instance) -> None:  # type: ignore[no-untyped-def]
    _, server = live_instance
    response = httpx.post(f"{server.url}/tsa", content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "application/timestamp-query" in response.json()["detail"]


def test_ocsp_post_and_get_over_http(live_instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    instance, server = live_instance
    with instance.sessions() as session:
        cert_der = session.get(Seal, "jc-bureau-approval").certificates[-1].certificate_der
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(_pem(x509.load_der_x509_certificate(cert_der)))
    issuer = tmp_path / "ca.pem"
    issuer.write_bytes(_pem(instance.pki.certificate(PkiRole.SEAL_CA)))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(_pem(instance.pki.certificate(PkiRole.ROOT)) + issuer.read_bytes())
    result = _openssl(
        "ocsp", "-issuer", str(issuer), "-cert", str(leaf), "-url", f"{server.url}/ocsp", "-CAfile", str(chain)
    )
    assert "Response verify OK" in result.stderr + result.stdout, result.stderr
    assert f"{leaf}: good" in result.stdout
    # RFC 5019 GET form of the same request.
    request = tmp_path / "req.der"
    _openssl("ocsp", "-issuer", str(issuer), "-cert", str(leaf), "-no_nonce", "-reqout", str(request))
    encoded = base64.b64encode(request.read_bytes()).decode()
    response = httpx.get(f"{server.url}/ocsp/{encoded}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response"
    answer = tmp_path / "resp.der"
    answer.write_bytes(response.content)
    checked = _openssl(
        "ocsp", "-respin", str(answer), "-issuer", str(issuer), "-cert", str(leaf), "-no_nonce", "-CAfile", str(chain)
    )
    assert f"{leaf}: good" in checked.stdout, checked.stderr
    assert httpx.get(f"{server.url}/ocsp/%%%garbage").status_code in (400, 422)


def test_crls_are_der_signed_by_their_ca(live_instance) -> None:  # type: ignore[no-untyped-def]
    instance, server = live_instance
    for role, issuer_role in (("seal-ca", PkiRole.SEAL_CA), ("root", PkiRole.ROOT)):
        response = httpx.get(f"{server.url}/crl/{role}.crl")
        assert response.headers["content-type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(response.content)
        assert crl.is_signature_valid(instance.pki.certificate(issuer_role).public_key())
        assert crl.next_update_utc > crl.last_update_utc
    assert httpx.get(f"{server.url}/crl/nope.crl").status_code == 404
