"""The cached impersonation check (verifier/checks.py) answers exactly as the uncached original, cache hit or not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.verifier.conftest import Sealed
from verifier import checks


def _original(sig: Any, trust_roots: Sequence[x509.Certificate]) -> str | None:
    """verifier.checks.impersonated_issuer as it was before its cache."""
    by_name = {root.subject.public_bytes(): root for root in trust_roots}
    root_ders = {root.public_bytes(Encoding.DER) for root in trust_roots}
    for choice in sig.signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        der = choice.chosen.dump()
        if der in root_ders:
            continue
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        root = by_name.get(cert.issuer.public_bytes())
        if root is None:
            continue
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            return (
                f"certificate {cert.subject.rfc4514_string()} (serial {cert.serial_number:x}) names the trusted root "
                f"{root.subject.rfc4514_string()} as its issuer, but that root's key did not sign it"
            )
    return None


def _self_signed(name: x509.Name) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def test_same_answers_as_the_original(
    sealed: Sealed, lookalike_root: x509.Certificate, foreign_root: x509.Certificate
) -> None:
    root = sealed.root
    # A "root" with the name of the CA that issued the seal certificate (in the CMS), but another key: impersonated.
    seal_sig = next(
        sig for sig in PdfFileReader(BytesIO(sealed.b_lta)).embedded_signatures if sig.sig_object_type == "/Sig"
    )
    ca_name = x509.load_der_x509_certificate(seal_sig.signer_cert.dump()).issuer
    ca_lookalike = _self_signed(ca_name)
    assert ca_lookalike.subject.public_bytes() == ca_name.public_bytes()
    root_sets: list[list[x509.Certificate]] = [
        [root],
        [lookalike_root],
        [root, lookalike_root],
        [lookalike_root, root],
        [foreign_root],
        [foreign_root, lookalike_root],
        [ca_lookalike],
        [root, ca_lookalike],
        [ca_lookalike, foreign_root, root],
        [],
    ]
    seen_problem = seen_none = False
    for data in (sealed.b_lta, sealed.b_lta_form, sealed.b_lt, sealed.b_b):
        signatures = list(PdfFileReader(BytesIO(data)).embedded_signatures)
        assert signatures
        for roots in root_sets:
            for sig in signatures:
                expected = _original(sig, roots)
                checks._IMPERSONATION.clear()
                assert checks.impersonated_issuer(sig, roots) == expected  # computed
                assert checks.impersonated_issuer(sig, roots) == expected  # cached
                seen_problem |= expected is not None
                seen_none |= expected is None
    assert seen_problem and seen_none
    # Interleaved, so that answers for one root set are in the cache while another is asked.
    signatures = list(PdfFileReader(BytesIO(sealed.b_lta)).embedded_signatures)
    for _ in range(2):
        for roots in root_sets:
            for sig in signatures:
                assert checks.impersonated_issuer(sig, roots) == _original(sig, roots)


def test_bounded(sealed: Sealed, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real eviction in impersonated_issuer runs: the cache never exceeds its bound, and answers made after an
    eviction are still the uncached original's."""
    monkeypatch.setattr(checks, "_MAX_ENTRIES", 6)
    checks._IMPERSONATION.clear()
    signatures = list(PdfFileReader(BytesIO(sealed.b_lta)).embedded_signatures)
    lookalike = _self_signed(sealed.root.subject)
    root_sets = [[sealed.root, _self_signed(x509.Name.from_rfc4514_string(f"CN=Root {n}"))] for n in range(8)]
    sizes, evictions = [], 0
    for roots in [*root_sets, [lookalike], [sealed.root], *root_sets]:
        for sig in signatures:
            before = len(checks._IMPERSONATION)
            assert checks.impersonated_issuer(sig, roots) == _original(sig, roots)
            evictions += len(checks._IMPERSONATION) < before
            sizes.append(len(checks._IMPERSONATION))
    assert max(sizes) <= 6 and evictions >= 2, sizes
    checks._IMPERSONATION.clear()
