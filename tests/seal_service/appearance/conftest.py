"""Shared fixtures for the appearance tests: a throwaway EC signer, a blank A4 licence, a seal, a built appearance.

Everything is real: pyHanko signs, poppler renders and extracts, zxing decodes. Expensive things (font extraction
and subsetting, the seal drawing, the appearance build) are session-scoped so the suite stays well under 20 s.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from appearance_testkit import A4, AUTHORITY
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seal_service.appearance.seal_image import draw_seal_image
from seal_service.appearance.stamp import SealAppearance, StampText, stamp_box

SignFn = Callable[..., bytes]


@pytest.fixture(scope="session")
def signer_cert() -> tuple[asn1_x509.Certificate, asn1_keys.PrivateKeyInfo]:
    """A fresh self-signed P-256 seal certificate (with the document-signing EKU poppler wants) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, AUTHORITY),
            x509.NameAttribute(NameOID.COMMON_NAME, "行政审批专用章 (test)"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .sign(key, hashes.SHA256())
    )
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    asn1_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return asn1_cert, asn1_key


@pytest.fixture(scope="session")
def signer(signer_cert: tuple[asn1_x509.Certificate, asn1_keys.PrivateKeyInfo]) -> signers.SimpleSigner:
    """pyHanko's SimpleSigner over the throwaway certificate, built once (key loading is not free)."""
    cert, key = signer_cert
    return signers.SimpleSigner(
        signing_cert=cert, signing_key=key, cert_registry=SimpleCertificateStore.from_certs([cert])
    )


@pytest.fixture(scope="session")
def blank_licence() -> bytes:
    """A one-page A4 PDF with a little Latin text, standing in for a rendered licence."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=A4)
    page = pdf.pages[0]
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(
        b"BT /F1 24 Tf 72 760 Td (Licence / Permit) Tj /F1 11 Tf 0 -40 Td "
        b"(This page stands in for a licence rendered by the service.) Tj ET"
    )
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.fixture(scope="session")
def font_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session font cache (extracted face + subsets), like the instance directory's."""
    return tmp_path_factory.mktemp("fonts")


@pytest.fixture(scope="session")
def seal_png() -> bytes:
    """The drawn seal of the test authority."""
    return draw_seal_image(authority_name=AUTHORITY)


@pytest.fixture(scope="session")
def appearance(seal_png: bytes, font_cache_dir: Path) -> SealAppearance:
    """The appearance, built once for the whole session as the service would per seal."""
    return SealAppearance.build(seal_png=seal_png, font_cache_dir=font_cache_dir, extra_chars=AUTHORITY)


@pytest.fixture(scope="session")
def sign(signer: signers.SimpleSigner, blank_licence: bytes) -> SignFn:
    """``sign(appearance, text, box=None)``: the blank licence signed with a visible stamp, as PDF bytes."""

    def _sign(app: SealAppearance, text: StampText, box: tuple[float, float, float, float] | None = None) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(blank_licence))
        pdf_signer = signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name="Seal1"),
            signer=signer,
            stamp_style=app.stamp_style(text),
            new_field_spec=fields.SigFieldSpec(sig_field_name="Seal1", on_page=0, box=box or stamp_box(*A4, app)),
        )
        out = io.BytesIO()
        pdf_signer.sign_pdf(writer, output=out)
        return out.getvalue()

    return _sign
