"""Real sealed licences for the verifier's tests: one throwaway instance per session, its root, foreign roots.

The verifier package must not import ``seal_service``; its tests may, to *produce* documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pdfs import sample_licence_pdf


@dataclass(frozen=True)
class Sealed:
    """Documents sealed by one instance, and what is needed to verify them."""

    b_lta: bytes
    b_lta_form: bytes
    b_lt: bytes
    b_b: bytes
    unsigned: bytes
    sealed_at: datetime
    root: x509.Certificate
    root_pem: Path
    instance: object = None
    """The instance that sealed them (a ``seal_service.instance.Instance``), to seal more in tests."""

    @property
    def roots(self) -> list[x509.Certificate]:
        return [self.root]


def form_licence_pdf() -> bytes:
    """The sample licence with a filled-in text field ``holder`` = "Alice" (forms are allowed input)."""
    pdf = pikepdf.open(BytesIO(sample_licence_pdf()))
    page = pdf.pages[0].obj
    field = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=pikepdf.Name.Tx,
            T=pikepdf.String("holder"),
            V=pikepdf.String("Alice"),
            Rect=[72, 600, 300, 620],
            F=4,
            P=page,
            DA=pikepdf.String("/Helv 12 Tf 0 g"),
        )
    )
    page.Annots = pikepdf.Array([field])
    pdf.Root.AcroForm = pdf.make_indirect(
        pikepdf.Dictionary(Fields=pikepdf.Array([field]), DA=pikepdf.String("/Helv 12 Tf 0 g"))
    )
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.fixture(scope="session")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    """B-LTA (also one with a form field), B-LT and B-B licences sealed with the demo bureau seal, and the root."""
    from seal_service.instance import PkiRole
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from seal_service.signing.sealer import PadesLevel
    from tests.conftest import make_instance, make_settings

    home = tmp_path_factory.mktemp("verifier-instance")
    instance = make_instance(make_settings(home))
    pdf = sample_licence_pdf()
    at = datetime.now(UTC)

    def seal(level: PadesLevel, document: bytes = pdf) -> bytes:
        request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval", level=level)
        return bytes(seal_licence(instance, document, request, actor="test", at=at).pdf)

    root: x509.Certificate = instance.pki.certificate(PkiRole.ROOT)
    root_pem = home / "root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return Sealed(
        b_lta=seal(PadesLevel.B_LTA),
        b_lta_form=seal(PadesLevel.B_LTA, form_licence_pdf()),
        b_lt=seal(PadesLevel.B_LT),
        b_b=seal(PadesLevel.B_B),
        unsigned=pdf,
        sealed_at=at,
        root=root,
        root_pem=root_pem,
        instance=instance,
    )


def self_signed_root(common_name: str, organisation: str = "Elsewhere PKI") -> x509.Certificate:
    """A CA certificate nobody sealed with."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        ]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="session")
def make_root() -> Callable[[str], x509.Certificate]:
    """A factory of self-signed CA certificates with the given common name."""
    return self_signed_root


@pytest.fixture(scope="session")
def foreign_root() -> x509.Certificate:
    """A root with another name and key."""
    return self_signed_root("Some Other Root CA")


@pytest.fixture(scope="session")
def lookalike_root(sealed: Sealed) -> x509.Certificate:
    """A root whose subject is byte for byte the real root's (same attributes, order and string types), with
    another key: only the key tells them apart."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = sealed.root.subject
    now = datetime.now(UTC)
    lookalike = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    assert lookalike.subject.public_bytes() == sealed.root.subject.public_bytes()
    return lookalike
