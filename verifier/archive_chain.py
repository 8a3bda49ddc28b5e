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
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import PdfSignatureValidationSpec
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    NonRevokedStatusAssertion,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)

from verifier.report import Message

__all__ = [
    "TimestampLink",
    "chain_problem",
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
    spec: PdfSignatureValidationSpec, signatures: Sequence[EmbeddedPdfSignature], at: datetime
) -> PdfSignatureValidationSpec:
    """``spec`` with :func:`tsa_status_assertions` of ``signatures`` added to its local knowledge."""
    inner = spec.signature_validation_spec
    knowledge = inner.local_knowledge
    assertions = [*knowledge.nonrevoked_assertions, *tsa_status_assertions(signatures, at)]
    inner = dataclasses.replace(inner, local_knowledge=dataclasses.replace(knowledge, nonrevoked_assertions=assertions))
    return dataclasses.replace(spec, signature_validation_spec=inner)
