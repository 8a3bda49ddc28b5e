"""The signer facts read strictly (verifier/_signer_facts.py) give the same reports as the asn1crypto code.

Every document of the forgery corpus (swapped certificates, altered signed attributes, RSA-3072 licences, shadow
attacks...) and licences whose CMS bytes were altered at random are verified twice: as shipped, and with every
strict reading made to answer "undecided" (so the asn1crypto code decides, as before). The reports must be
identical, and the strict reading must have answered most of the time (else this compares nothing).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from cryptography import x509

from tests.verifier.test_fast_path import Corpus, corpus, rsa  # noqa: F401  # module-scoped fixtures
from tests.verifier.test_forgeries import Prepared, prepared  # noqa: F401  # the module-scoped fixture
from verifier import _signer_facts
from verifier.engine import Verifier

_FACTS = ("signer_certificate", "signature_time_stamp_time", "committed_digest", "signature_value_problem")


@contextmanager
def _counting() -> Iterator[dict[str, int]]:
    """How often each strict reading answered (not undecided)."""
    answered = dict.fromkeys(_FACTS, 0)
    originals = {name: getattr(_signer_facts, name) for name in _FACTS}

    def counted(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = originals[name](*args, **kwargs)
            answered[name] += 1
            return result

        return call

    with mock.patch.multiple(_signer_facts, **{name: counted(name) for name in _FACTS}):
        yield answered


@contextmanager
def _asn1crypto_only() -> Iterator[None]:
    def undecided(*args: Any, **kwargs: Any) -> Any:
        raise _signer_facts.Undecided

    with mock.patch.multiple(_signer_facts, **dict.fromkeys(_FACTS, undecided)):
        yield


def _same_reports(pdf: bytes, roots: list[x509.Certificate], at: datetime, *, fast_path: bool = True) -> str:
    strict = Verifier(trust_roots=roots, fast_path=fast_path).verify(pdf, at=at, file="x.pdf")
    with _asn1crypto_only():
        before = Verifier(trust_roots=roots, fast_path=fast_path).verify(pdf, at=at, file="x.pdf")
    assert strict.to_json() == before.to_json()
    return strict.verdict.value


def test_the_corpus_gets_the_same_reports(sealed, corpus: Corpus) -> None:  # noqa: F811
    at = datetime.now(UTC)
    with _counting() as answered:
        verdicts = {name: _same_reports(pdf, sealed.roots, at) for name, pdf in corpus.documents.items()}
        for name, pdf in corpus.rsa.items():
            verdicts[name] = _same_reports(pdf, [corpus.rsa_root], at)
    assert {"valid", "invalid"} <= set(verdicts.values())
    assert all(count > len(corpus.documents) // 2 for count in answered.values()), answered


def test_the_corpus_gets_the_same_reports_without_the_fast_path(sealed, corpus: Corpus) -> None:  # noqa: F811
    at = datetime.now(UTC)
    for name in ("b-lta", "b-lt", "b-b", "shadow-replace-genuine", "certified-annotate"):
        _same_reports(corpus.documents[name], sealed.roots, at, fast_path=False)


def _contents_spans(pdf: bytes) -> list[tuple[int, int]]:
    """Where the hex digits of each CMS signature's /Contents are (ContentInfo of signedData; the national seal's
    SES_Signature on dual-sealed licences is not CMS and is left out)."""
    return [
        (m.start(1), m.end(1))
        for m in re.finditer(rb"/Contents <([0-9A-Fa-f]+)>", pdf)
        if b"2a864886f70d010702" in m.group(1)[:40].lower()
    ]


@pytest.mark.parametrize("document", ["b-lta", "rsa-b-lta"])
def test_licences_with_altered_cms_bytes_get_the_same_reports(sealed, corpus: Corpus, document: str) -> None:  # noqa: F811
    pdf = corpus.rsa[document] if document.startswith("rsa") else corpus.documents[document]
    roots = [corpus.rsa_root] if document.startswith("rsa") else sealed.roots
    rng = random.Random(document)  # noqa: S311  # reproducible mutations, not secrets
    at = datetime.now(UTC)
    spans = _contents_spans(pdf)
    assert len(spans) == 2
    verdicts = []
    for _ in range(16):
        start, end = rng.choice(spans)
        # Mostly near the front (the CMS structure, the signer info), sometimes anywhere (certificates, tokens).
        limit = min(end, start + 600) if rng.random() < 0.5 else end
        at_digit = rng.randrange(start, limit)
        altered = bytearray(pdf)
        altered[at_digit] = ord(rng.choice("0123456789ABCDEF".replace(chr(altered[at_digit]).upper(), "")))
        verdicts.append(_same_reports(bytes(altered), roots, at))
    assert "invalid" in verdicts or "indeterminate" in verdicts


def test_a_swapped_signature_value_is_a_crypto_failure_either_way(sealed) -> None:
    pdf = sealed.b_b  # one signature: no document time-stamp over the seal's /Contents to break first
    start, end = _contents_spans(pdf)[0]
    # A hex digit of the seal's signature value changed: SIG_CRYPTO_FAILURE in both readings.
    cms = bytes.fromhex(pdf[start:end].decode())
    from verifier import _cms

    signature = _cms.signed_data(cms).signer_infos[0].signature
    at_byte = cms.find(signature) + len(signature) // 2
    altered = bytearray(pdf)
    digit = start + 2 * at_byte
    altered[digit] = ord("0") if altered[digit] != ord("0") else ord("1")
    report = Verifier(trust_roots=sealed.roots).verify(bytes(altered), at=datetime.now(UTC))
    assert report.subindication == "SIG_CRYPTO_FAILURE"
    assert _same_reports(bytes(altered), sealed.roots, datetime.now(UTC)) == "invalid"


def test_a_signer_identifier_naming_another_issuer_is_left_to_asn1crypto(sealed) -> None:
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    from verifier import _cms

    pdf = sealed.b_b
    start, end = _contents_spans(pdf)[0]
    cms = bytes.fromhex(pdf[start:end].decode())
    signed = _cms.signed_data(cms)
    issuer = signed.signer_infos[0].sid_issuer
    assert issuer is not None
    # The signer identifier is the first thing after the certificates (the ESS attribute repeats the name later):
    # change the last byte of its issuer name (commonName text), so the certificate with its serial has another.
    after_certificates = max(cms.find(der) + len(der) for der in signed.certificates)
    at_byte = cms.find(issuer, after_certificates) + len(issuer) - 1
    altered_cms = bytearray(cms)
    altered_cms[at_byte] ^= 0x01
    altered = pdf[:start] + bytes(altered_cms).hex().upper().encode() + pdf[end:]
    sig = PdfFileReader(BytesIO(altered)).embedded_signatures[0]
    with pytest.raises(_signer_facts.Undecided):
        _signer_facts.signer_certificate(sig)
    assert _same_reports(altered, sealed.roots, datetime.now(UTC)) != "valid"
