"""The published attacks on PDF signatures, run against our own sealed licences: none may come out valid.

The forged documents are built once per module (tests/support/forgeries.py names each attack's source paper)
from the session's sealed B-LTA licence and from five licences sealed here for the attacks that need content
prepared before sealing (shadow attacks) or a certified document (evil annotation, sneaky signature).
Attacks already covered in test_verify_pdf.py (a changed page content stream, a sticky note, a refilled form
field, bytes appended without a cross-reference, an update hiding an object, a /ByteRange not starting at 0,
tampered signed bytes) are not repeated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from unittest import mock

import pytest
from cryptography import x509

from tests.support import forgeries
from tests.support.pdfs import sample_licence_pdf
from verifier import Verdict, VerificationReport, verify_pdf


@dataclass(frozen=True)
class Prepared:
    """Licences sealed for attacks that need preparation, and one other real seal certificate."""

    hide: bytes
    hide_and_replace: bytes
    replace: bytes
    certified_annotate: bytes
    certified_fill_forms: bytes
    other_seal_cert_der: bytes
    lookalike: bytes


@pytest.fixture(scope="module")
def prepared(sealed) -> Prepared:  # type: ignore[no-untyped-def]
    from pyhanko.sign import fields, signers

    from seal_service.instance import PkiRole
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from seal_service.storage.models import Seal

    instance = sealed.instance

    def seal(pdf: bytes, *, gm: bool = True) -> bytes:
        request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval", gm=gm)
        return bytes(seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC)).pdf)

    def certified(permission: fields.MDPPerm) -> bytes:
        # The service seals approval signatures; a certifying seal is what EAA/SSA target, so make one with the
        # same key, appearance and B-LTA material by asking pyHanko for certify=True + DocMDP.
        original = signers.PdfSignatureMetadata

        def certifying(*args: object, **kwargs: object) -> signers.PdfSignatureMetadata:
            return original(*args, **kwargs, certify=True, docmdp_permissions=permission)  # type: ignore[arg-type]

        with mock.patch.object(signers, "PdfSignatureMetadata", certifying):
            # A certification signature must be the first in the document (ISO 32000): no national seal before it.
            return seal(sample_licence_pdf(), gm=False)

    with instance.sessions() as session:
        other = session.get(Seal, "jc-market-approval").certificates[0].certificate_der
        ours = session.get(Seal, "jc-bureau-approval").certificates[0].certificate_der
    return Prepared(
        hide=seal(forgeries.shadow_hide_prepared()),
        hide_and_replace=seal(forgeries.shadow_hide_and_replace_prepared()),
        replace=seal(forgeries.shadow_replace_prepared()),
        certified_annotate=certified(fields.MDPPerm.ANNOTATE),
        certified_fill_forms=certified(fields.MDPPerm.FILL_FORMS),
        other_seal_cert_der=other,
        lookalike=forgeries.lookalike_licence(
            sample_licence_pdf(),
            instance.pki.certificate(PkiRole.ROOT),
            instance.pki.certificate(PkiRole.SEAL_CA),
            x509.load_der_x509_certificate(ours),
        ),
    )


def verify(pdf: bytes, sealed) -> VerificationReport:  # type: ignore[no-untyped-def]
    report = verify_pdf(pdf, trust_roots=sealed.roots)
    assert report.verdict is not Verdict.VALID, report.to_json()
    assert report.indication.value == "TOTAL_FAILED", report.to_json()
    assert report.messages
    return report


def failed_check(report: VerificationReport) -> str:
    """The name of the check that decided the verdict."""
    failed = [check.name for check in report.checks if check.passed is False]
    assert len(failed) == 1, report.checks
    return failed[0]


# --- universal signature forgery --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["missing", "empty", "null"])
@pytest.mark.parametrize("entry", ["Contents", "ByteRange"])
def test_universal_signature_forgery_is_invalid(sealed, entry: str, how: str) -> None:  # type: ignore[no-untyped-def]
    forge = forgeries.usf_contents if entry == "Contents" else forgeries.usf_byte_range
    report = verify(forge(sealed.b_lta, how), sealed)
    assert (report.verdict, report.subindication) == (Verdict.INVALID, "FORMAT_FAILURE")
    assert failed_check(report) in {"structure", "integrity"}


# --- incremental saving attacks ---------------------------------------------------------------------------------

ISA: dict[str, Callable[[bytes], bytes]] = {
    "overlay": forgeries.isa_overlay,
    "page-tree-swap": forgeries.isa_page_tree_swap,
    "root-swap": forgeries.isa_root_swap,
}


@pytest.mark.parametrize("attack", list(ISA))
def test_incremental_saving_attacks_are_modified(sealed, attack: str) -> None:  # type: ignore[no-untyped-def]
    report = verify(ISA[attack](sealed.b_lta), sealed)
    assert (report.verdict, report.subindication) == (Verdict.MODIFIED, "FORMAT_FAILURE")
    assert str(report.messages[0]) == "文件在盖章后被修改 / The document was changed after sealing"
    assert failed_check(report) == "coverage"
    assert report.seal is not None and report.seal.seal_id == "jc-bureau-approval"


# --- signature wrapping -----------------------------------------------------------------------------------------


def test_signature_wrapping_is_invalid(sealed) -> None:  # type: ignore[no-untyped-def]
    wrapped = forgeries.signature_wrapping(sealed.b_lta)
    report = verify(wrapped, sealed)
    assert (report.verdict, report.subindication) == (Verdict.INVALID, "FORMAT_FAILURE")
    assert any("/ByteRange" in d for d in report.details)


# --- shadow attacks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "attack"),
    [
        ("hide", forgeries.shadow_hide),
        ("hide_and_replace", forgeries.shadow_hide_and_replace),
        ("replace", forgeries.shadow_replace),
    ],
    ids=["hide", "hide-and-replace", "replace-optional-content"],
)
def test_shadow_attacks_are_modified(sealed, prepared: Prepared, variant: str, attack) -> None:  # type: ignore[no-untyped-def]
    genuine = getattr(prepared, variant)
    # The prepared document is a genuine licence: its hidden content is part of what the bureau sealed.
    assert verify_pdf(genuine, trust_roots=sealed.roots).verdict is Verdict.VALID
    report = verify(attack(genuine), sealed)
    assert (report.verdict, report.subindication) == (Verdict.MODIFIED, "FORMAT_FAILURE")
    assert failed_check(report) == "coverage"


# --- certified documents ----------------------------------------------------------------------------------------


def test_evil_annotation_on_a_certified_licence_is_modified(sealed, prepared: Prepared) -> None:  # type: ignore[no-untyped-def]
    assert verify_pdf(prepared.certified_annotate, trust_roots=sealed.roots).verdict is Verdict.VALID
    report = verify(forgeries.evil_annotation(prepared.certified_annotate), sealed)
    assert (report.verdict, failed_check(report)) == (Verdict.MODIFIED, "coverage")


def test_sneaky_signature_on_a_certified_licence_is_modified(sealed, prepared: Prepared) -> None:  # type: ignore[no-untyped-def]
    assert verify_pdf(prepared.certified_fill_forms, trust_roots=sealed.roots).verdict is Verdict.VALID
    report = verify(forgeries.sneaky_signature(prepared.certified_fill_forms), sealed)
    assert (report.verdict, failed_check(report)) == (Verdict.MODIFIED, "coverage")


# --- certificates and the CMS -----------------------------------------------------------------------------------


def test_a_self_made_ca_copying_our_names_is_invalid(sealed, prepared: Prepared) -> None:  # type: ignore[no-untyped-def]
    report = verify(prepared.lookalike, sealed)
    assert (report.verdict, report.subindication) == (Verdict.INVALID, "SIG_CRYPTO_FAILURE")
    assert failed_check(report) == "chain-revocation-time"
    assert "冒用" in report.messages[0].zh and "impersonates" in report.messages[0].en
    # It looks like our seal in every name a person would read.
    assert report.seal is not None and report.seal.name == "晋城市行政审批服务管理局行政审批专用章"


@pytest.mark.parametrize("strip_lta", [False, True], ids=["b-lta", "stripped-to-signed-revision"])
@pytest.mark.parametrize("attack", ["swap-certificate", "alter-signed-attribute"])
def test_cms_manipulation_is_invalid(sealed, prepared: Prepared, attack: str, strip_lta: bool) -> None:  # type: ignore[no-untyped-def]
    # With the B-LTA updates in place the document time-stamp covers the CMS and breaks first; a forger strips
    # them, and then the seal's own signature value must fail (pyHanko alone says NO_SIGNING_CERTIFICATE_FOUND).
    document = forgeries.signed_revision(sealed.b_lta) if strip_lta else sealed.b_lta
    if attack == "swap-certificate":
        forged = forgeries.swap_signer_certificate(document, prepared.other_seal_cert_der)
    else:
        forged = forgeries.alter_signed_attribute(document)
    report = verify(forged, sealed)
    assert report.verdict is Verdict.INVALID
    assert report.subindication == ("SIG_CRYPTO_FAILURE" if strip_lta else "HASH_FAILURE")
    assert failed_check(report) == "integrity"


@pytest.mark.parametrize("keep", [0.2, 0.6, 0.97])
def test_a_truncated_file_is_not_valid(sealed, keep: float) -> None:  # type: ignore[no-untyped-def]
    report = verify(forgeries.truncate(sealed.b_lta, keep), sealed)
    assert report.subindication == "FORMAT_FAILURE"
    assert failed_check(report) == "structure"
    assert "truncated" in " ".join(str(m) for m in report.messages)
