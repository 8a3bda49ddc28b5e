"""A whole self-made PKI copying our names byte for byte (root, seal CA, seal certificate) with its own keys.

Every name a verifier could compare is identical to the real chain's encoding; only the keys differ. The
verifier, trusting our root, must refuse the forged licence, and must refuse our real licence when it is handed
the lookalike root instead of ours.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyhanko.pdf_utils.reader import PdfFileReader

from seal_service.instance import PkiRole
from seal_service.storage.models import Seal
from tests.support import forgeries
from tests.support.pdfs import sample_licence_pdf
from tests.verifier.conftest import Sealed
from verifier import Verdict, verify_pdf


def _public(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def forged(sealed: Sealed) -> tuple[bytes, list[x509.Certificate], list[x509.Certificate]]:
    """(the forged licence, its chain [seal, CA, root], the real chain [seal, CA, root])."""
    instance = sealed.instance  # type: ignore[attr-defined]
    with instance.sessions() as session:
        ours = x509.load_der_x509_certificate(session.get(Seal, "jc-bureau-approval").certificates[0].certificate_der)
    real = [ours, instance.pki.certificate(PkiRole.SEAL_CA), instance.pki.certificate(PkiRole.ROOT)]
    pdf = forgeries.lookalike_licence(sample_licence_pdf(), real[2], real[1], real[0])
    (sig,) = PdfFileReader(BytesIO(pdf)).embedded_signatures
    embedded = [x509.load_der_x509_certificate(c.chosen.dump()) for c in sig.signed_data["certificates"]]
    seal = next(c for c in embedded if c.subject.public_bytes() == ours.subject.public_bytes() and c != ours)
    ca = next(c for c in embedded if c.subject.public_bytes() == seal.issuer.public_bytes())
    root = next(c for c in embedded if c.subject.public_bytes() == ca.issuer.public_bytes())
    return pdf, [seal, ca, root], real


def test_the_lookalike_chain_copies_every_name_byte_for_byte(forged) -> None:  # type: ignore[no-untyped-def]
    _, fake, real = forged
    for made, genuine in zip(fake, real, strict=True):
        assert made.subject.public_bytes() == genuine.subject.public_bytes()
        assert made.issuer.public_bytes() == genuine.issuer.public_bytes()
        assert _public(made) != _public(genuine)


def test_the_verifier_refuses_a_licence_sealed_by_the_lookalike_chain(sealed: Sealed, forged) -> None:  # type: ignore[no-untyped-def]
    pdf, _, _ = forged
    report = verify_pdf(pdf, trust_roots=sealed.roots)
    assert report.verdict is Verdict.INVALID, report.to_json()
    assert report.indication.value == "TOTAL_FAILED"
    assert "impersonates" in report.messages[0].en


def test_the_lookalike_root_does_not_vouch_for_our_real_licence(sealed: Sealed, lookalike_root) -> None:  # type: ignore[no-untyped-def]
    assert lookalike_root.subject.public_bytes() == sealed.root.subject.public_bytes()
    assert _public(lookalike_root) != _public(sealed.root)
    report = verify_pdf(sealed.b_lta, trust_roots=[lookalike_root])
    assert report.verdict is not Verdict.VALID, report.to_json()
    assert verify_pdf(sealed.b_lta, trust_roots=sealed.roots).verdict is Verdict.VALID
