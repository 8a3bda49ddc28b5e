"""The chain of document time-stamps of a B-LTA licence: how each one is trusted, and when the chain stops proving.

Example::

    >>> chain = timestamp_chain(reader.embedded_signatures)            # doctest: +SKIP
    >>> [link.tsa_not_after for link in chain]                        # doctest: +SKIP
    >>> chain_problem(chain, at=now)                                   # None while the chain proves its times

A licence sealed at PAdES B-LTA carries one document time-stamp; every archive renewal appends a revision with the
validation data of the newest time-stamp (its TSA certificate and a fresh CRL of its issuer, in the DSS) and a new
document time-stamp over all of it. So each time-stamp proves that the previous one, and the data needed to
validate it, existed while the previous TSA certificate was still valid (ETSI EN 319 102-1, validation of
evidence records / long-term validation). The validation itself runs in pyHanko's AdES LTA validation
(``ades_lta_validation``); this module supplies the two things it needs for a renewed chain, and the words for
people when a chain no longer proves anything:

1. :func:`tsa_revocation_policy`: time-stamping units are revocation-checked *if the certificate declares where*
   (``CHECK_IF_DECLARED``). With no check at all (``NO_CHECK``) pyHanko's past validation (the "time slide") finds
   no revocation data for an expired TSA certificate and can never accept an older time-stamp of the chain.
2. :func:`tsa_status_assertions`: at the validation time itself, every TSA certificate in the file is taken as not
   revoked (the verifier trusts the time-stamping units of the trusted roots, as it always did; offline there is
   no fresher CRL than the file's). This only matters for a TSA certificate that is valid at that time; an expired
   one still needs the CRL in the DSS and proof (the next time-stamp) that the CRL existed before it expired.
3. :func:`chain_problem`: why the chain proves nothing at ``at`` (the newest time-stamp's TSA certificate expired,
   or a renewal came after the previous certificate expired), in zh-CN and English.

Limitation (pyHanko 0.38): its past validation starts from the wall clock, not from the validation time given, so
validating at a time other than now (``seal-verify --at``) is exact only under a matching clock (libfaketime).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.validation.ades import _build_prima_facie_poe_index_from_pdf_timestamps
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import PdfSignatureValidationSpec
from pyhanko_certvalidator.ltv.poe import KnownPOE, POEType
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    NonRevokedStatusAssertion,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)

from verifier.checks import signature_value_problem
from verifier.report import Message

__all__ = [
    "TimestampLink",
    "chain_problem",
    "chain_proofs",
    "timestamp_chain",
    "tsa_revocation_policy",
    "tsa_status_assertions",
    "with_tsa_assertions",
]


@dataclass(frozen=True)
class TimestampLink:
    """One document time-stamp of the chain."""

    field_name: str
    revision: int
    """The PDF revision the time-stamp signs (0-based, as pyHanko counts)."""
    gen_time: datetime
    """The time the TSA certified."""
    tsa_serial: int
    tsa_not_after: datetime
    """When the TSA certificate expires: the time-stamp proves nothing after that unless renewed before."""


def tsa_revocation_policy() -> CertRevTrustPolicy:
    """Revocation policy for time-stamping units (see the module docstring, point 1)."""
    rule = RevocationCheckingRule.CHECK_IF_DECLARED
    return CertRevTrustPolicy(RevocationCheckingPolicy(ee_certificate_rule=rule, intermediate_ca_cert_rule=rule))


def _not_after(cert: asn1_x509.Certificate) -> datetime:
    moment: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return moment.astimezone(UTC)


def _token_certificates(token: asn1_cms.SignedData) -> Iterable[asn1_x509.Certificate]:
    for choice in token["certificates"] or ():
        if choice.name == "certificate":
            yield choice.chosen


def _signature_timestamp_tokens(sig: EmbeddedPdfSignature) -> Iterable[asn1_cms.SignedData]:
    attributes = sig.signer_info["unsigned_attrs"]
    if not attributes.native:
        return
    for attribute in attributes:
        if attribute["type"].native == "signature_time_stamp_token":
            for value in attribute["values"]:
                yield value["content"]


def tsa_status_assertions(signatures: Sequence[EmbeddedPdfSignature], at: datetime) -> list[NonRevokedStatusAssertion]:
    """Not revoked at ``at``, asserted for every TSA certificate of the document and signature time-stamps (point 2)."""
    digests: set[bytes] = set()
    for sig in signatures:
        if sig.sig_object_type == "/DocTimeStamp":
            tokens: Iterable[asn1_cms.SignedData] = (sig.signed_data,)
        else:
            tokens = _signature_timestamp_tokens(sig)
        for token in tokens:
            for cert in _token_certificates(token):
                if cert.ca:
                    continue
                digests.add(hashlib.sha256(cert.dump()).digest())
    return [NonRevokedStatusAssertion(cert_sha256=digest, at=at) for digest in sorted(digests)]


def timestamp_chain(signatures: Sequence[EmbeddedPdfSignature]) -> tuple[TimestampLink, ...]:
    """The document time-stamps, oldest first."""
    links = []
    for sig in signatures:
        if sig.sig_object_type != "/DocTimeStamp":
            continue
        tst_info = sig.signed_data["encap_content_info"]["content"].parsed
        cert = sig.signer_cert
        links.append(
            TimestampLink(
                field_name=str(sig.field_name),
                revision=int(sig.signed_revision),
                gen_time=tst_info["gen_time"].native.astimezone(UTC),
                tsa_serial=int(cert.serial_number),
                tsa_not_after=_not_after(cert),
            )
        )
    return tuple(sorted(links, key=lambda link: link.revision))


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def chain_problem(chain: Sequence[TimestampLink], *, at: datetime) -> Message | None:
    """Why the chain of document time-stamps proves nothing at ``at`` (point 3); None when no link is broken.

    (1) Every renewal must come while the previous time-stamp's TSA certificate is still valid; (2) the newest
    time-stamp's TSA certificate must be valid at ``at``.
    """
    # (1) Oldest first: the first late renewal breaks the chain for everything before it.
    for previous, following in itertools.pairwise(chain):
        if following.gen_time > previous.tsa_not_after:
            return Message(
                f"时间戳链中断：文档时间戳“{previous.field_name}”的时间戳服务证书已于 {_day(previous.tsa_not_after)} "
                f"过期，之后（{_day(following.gen_time)}）才续期，续期过晚",
                f"The time-stamp chain is broken: the TSA certificate of document time-stamp "
                f"'{previous.field_name}' expired on {_day(previous.tsa_not_after)}, before the renewal of "
                f"{_day(following.gen_time)} (renewed too late)",
            )
    # (2) The newest one.
    if chain and at > chain[-1].tsa_not_after:
        newest = chain[-1]
        return Message(
            f"最新的文档时间戳（{newest.field_name}）已于 {_day(newest.tsa_not_after)} 过期（时间戳服务证书到期），"
            "证照未在到期前续期（重新加盖时间戳），无法再证明盖章时印章有效",
            f"The newest document time-stamp ('{newest.field_name}') expired on {_day(newest.tsa_not_after)} (its "
            "TSA certificate expired) and the licence was not renewed (re-time-stamped) before that; the seal's "
            "validity at sealing can no longer be proven",
        )
    return None


def with_tsa_assertions(
    spec: PdfSignatureValidationSpec,
    reader: PdfFileReader,
    trust_roots: Sequence[x509.Certificate],
    at: datetime,
) -> PdfSignatureValidationSpec:
    """``spec`` with :func:`tsa_status_assertions` and, for a renewal chain whose links hold, the proof of existence
    of :func:`chain_proofs` added to its local knowledge."""
    signatures = reader.embedded_signatures
    inner = spec.signature_validation_spec
    knowledge = inner.local_knowledge
    knowledge = dataclasses.replace(
        knowledge,
        nonrevoked_assertions=[*knowledge.nonrevoked_assertions, *tsa_status_assertions(signatures, at)],
        known_poes=[*knowledge.known_poes, *chain_proofs(reader, signatures, trust_roots, at)],
    )
    return dataclasses.replace(spec, signature_validation_spec=dataclasses.replace(inner, local_knowledge=knowledge))


# ----------------------------------------------------------------------------------------------------------------
# Renewal chains: the links checked here, the proof of existence handed to pyHanko.
#
# pyHanko's time slide judges an expired TSA certificate by the *newest* CRL of its issuer in the file. A renewal
# chain of three or more generations carries CRLs of the root issued after the first TSA certificate expired (they
# no longer list it, as RFC 5280 allows), so pyHanko slides the first link's control time past that expiry and
# gives up, although each link was made in time. The verifier therefore checks the links itself (numbered as in
# :func:`chain_proofs`) and, when every link holds, gives pyHanko the proof of existence each document time-stamp
# establishes (``LocalKnowledge.known_poes``), exactly the POE pyHanko would derive from a chain it accepted.


def _tst_info_bound(sig: EmbeddedPdfSignature) -> bool:
    """Whether the token's signed messageDigest attribute is the digest of its TSTInfo."""
    signed_data = sig.signed_data
    content = signed_data["encap_content_info"]["content"]
    algorithm = sig.signer_info["digest_algorithm"]["algorithm"].native
    digest = hashlib.new(algorithm, content.contents).digest()
    for attribute in sig.signer_info["signed_attrs"]:
        if attribute["type"].native == "message_digest":
            return bool(attribute["values"][0].native == digest)
    return False


def _issued_by_trusted_root(cert: asn1_x509.Certificate, trust_roots: Sequence[x509.Certificate]) -> bool:
    """Whether a trusted root signed ``cert`` (and the certificate may stamp time)."""
    try:
        usage = cert.extended_key_usage_value
        if usage is None or "time_stamping" not in usage.native:
            return False
        candidate = x509.load_der_x509_certificate(cert.dump())
    except Exception:
        return False
    return any(root.subject == candidate.issuer and _signed_by(candidate, root) for root in trust_roots)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # a bad signature, or a key or algorithm that cannot have signed it
        return False
    return True


def _crl_speaks_for(reader: PdfFileReader, revision: int, link: TimestampLink, tsa_cert: asn1_x509.Certificate) -> bool:
    """Whether the DSS as of ``revision`` holds a CRL of the TSA certificate's issuer, issued while the certificate
    was valid, that does not list it."""
    try:
        dss = DocumentSecurityStore.read_dss(HistoricalResolver(reader, revision=revision))
    except NoDSSFoundError:
        return False
    issuer = tsa_cert.issuer
    for crl_ref in dss.crls:
        crl = asn1_crl.CertificateList.load(crl_ref.get_object().data)
        tbs = crl["tbs_cert_list"]
        if tbs["issuer"] != issuer:
            continue
        this_update = tbs["this_update"].native.astimezone(UTC)
        if this_update > link.tsa_not_after or this_update < link.gen_time:
            continue
        listed = {int(entry["user_certificate"].native) for entry in tbs["revoked_certificates"] or ()}
        if link.tsa_serial not in listed:
            return True
    return False


def chain_proofs(
    reader: PdfFileReader,
    signatures: Sequence[EmbeddedPdfSignature],
    trust_roots: Sequence[x509.Certificate],
    at: datetime,
) -> list[KnownPOE]:
    """The proof of existence a renewal chain (two or more document time-stamps) establishes, or [] when a link
    does not hold (then pyHanko's own evidence-record processing decides, as for any other file).

    (1) every time-stamp token binds its TSTInfo and was signed by a time-stamping certificate a trusted root
    issued (the imprint over its revision was checked with the document's integrity, step 2 of the verifier);
    (2) the newest TSA certificate is valid at ``at``; (3) each older time-stamp was made while its TSA certificate
    was valid, the next time-stamp followed before that certificate expired, and the revision the next one signs
    holds a CRL of the certificate's issuer from within its validity that does not list it.
    """
    stamps = sorted((s for s in signatures if s.sig_object_type == "/DocTimeStamp"), key=lambda s: s.signed_revision)
    if len(stamps) < 2:
        return []
    links = timestamp_chain(stamps)
    # (1) Genuine tokens of trusted time-stamping units: the TSA's signature over the signed attributes verifies,
    # those attributes bind the TSTInfo, and a trusted root issued the TSA certificate.
    for sig in stamps:
        if signature_value_problem(sig) is not None or not _tst_info_bound(sig):
            return []
        if not _issued_by_trusted_root(sig.signer_cert, trust_roots):
            return []
    # (2) The newest link at the validation time.
    newest_cert = stamps[-1].signer_cert["tbs_certificate"]["validity"]
    if not newest_cert["not_before"].native <= at <= newest_cert["not_after"].native:
        return []
    # (3) Each older link, proven by the next.
    for index in range(len(links) - 1):
        link, following, sig = links[index], links[index + 1], stamps[index]
        not_before = sig.signer_cert["tbs_certificate"]["validity"]["not_before"].native
        if not not_before <= link.gen_time <= following.gen_time <= link.tsa_not_after:
            return []
        if not _crl_speaks_for(reader, following.revision, link, sig.signer_cert):
            return []
    # Every link holds: what each document time-stamp covers existed at its time.
    evidence = _build_prima_facie_poe_index_from_pdf_timestamps(reader, include_content_ts=False, diff_policy=None)
    earliest: dict[bytes, KnownPOE] = {}
    for entry in evidence:
        for item in entry.poes_implied:
            known = earliest.get(item.digest)
            if known is None or entry.timestamp_dt < known.poe_time:
                earliest[item.digest] = KnownPOE(
                    poe_type=POEType.VALIDATION,
                    digest=item.digest,
                    poe_time=entry.timestamp_dt,
                    validation_object=item.validation_object,
                )
    return list(earliest.values())
