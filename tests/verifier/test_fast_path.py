"""The fast path (verifier/_fastpath.py, verifier/_fastdiff.py) against pyHanko's full validation.

Three kinds of test:

* differential: every document of the forgery corpus (tests/support/forgeries.py and the documents of
  test_forgeries.py / test_verify_pdf.py), valid B-LTA / B-LT / B-T / B-B licences with P-256 and RSA-3072 seals,
  and licences sealed here with deliberately bad validation material, verified with the fast path on and off: the
  reports must be identical. Valid B-LTA licences must really take the fast path (else the comparison proves
  nothing);
* negative: for each condition the fast path checks, a document breaking it, and the fast path refusing it;
* cache: nothing cached for one document, time or set of trust roots changes the outcome for another.

Documents with bad validation material are sealed by the session's instance with its own PKI keys, through the
real sealer with ``Sealer._validation_material`` (or the DSS writer) wrapped to alter what goes into the DSS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any
from unittest import mock

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.support import forgeries
from tests.support.pdfs import sample_licence_pdf
from tests.verifier.test_forgeries import ISA, Prepared, prepared  # noqa: F401  # the module-scoped fixture
from tests.verifier.test_verify_pdf import (
    annotation_update,
    hand_written_update,
    page_content_update,
    refill_form_field,
)
from verifier import Verdict, VerificationReport, _cms
from verifier import _fastpath as fastpath
from verifier._fastdiff import _check_metadata_uses, _references, check_lta_update
from verifier._fastpath import FastPass, FastPath, FastPathRefused, clear_caches, seal_and_timestamp
from verifier.engine import Verifier

LATER = {
    "now": timedelta(0),
    "after-crl-next-update": timedelta(days=30),
    "after-seal-certificate-expiry": timedelta(days=4 * 365),
    "after-tsa-certificate-expiry": timedelta(days=6 * 365),
    "before-sealing": timedelta(days=-1),
}


# --- helpers ----------------------------------------------------------------------------------------------------


def both(
    pdf: bytes, roots: list[x509.Certificate], at: datetime, crls: tuple[bytes, ...] = ()
) -> tuple[VerificationReport, VerificationReport]:
    """The report with the fast path on and with it off."""
    fast = Verifier(trust_roots=roots, crls=crls).verify(pdf, at=at, file="x.pdf")
    full = Verifier(trust_roots=roots, crls=crls, fast_path=False).verify(pdf, at=at, file="x.pdf")
    return fast, full


def assert_same(pdf: bytes, roots: list[x509.Certificate], at: datetime, crls: tuple[bytes, ...] = ()) -> Verdict:
    fast, full = both(pdf, roots, at, crls)
    assert (fast.verdict, fast.indication, fast.subindication) == (full.verdict, full.indication, full.subindication)
    assert fast.to_json() == full.to_json()
    return fast.verdict


def fast_check(pdf: bytes, roots: list[x509.Certificate], at: datetime) -> FastPass:
    reader = PdfFileReader(BytesIO(pdf))
    return FastPath(roots).check(reader, list(reader.embedded_signatures), at)


def fast_coverage(pdf: bytes) -> None:
    reader = PdfFileReader(BytesIO(pdf))
    seal, stamp = seal_and_timestamp(reader, list(reader.embedded_signatures))
    check_lta_update(pdf, reader, seal, stamp)


def fast_path_log(
    caplog: pytest.LogCaptureFixture, pdf: bytes, roots: list[x509.Certificate], at: datetime
) -> list[str]:
    """What the fast path logged while verifying ``pdf`` (after the report's verdict)."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="verifier.fastpath"):
        report = Verifier(trust_roots=roots).verify(pdf, at=at)
    return [report.verdict.value] + [r.getMessage() for r in caplog.records if r.name == "verifier.fastpath"]


TOOK_FAST_PATH = ["valid", "fast coverage passed", "fast path passed"]


def tsa_not_after(pdf: bytes) -> datetime:
    reader = PdfFileReader(BytesIO(pdf))
    stamp = next(sig for sig in reader.embedded_signatures if sig.sig_object_type == "/DocTimeStamp")
    certs = [c.chosen for c in stamp.signed_data["certificates"]]
    tsa = next(c for c in certs if c.subject != c.issuer)
    return x509.load_der_x509_certificate(tsa.dump()).not_valid_after_utc


# --- documents sealed here --------------------------------------------------------------------------------------


def seal(instance: Any, level: str = "B-LTA", pdf: bytes | None = None, at: datetime | None = None) -> bytes:
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from seal_service.signing.sealer import PadesLevel

    request = LicenceRequest(
        item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval", level=PadesLevel(level)
    )
    return bytes(
        seal_licence(instance, pdf or sample_licence_pdf(), request, actor="test", at=at or datetime.now(UTC)).pdf
    )


Tweak = Callable[[Any, Any, list[Any], list[Any], list[Any], datetime], tuple[list[Any], list[Any], list[Any]]]


def seal_with_material(instance: Any, tweak: Tweak) -> bytes:
    """A B-LTA licence whose DSS holds ``tweak(instance, material, certs, ocsps, crls, at)`` instead."""
    from seal_service.signing.sealer import Sealer

    original = Sealer._validation_material

    def altered(self: Any, material: Any, at: datetime) -> tuple[list[Any], list[Any], list[Any]]:
        certs, ocsps, crls = original(self, material, at)
        return tweak(instance, material, certs, ocsps, crls, at)

    with mock.patch.object(Sealer, "_validation_material", altered):
        return seal(instance)


def seal_with_lta_extra(instance: Any, extra: Callable[[Any], None], pdf: bytes | None = None) -> bytes:
    """A B-LTA licence whose DSS revision also carries ``extra(writer)`` (before the document time-stamp)."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    original = DocumentSecurityStore.supply_dss_in_writer

    def with_extra(writer: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(writer, *args, **kwargs)
        extra(writer)
        return result

    with mock.patch.object(DocumentSecurityStore, "supply_dss_in_writer", with_extra):
        return seal(instance, pdf=pdf)


def pki(instance: Any, role: str) -> tuple[x509.Certificate, Any]:
    from seal_service.instance import PkiRole

    return instance.pki.certificate(PkiRole(role)), instance.pki.key(PkiRole(role))


def ocsp_response(
    instance: Any,
    material: Any,
    *,
    this_update: datetime,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    revoked_at: datetime | None = None,
) -> asn1_ocsp.OCSPResponse:
    """An OCSP response of the instance's responder for the seal certificate of ``material``."""
    responder, key = pki(instance, "ocsp")
    seal_ca, _ = pki(instance, "seal-ca")
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=material.certificate,
            issuer=seal_ca,
            algorithm=hashes.SHA1(),  # noqa: S303  # the OCSP certID hash RFC 5019 mandates
            cert_status=status,
            this_update=this_update,
            next_update=this_update + timedelta(hours=12),
            revocation_time=revoked_at,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
        .certificates([responder])
    )
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization_der())
    return asn1_ocsp.OCSPResponse.load(der)


def serialization_der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def root_crl(instance: Any, at: datetime, revoked_serials: list[int]) -> bytes:
    """A CRL of the instance's root listing ``revoked_serials`` (revoked a day before ``at``)."""
    root, key = pki(instance, "root")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(at)
        .next_update(at + timedelta(days=7))
        .add_extension(x509.CRLNumber(10**6), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()), critical=False)  # type: ignore[arg-type]
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at - timedelta(days=1)).build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization_der())


def is_root_crl(crl: asn1_crl.CertificateList, instance: Any) -> bool:
    root, _ = pki(instance, "root")
    return bool(crl["tbs_cert_list"]["issuer"].dump() == root.subject.public_bytes())


def revoked_ocsp(instance, material, certs, ocsps, crls, at):  # type: ignore[no-untyped-def]
    return (
        certs,
        [
            ocsp_response(
                instance,
                material,
                this_update=at,
                status=ocsp.OCSPCertStatus.REVOKED,
                revoked_at=at - timedelta(days=1),
            )
        ],
        crls,
    )


def stale_ocsp(instance, material, certs, ocsps, crls, at):  # type: ignore[no-untyped-def]
    return certs, [ocsp_response(instance, material, this_update=at - timedelta(days=2))], crls


def earlier_ocsp(instance, material, certs, ocsps, crls, at):  # type: ignore[no-untyped-def]
    # Within its window, made five hours before the seal (the service reuses a response for half its validity).
    # cryptography stamps producedAt with the wall clock, which falls after the document time-stamp (taken at
    # ``at``) whenever a second boundary passes meanwhile: the response is produced at ``at`` instead.
    response = ocsp_response(instance, material, this_update=at - timedelta(hours=5))
    return certs, [produced_at(instance, response, at.replace(microsecond=0))], crls


def produced_at(instance: Any, response: asn1_ocsp.OCSPResponse, when: datetime) -> asn1_ocsp.OCSPResponse:
    """``response`` with its producedAt set to ``when``, signed again by the instance's OCSP responder."""
    _, key = pki(instance, "ocsp")
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # the P-256 instance of these tests
    basic = response["response_bytes"]["response"].parsed
    basic["tbs_response_data"]["produced_at"] = when
    basic["signature"] = key.sign(basic["tbs_response_data"].dump(force=True), ec.ECDSA(hashes.SHA256()))
    response["response_bytes"]["response"] = basic
    return asn1_ocsp.OCSPResponse.load(response.dump(force=True))


def crl_listing_seal_ca(instance, material, certs, ocsps, crls, at):  # type: ignore[no-untyped-def]
    seal_ca, _ = pki(instance, "seal-ca")
    forged = asn1_crl.CertificateList.load(root_crl(instance, at, [seal_ca.serial_number]))
    return certs, ocsps, [forged if is_root_crl(crl, instance) else crl for crl in crls]


def two_ocsps(instance, material, certs, ocsps, crls, at):  # type: ignore[no-untyped-def]
    return certs, [*ocsps, ocsp_response(instance, material, this_update=at)], crls


def no_root_crl(instance, material, certs, ocsps, crls, at):  # type: ignore[no-untyped-def]
    return certs, ocsps, [crl for crl in crls if not is_root_crl(crl, instance)]


MATERIAL: dict[str, Tweak] = {
    "ocsp-revoked": revoked_ocsp,
    "ocsp-stale": stale_ocsp,
    "ocsp-five-hours-old": earlier_ocsp,
    "crl-lists-seal-ca": crl_listing_seal_ca,
    "two-ocsp-responses": two_ocsps,
    "no-root-crl": no_root_crl,
}


def _page(writer: Any) -> Any:
    page_ref, _ = writer.find_page_for_modification(0)
    return page_ref.get_object()


def lta_page_content(writer: Any) -> None:
    page = _page(writer)
    forged = generic.StreamObject(stream_data=b"BT /F1 28 Tf 150 760 Td (Forged Licence) Tj ET")
    page["/Contents"] = writer.add_object(forged)
    writer.update_container(page)


def lta_annotation(writer: Any) -> None:
    page = _page(writer)
    note = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (10, 10, 30, 30)]),
            generic.NameObject("/Contents"): generic.TextStringObject("valid until 2099"),
        }
    )
    annots = generic.ArrayObject(list(page.get("/Annots", generic.ArrayObject())))
    annots.append(writer.add_object(note))
    page["/Annots"] = annots
    writer.update_container(page)


def lta_open_action(writer: Any) -> None:
    writer.root["/OpenAction"] = generic.DictionaryObject(
        {
            generic.NameObject("/S"): generic.NameObject("/URI"),
            generic.NameObject("/URI"): generic.TextStringObject("https://evil.example"),
        }
    )
    writer.update_root()


def lta_vri(writer: Any) -> None:
    dss = writer.root["/DSS"]
    dss["/VRI"] = generic.DictionaryObject()
    writer.update_container(dss)


LTA_EXTRA: dict[str, Callable[[Any], None]] = {
    "page-content": lta_page_content,
    "annotation": lta_annotation,
    "open-action": lta_open_action,
    "dss-vri": lta_vri,
}


@dataclass(frozen=True)
class Corpus:
    """Documents of the P-256 instance (``sealed``) and of an RSA-3072 instance, by name."""

    documents: dict[str, bytes]
    rsa: dict[str, bytes]
    rsa_root: x509.Certificate


@pytest.fixture(scope="module")
def rsa(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, x509.Certificate]:
    """An instance whose keys (PKI and seals) are RSA-3072."""
    from seal_service.instance import PkiRole
    from seal_service.settings import KeyAlgorithm
    from tests.conftest import make_instance, make_settings

    instance = make_instance(make_settings(tmp_path_factory.mktemp("rsa"), key_algorithm=KeyAlgorithm.RSA_3072))
    return instance, instance.pki.certificate(PkiRole.ROOT)


@pytest.fixture(scope="module")
def corpus(sealed, prepared: Prepared, rsa) -> Corpus:  # type: ignore[no-untyped-def]  # noqa: F811
    lta = sealed.b_lta
    documents: dict[str, bytes] = {
        "b-lta": lta,
        "b-lta-form": sealed.b_lta_form,
        "b-lt": sealed.b_lt,
        "b-t": seal(sealed.instance, "B-T"),
        "b-b": sealed.b_b,
        "unsigned": sealed.unsigned,
        **{f"usf-contents-{how}": forgeries.usf_contents(lta, how) for how in ("missing", "empty", "null")},
        **{f"usf-byte-range-{how}": forgeries.usf_byte_range(lta, how) for how in ("missing", "empty", "null")},
        **{f"isa-{name}": attack(lta) for name, attack in ISA.items()},
        "signature-wrapping": forgeries.signature_wrapping(lta),
        "shadow-hide-genuine": prepared.hide,
        "shadow-hide": forgeries.shadow_hide(prepared.hide),
        "shadow-hide-and-replace-genuine": prepared.hide_and_replace,
        "shadow-hide-and-replace": forgeries.shadow_hide_and_replace(prepared.hide_and_replace),
        "shadow-replace-genuine": prepared.replace,
        "shadow-replace": forgeries.shadow_replace(prepared.replace),
        "certified-annotate": prepared.certified_annotate,
        "evil-annotation": forgeries.evil_annotation(prepared.certified_annotate),
        "certified-fill-forms": prepared.certified_fill_forms,
        "sneaky-signature": forgeries.sneaky_signature(prepared.certified_fill_forms),
        "lookalike-pki": prepared.lookalike,
        "swap-certificate": forgeries.swap_signer_certificate(lta, prepared.other_seal_cert_der),
        "swap-certificate-stripped": forgeries.swap_signer_certificate(
            forgeries.signed_revision(lta), prepared.other_seal_cert_der
        ),
        "alter-signed-attribute": forgeries.alter_signed_attribute(lta),
        "alter-signed-attribute-stripped": forgeries.alter_signed_attribute(forgeries.signed_revision(lta)),
        "signed-revision-only": forgeries.signed_revision(lta),
        **{f"truncated-{keep}": forgeries.truncate(lta, keep) for keep in (0.2, 0.6, 0.97)},
        "page-content-update": page_content_update(lta),
        "annotation-update": annotation_update(lta),
        "refilled-form-field": refill_form_field(sealed.b_lta_form, "holder", "Mallory"),
        "hidden-object": hand_written_update(lta, b"99 0 obj\n(hidden)\nendobj\n"),
        "empty-update": hand_written_update(lta),
        "byte-range-not-at-zero": lta.replace(b"/ByteRange [0 ", b"/ByteRange [1 ", 1),
        "garbage-after-eof": lta + b"garbage after the end",
        "whitespace-after-eof": lta + b"\n\n",
        "tampered-content": lta.replace(b"Food Business Licence", b"Food Business Licensf", 1),
        **{f"material-{name}": seal_with_material(sealed.instance, tweak) for name, tweak in MATERIAL.items()},
        **{f"lta-revision-{name}": seal_with_lta_extra(sealed.instance, extra) for name, extra in LTA_EXTRA.items()},
    }
    instance, rsa_root = rsa
    rsa_documents = {f"rsa-{level.lower()}": seal(instance, level) for level in ("B-LTA", "B-LT", "B-T", "B-B")}
    return Corpus(documents, rsa_documents, rsa_root)


# --- differential -----------------------------------------------------------------------------------------------

GENUINE = {
    "b-lta",
    "b-lta-form",
    "shadow-hide-genuine",
    "shadow-hide-and-replace-genuine",
    "shadow-replace-genuine",
    "certified-annotate",
    "certified-fill-forms",
    "empty-update",
    "whitespace-after-eof",
    "material-ocsp-five-hours-old",
}
FORGED = {
    *(f"usf-{entry}-{how}" for entry in ("contents", "byte-range") for how in ("missing", "empty", "null")),
    *(f"isa-{name}" for name in ISA),
    "signature-wrapping",
    "shadow-hide",
    "shadow-hide-and-replace",
    "shadow-replace",
    "evil-annotation",
    "sneaky-signature",
    "lookalike-pki",
    "swap-certificate",
    "swap-certificate-stripped",
    "alter-signed-attribute",
    "alter-signed-attribute-stripped",
    *(f"truncated-{keep}" for keep in (0.2, 0.6, 0.97)),
    "page-content-update",
    "annotation-update",
    "refilled-form-field",
    "hidden-object",
    "byte-range-not-at-zero",
    "garbage-after-eof",
    "tampered-content",
    "material-ocsp-revoked",
    "material-crl-lists-seal-ca",
    "lta-revision-page-content",
    "lta-revision-annotation",
    "lta-revision-open-action",
}


def test_every_document_of_the_corpus_gets_the_same_report_with_and_without_the_fast_path(
    sealed,
    corpus: Corpus,  # type: ignore[no-untyped-def]
) -> None:
    at = datetime.now(UTC)
    verdicts = {name: assert_same(pdf, sealed.roots, at) for name, pdf in corpus.documents.items()}
    # The corpus holds both outcomes, and every forgery is caught (with the fast path on).
    assert {name for name in GENUINE if verdicts[name] is not Verdict.VALID} == set()
    assert {name for name in FORGED if verdicts[name] is Verdict.VALID} == set()


@pytest.mark.parametrize("when", list(LATER))
@pytest.mark.parametrize(
    "name", ["b-lta", "b-lta-form", "shadow-replace-genuine", "certified-annotate", "material-ocsp-five-hours-old"]
)
def test_valid_licences_get_the_same_report_at_other_times(sealed, corpus: Corpus, name: str, when: str) -> None:  # type: ignore[no-untyped-def]
    assert_same(corpus.documents[name], sealed.roots, sealed.sealed_at + LATER[when])


@pytest.mark.parametrize("when", list(LATER))
@pytest.mark.parametrize("name", ["rsa-b-lta", "rsa-b-lt", "rsa-b-t", "rsa-b-b"])
def test_rsa_licences_get_the_same_report(corpus: Corpus, name: str, when: str) -> None:
    pdf = corpus.rsa[name]
    at = datetime.now(UTC) + LATER[when]
    verdict = assert_same(pdf, [corpus.rsa_root], at)
    if when == "now":  # B-LTA and B-LT are valid offline; B-T and B-B need revocation data (test_levels.py)
        assert (verdict is Verdict.VALID) == (name in ("rsa-b-lta", "rsa-b-lt"))


@pytest.mark.parametrize("roots", ["foreign", "lookalike", "foreign-and-ours", "rsa-root"])
def test_other_trust_roots_get_the_same_report(
    sealed, corpus: Corpus, foreign_root, lookalike_root, roots: str
) -> None:  # type: ignore[no-untyped-def]
    chosen = {
        "foreign": [foreign_root],
        "lookalike": [lookalike_root],
        "foreign-and-ours": [foreign_root, sealed.root],
        "rsa-root": [corpus.rsa_root],
    }[roots]
    verdict = assert_same(sealed.b_lta, chosen, datetime.now(UTC))
    assert (verdict is Verdict.VALID) == (roots == "foreign-and-ours")


def test_a_callers_crl_listing_the_seal_ca_gets_the_same_report(sealed) -> None:  # type: ignore[no-untyped-def]
    seal_ca, _ = pki(sealed.instance, "seal-ca")
    crl = root_crl(sealed.instance, sealed.sealed_at + timedelta(minutes=1), [seal_ca.serial_number])
    at = datetime.now(UTC)
    # pyHanko's verdict here is VALID (it weighs the file's own CRL, fresh at the signature time); the point is
    # that the fast path defers to it rather than deciding on its own.
    assert_same(sealed.b_lta, sealed.roots, at, crls=(crl,))
    # The fast path refuses it (the verdict is pyHanko's, whatever it is).
    reader = PdfFileReader(BytesIO(sealed.b_lta))
    with pytest.raises(FastPathRefused, match="CRL"):
        FastPath(sealed.roots, [crl]).check(reader, list(reader.embedded_signatures), at)


def test_valid_b_lta_licences_really_take_the_fast_path(sealed, corpus: Corpus, caplog) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC)
    assert fast_path_log(caplog, sealed.b_lta, sealed.roots, at) == TOOK_FAST_PATH
    assert fast_path_log(caplog, sealed.b_lta_form, sealed.roots, at) == TOOK_FAST_PATH
    assert fast_path_log(caplog, corpus.documents["material-ocsp-five-hours-old"], sealed.roots, at) == TOOK_FAST_PATH
    assert fast_path_log(caplog, corpus.rsa["rsa-b-lta"], [corpus.rsa_root], at) == TOOK_FAST_PATH
    assert fast_path_log(caplog, sealed.b_lt, sealed.roots, at) != TOOK_FAST_PATH


# --- negative: the fast path refuses each condition it checks ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("material-ocsp-revoked", "OCSP status REVOKED"),
        ("material-ocsp-stale", "not fresh at the signature time"),
        ("material-crl-lists-seal-ca", "a CRL lists a certificate of the chain"),
        ("material-two-ocsp-responses", "not exactly one OCSP response"),
        ("material-no-root-crl", "no CRL of the root"),
        ("b-lt", "not one seal and one document time-stamp"),
        ("b-t", "not one seal and one document time-stamp"),
        ("b-b", "not one seal and one document time-stamp"),
        ("lookalike-pki", "."),
        ("signed-revision-only", "not one seal and one document time-stamp"),
    ],
)
def test_the_fast_path_refuses(sealed, corpus: Corpus, name: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FastPathRefused, match=reason):
        fast_check(corpus.documents[name], sealed.roots, datetime.now(UTC))


def test_the_fast_path_refuses_a_foreign_root_and_a_lookalike_root(sealed, foreign_root, lookalike_root) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC)
    for roots in ([foreign_root], [lookalike_root]):
        with pytest.raises(FastPathRefused, match="trust root"):
            fast_check(sealed.b_lta, roots, at)


@pytest.mark.parametrize(
    ("shift", "reason"),
    [
        ("after-tsa-certificate-expiry", "outside its validity"),
        ("before-sealing", "outside its validity|genTime after the validation time"),
    ],
)
def test_the_fast_path_refuses_times_outside_the_tsa_validity(sealed, shift: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FastPathRefused, match=reason):
        fast_check(sealed.b_lta, sealed.roots, sealed.sealed_at + LATER[shift])


def test_the_fast_path_refuses_a_validation_time_just_after_the_tsa_certificate_expired(sealed) -> None:  # type: ignore[no-untyped-def]
    expiry = tsa_not_after(sealed.b_lta)
    fast_check(sealed.b_lta, sealed.roots, expiry)  # the last second it is valid
    with pytest.raises(FastPathRefused, match="TSA certificate or its root is outside its validity"):
        fast_check(sealed.b_lta, sealed.roots, expiry + timedelta(seconds=1))


def _token_and_stamp(pdf: bytes) -> tuple[Any, Any, bytes]:
    reader = PdfFileReader(BytesIO(pdf))
    seal_sig, stamp = seal_and_timestamp(reader, list(reader.embedded_signatures))
    signer_info = _cms.signed_data(seal_sig.pkcs7_content).signer_infos[0]
    token = next(a for a in signer_info.unsigned_attrs or () if a.oid == fastpath._ATTR_SIGNATURE_TST)
    return _cms.signed_data(token.values[0]), _cms.signed_data(stamp.pkcs7_content), signer_info.signature


def test_a_time_stamp_token_over_other_bytes_is_refused(sealed) -> None:  # type: ignore[no-untyped-def]
    roots = [fastpath._cert(root.public_bytes(serialization_der())) for root in sealed.roots]
    at = datetime.now(UTC)
    token, stamp, signature = _token_and_stamp(sealed.b_lta)
    digest = fastpath._sha256
    fastpath._check_token(token, digest(signature), roots, at, what="signature time-stamp")  # the genuine pair passes
    with pytest.raises(FastPathRefused, match="message imprint does not match"):
        fastpath._check_token(token, digest(signature[:-1] + bytes([signature[-1] ^ 1])), roots, at, what="token")
    token, stamp, signature = _token_and_stamp(sealed.b_lta)
    with pytest.raises(FastPathRefused, match="message imprint does not match"):
        fastpath._check_token(stamp, digest(b"some other document"), roots, at, what="document time-stamp")


def test_a_root_whose_path_length_forbids_the_seal_ca_is_refused(sealed) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Root without room for a CA")])
    now = datetime.now(UTC)
    no_intermediates = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(FastPathRefused, match="path length"):
        fastpath._check_path_length(fastpath._cert(no_intermediates.public_bytes(serialization_der())), 1)
    fastpath._check_path_length(fastpath._cert(sealed.root.public_bytes(serialization_der())), 1)  # ours: 1


def test_a_self_made_ca_copying_our_names_is_refused(sealed, prepared: Prepared) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with pytest.raises(FastPathRefused):
        fast_check(prepared.lookalike, sealed.roots, datetime.now(UTC))
    assert assert_same(prepared.lookalike, sealed.roots, datetime.now(UTC)) is Verdict.INVALID


@pytest.mark.parametrize("name", list(LTA_EXTRA))
def test_the_coverage_whitelist_refuses_more_in_the_lta_revision(sealed, corpus: Corpus, name: str) -> None:  # type: ignore[no-untyped-def]
    pdf = corpus.documents[f"lta-revision-{name}"]
    with pytest.raises(FastPathRefused):
        fast_coverage(pdf)
    fast_coverage(sealed.b_lta)  # and accepts our own layout


@pytest.mark.parametrize(
    "name",
    [
        "isa-overlay",
        "isa-page-tree-swap",
        "isa-root-swap",
        "shadow-hide",
        "shadow-hide-and-replace",
        "shadow-replace",
        "evil-annotation",
        "sneaky-signature",
        "page-content-update",
        "annotation-update",
        "refilled-form-field",
        "empty-update",
    ],
)
def test_the_coverage_whitelist_refuses_every_other_update(corpus: Corpus, name: str) -> None:
    with pytest.raises(FastPathRefused):
        fast_coverage(corpus.documents[name])


def test_references_are_found_however_they_are_written() -> None:
    data = b"<< /A 19 0 R /B 019 0 R /C +19 0 R /D 19 %c\n 0\nR /E 119 0 R /F 19 1 R /G 191 0 R >>"
    found = _references(data, 19, 0)
    assert [data[start : start + 3] for start in found] == [b"19 ", b"019", b"+19", b"19 "]


def test_a_metadata_stream_that_is_also_page_content_is_refused(sealed) -> None:  # type: ignore[no-untyped-def]
    # Prepared before sealing: the catalog's XMP stream is also the page's second content stream.
    import pikepdf

    document = pikepdf.open(BytesIO(sample_licence_pdf()))
    metadata = document.make_stream(XMP % b"genuine", Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
    document.Root.Metadata = metadata
    page = document.pages[0].obj
    page.Contents = pikepdf.Array([page.Contents, metadata])
    out = BytesIO()
    document.save(out, fix_metadata_version=False)  # pikepdf would otherwise write the XMP anew, elsewhere
    prepared_pdf = out.getvalue()

    # pyHanko's writer refreshes the XMP in the update after the seal, so the page's content changes with it.
    pdf = seal(sealed.instance, pdf=prepared_pdf)
    with pytest.raises(FastPathRefused, match="metadata stream is referred to outside the catalog"):
        fast_coverage(pdf)
    reader = PdfFileReader(BytesIO(pdf))
    metadata, root = reader.root.raw_get("/Metadata"), reader.trailer.raw_get("/Root")
    with pytest.raises(FastPathRefused, match="metadata stream is referred to outside the catalog"):
        _check_metadata_uses(pdf, reader, (metadata.idnum, metadata.generation), (root.idnum, root.generation))
    assert_same(pdf, sealed.roots, datetime.now(UTC))


XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/><!-- %s --></x:xmpmeta><?xpacket end="w"?>'
)


# --- caches -----------------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def test_the_cache_does_not_carry_a_verdict_to_another_time(sealed, fresh_caches: None) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    late = tsa_not_after(sealed.b_lta) + timedelta(days=1)
    fast_check(sealed.b_lta, sealed.roots, now)
    with pytest.raises(FastPathRefused):
        fast_check(sealed.b_lta, sealed.roots, late)
    fast_check(sealed.b_lta, sealed.roots, now)
    clear_caches()
    with pytest.raises(FastPathRefused):
        fast_check(sealed.b_lta, sealed.roots, late)
    assert_same(sealed.b_lta, sealed.roots, late)


def test_the_cache_does_not_carry_a_verdict_to_other_trust_roots(
    sealed, foreign_root, lookalike_root, fresh_caches: None
) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC)
    fast_check(sealed.b_lta, sealed.roots, at)  # warm
    for roots in ([lookalike_root], [foreign_root]):
        with pytest.raises(FastPathRefused):
            fast_check(sealed.b_lta, roots, at)
    fast_check(sealed.b_lta, [foreign_root, sealed.root], at)
    assert assert_same(sealed.b_lta, [lookalike_root], at) is not Verdict.VALID


def test_the_cache_does_not_carry_a_verdict_to_another_document_of_the_same_seal(
    sealed, corpus: Corpus, fresh_caches: None
) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC)
    fast_check(sealed.b_lta, sealed.roots, at)  # warms certificates, CA and root signatures of the same seal
    for name in ("material-ocsp-revoked", "material-crl-lists-seal-ca", "material-ocsp-stale"):
        with pytest.raises(FastPathRefused):
            fast_check(corpus.documents[name], sealed.roots, at)
    fast_check(sealed.b_lta, sealed.roots, at)


def test_signature_facts_are_keyed_by_both_certificates(sealed, prepared: Prepared, fresh_caches: None) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # The self-made CA of the lookalike licence has exactly our seal CA's name, but another key.
    reader = PdfFileReader(BytesIO(sealed.b_lta))
    ours = [fastpath._cert(c.chosen.dump()) for c in reader.embedded_signatures[0].signed_data["certificates"]]
    reader = PdfFileReader(BytesIO(prepared.lookalike))
    theirs = [fastpath._cert(c.chosen.dump()) for c in reader.embedded_signatures[0].signed_data["certificates"]]
    seal_cert = next(c for c in ours if not c.is_ca)
    real_ca = next(c for c in ours if c.is_ca and c.subject == seal_cert.issuer)
    fake_ca = next(c for c in theirs if c.is_ca and c.subject == seal_cert.issuer)
    assert real_ca.digest != fake_ca.digest
    for _ in range(2):  # cold, then warm
        assert fastpath._cert_issued_by(seal_cert, real_ca)
        assert not fastpath._cert_issued_by(seal_cert, fake_ca)
