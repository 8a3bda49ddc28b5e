"""A throwaway PKI for the protocol tests, built once per session with ``cryptography``.

root CA -> issuing CA -> {TSA (EC P-256, EC P-384, RSA-3072), OCSP responder (EC, RSA), leaf}

Everything is also written as PEM to a temporary directory so the ``openssl`` CLI — an independent
implementation — can check what our code produces.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Fixed instant used as ``at=`` throughout; certificates are valid well around it and around today
# (openssl and pyHanko check chains against the wall clock).
AT = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2045, 1, 1, tzinfo=UTC)
LEAF_SERIAL = 0x5EA1_0001

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Issued:
    """A certificate, its key and its PEM file."""

    cert: x509.Certificate
    key: PrivateKey
    pem: Path


@dataclass(frozen=True)
class Pki:
    """The test PKI, plus ready-made PEM bundles for openssl."""

    directory: Path
    root: Issued
    ca: Issued
    tsa_ec: Issued
    tsa_p384: Issued
    tsa_rsa: Issued
    ocsp_ec: Issued
    ocsp_rsa: Issued
    leaf: Issued
    root_and_ca_pem: Path = field(init=False)

    def __post_init__(self) -> None:
        bundle = self.directory / "root+ca.pem"
        bundle.write_bytes(self.root.pem.read_bytes() + self.ca.pem.read_bytes())
        object.__setattr__(self, "root_and_ca_pem", bundle)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TW"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "One-Seal Test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    directory: Path,
    slug: str,
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued | None,
    *,
    ca: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    ocsp_nocheck: bool = False,
    serial: int | None = None,
) -> Issued:
    issuer_name = issuer.cert.subject if issuer else subject
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca and eku is None,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if eku:
        # RFC 3161 §2.3: the TSA's EKU must be critical; harmless for the OCSP responder too.
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    if ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    pem = directory / f"{slug}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(cert, key, pem)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Build the whole test PKI once (RSA-3072 generation dominates: ~0.5 s)."""
    d = tmp_path_factory.mktemp("pki")
    p256 = ec.SECP256R1()
    root = _issue(d, "root", _name("Test Root CA"), ec.generate_private_key(p256), None, ca=True)
    ca = _issue(d, "ca", _name("Test Issuing CA"), ec.generate_private_key(p256), root, ca=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ts = [ExtendedKeyUsageOID.TIME_STAMPING]
    ocsp_eku = [ExtendedKeyUsageOID.OCSP_SIGNING]
    return Pki(
        directory=d,
        root=root,
        ca=ca,
        tsa_ec=_issue(d, "tsa-ec", _name("Test TSA EC"), ec.generate_private_key(p256), ca, eku=ts),
        tsa_p384=_issue(d, "tsa-p384", _name("Test TSA P-384"), ec.generate_private_key(ec.SECP384R1()), ca, eku=ts),
        tsa_rsa=_issue(d, "tsa-rsa", _name("Test TSA RSA"), rsa_key, ca, eku=ts),
        ocsp_ec=_issue(
            d, "ocsp-ec", _name("Test OCSP EC"), ec.generate_private_key(p256), ca, eku=ocsp_eku, ocsp_nocheck=True
        ),
        ocsp_rsa=_issue(d, "ocsp-rsa", _name("Test OCSP RSA"), rsa_key, ca, eku=ocsp_eku, ocsp_nocheck=True),
        leaf=_issue(d, "leaf", _name("Test Seal Leaf"), ec.generate_private_key(p256), ca, serial=LEAF_SERIAL),
    )


OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def openssl() -> OpenSSL:
    """Run the ``openssl`` CLI; returns the completed process (stdout+stderr as text), never raises."""

    def run(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["openssl", *map(str, args)], input=stdin, capture_output=True, timeout=30)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )

    return run
