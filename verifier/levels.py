"""ETSI EN 319 102-1 validation of seals below B-LTA: B-B (basic validation), B-T and B-LT (validation with time).

Example::

    outcome = await validate_below_lta(sig, spec, level="B-T", at=now, signature_time=gen_time,
                                       sources=RevocationSources(online=True))
    outcome.status, outcome.subindication, outcome.proven_at

What each level proves, and how it is validated here (B-LTA goes through pyHanko's LTA validation in
:mod:`verifier.verify`):

* **B-LT**: the signature time-stamp proves the seal existed at its time T; the revocation data embedded in the
  file (DSS, or the signature's revocation-info attribute), issued after T, shows the seal's certificate and its
  CAs were not revoked at T. The chain is validated *at T* (point-in-time validation) with that data: valid
  offline, no document time-stamp needed, for as long as the time-stamp itself can be checked (its TSA
  certificate unexpired, :func:`verifier.ltv.verifiable_until`).
* **B-T**: the same, but the file carries no revocation data: it must come from ``--crl``, the issuing service
  (``--service``) or the certificates' addresses (``--online``). Revocation data issued after T counts (a
  certificate not revoked at a later time was not revoked at T; one revoked after T stays valid for seals
  proven earlier). With none: INDETERMINATE, saying so.
* **B-B**: no proof of time: the chain is validated at the current time ``at`` with revocation data fresh at
  ``at`` (its next update after ``at``; issued a moment after ``at`` also counts, as for the levels above). A
  seal whose certificate has since expired or been revoked can no longer be shown valid (INDETERMINATE, ETSI's
  ``*_NO_POE`` sub-indications).

The time-stamping units are trusted through the roots without revocation checks (as for B-LTA,
:mod:`verifier.verify`); their certificates must be valid at ``at``, which :func:`validate_below_lta` checks with
the verifiable-until date.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.policy_decl import LocalKnowledge, PdfSignatureValidationSpec, SignatureValidationSpec
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from verifier.ltv import RevocationSources, fetch_revocation, verifiable_until
from verifier.report import Message

__all__ = ["LevelOutcome", "level_hint", "no_proof_of_time", "validate_below_lta"]


@dataclass(frozen=True)
class LevelOutcome:
    """pyHanko's verdict on one seal below B-LTA, in ETSI terms."""

    status: str
    """``PASSED``, ``FAILED`` or ``INDETERMINATE``."""

    subindication: str | None
    """The ETSI sub-indication name (pyHanko's), None when passed."""

    proven_at: datetime | None
    """The time the seal is proven to exist (the signature time-stamp's), None without a proof of time."""

    details: tuple[str, ...] = ()
    """English notes for support staff: pyHanko's failure message, addresses that could not be fetched."""

    fetched: int = 0
    """How many CRLs and OCSP responses were fetched (``--service``, ``--online``)."""


def _certificates(sig: Any) -> list[asn1_x509.Certificate]:
    return [choice.chosen for choice in sig.signed_data["certificates"] or () if choice.name == "certificate"]


def _knowledge(sig: Any, spec: SignatureValidationSpec, sources: RevocationSources) -> tuple[LocalKnowledge, Any]:
    """The caller's CRLs, the file's revocation data (DSS, revocation-info attribute) and what ``sources`` allow
    to fetch; and (fetched count, notes)."""
    base = spec.local_knowledge
    dss = ades._dss_to_local_knowledge(reader=sig.reader)  # pyHanko's own reading (private)
    archival = ades._adobe_revinfo_archival_to_local_knowledge(sig)
    certs = _certificates(sig) + list(dss.known_certs)
    crls, ocsps, notes = fetch_revocation(certs, sources)
    knowledge = LocalKnowledge(
        known_crls=[*base.known_crls, *dss.known_crls, *archival.known_crls, *(CRLContainer(c) for c in crls)],
        known_ocsps=[
            *base.known_ocsps,
            *dss.known_ocsps,
            *archival.known_ocsps,
            *(container for answer in ocsps for container in OCSPContainer.load_multi(answer)),
        ],
        known_certs=[*base.known_certs, *dss.known_certs],
        known_poes=base.known_poes,
        nonrevoked_assertions=base.nonrevoked_assertions,
    )
    return knowledge, (len(crls) + len(ocsps), tuple(notes))


def _without_status_after_expiry(
    knowledge: LocalKnowledge, sig: Any, at: datetime
) -> tuple[LocalKnowledge, tuple[str, ...]]:
    """``knowledge`` without the CRLs of the seal certificate's issuer and the OCSP responses produced after that
    certificate expired, once ``at`` is past its expiry. CRLs drop certificates that have expired, so a CRL issued
    later says nothing about whether the seal had been revoked before (RFC 5280 § 3.3; the ExpiredCertsOnCRL
    extension of X.509 would say otherwise, and such CRLs are kept)."""
    try:
        seal: asn1_x509.Certificate = sig.signer_cert
    except Exception:  # no unique signer certificate: the validation reports that
        return knowledge, ()
    expiry: datetime = seal["tbs_certificate"]["validity"]["not_after"].native
    if at <= expiry:
        return knowledge, ()
    issuer = seal.issuer.dump()

    def stale_crl(container: CRLContainer) -> bool:
        crl = container.crl_data
        if crl.issuer.dump() != issuer:
            return False
        if any(ext["extn_id"].dotted == _EXPIRED_CERTS_ON_CRL for ext in crl["tbs_cert_list"]["crl_extensions"]):
            return False
        issued: datetime = crl["tbs_cert_list"]["this_update"].native
        return issued > expiry

    def stale_ocsp(container: OCSPContainer) -> bool:
        produced: datetime = container.ocsp_response_data.response_data["produced_at"].native
        return produced > expiry

    crls = [c for c in knowledge.known_crls if not stale_crl(c)]
    ocsps = [c for c in knowledge.known_ocsps if not stale_ocsp(c)]
    dropped = len(knowledge.known_crls) - len(crls) + len(knowledge.known_ocsps) - len(ocsps)
    if not dropped:
        return knowledge, ()
    note = (
        f"{dropped} CRL(s)/OCSP response(s) issued after the seal certificate expired ({expiry.isoformat()}) "
        "were not used: they no longer list it"
    )
    return dataclasses.replace(knowledge, known_crls=crls, known_ocsps=ocsps), (note,)


_EXPIRED_CERTS_ON_CRL = "2.5.29.60"


def _with_retroactive_revinfo(spec: SignatureValidationSpec) -> SignatureValidationSpec:
    """``spec`` accepting revocation data issued after the validation time (ETSI: status at a later time vouches
    for an earlier one; pyHanko's default freshness model refuses it as "too recent")."""
    policy = spec.cert_validation_policy
    revinfo = dataclasses.replace(policy.revinfo_policy, retroactive_revinfo=True)
    return dataclasses.replace(spec, cert_validation_policy=dataclasses.replace(policy, revinfo_policy=revinfo))


def _status(result: Any) -> tuple[str, str | None]:
    indic = result.ades_subindic
    status: str = indic.status.name
    sub = indic.name if isinstance(indic, enum.Enum) and status != "PASSED" else None
    return status, sub


async def validate_below_lta(
    sig: Any,
    pdf_spec: PdfSignatureValidationSpec,
    *,
    level: str,
    at: datetime,
    signature_time: datetime | None,
    sources: RevocationSources | None = None,
) -> LevelOutcome:
    """Validate the seal ``sig`` (pyHanko's ``EmbeddedPdfSignature``) of PAdES ``level`` B-B, B-T or B-LT.

    ``signature_time`` is the signature time-stamp's time (None for B-B); pyHanko validates the token itself.
    ``at`` is the verifier's clock. The module docstring says what each level needs to pass.
    """
    sources = sources or RevocationSources()
    if sig.coverage is None:
        sig.compute_integrity_info()
    knowledge, (fetched, notes) = _knowledge(sig, pdf_spec.signature_validation_spec, sources)
    knowledge, dropped = _without_status_after_expiry(knowledge, sig, at)
    notes = (*notes, *dropped)
    spec = dataclasses.replace(pdf_spec.signature_validation_spec, local_knowledge=knowledge)
    common: dict[str, Any] = {
        "raw_digest": sig.compute_digest(),
        "extra_status_kwargs": sig.summarise_integrity_info(),
        "status_cls": PdfSignatureStatus,
    }
    if level == "B-B" or signature_time is None or at < signature_time:
        # No proof of time (or a clock before it): basic validation at the current time, fresh revocation data.
        timing = ValidationTimingInfo(validation_time=at, best_signature_time=at, point_in_time_validation=False)
        # Revocation data issued a moment after ``at`` (fetched just now, or a clock a little behind) still counts.
        result: Any = await ades.ades_basic_validation(
            sig.signed_data, _with_retroactive_revinfo(spec), timing_info=timing, raw_digest=common["raw_digest"]
        )
        status, sub = _status(result)
        details = (*((f"signature {sig.field_name}: {result.failure_msg}",) if result.failure_msg else ()), *notes)
        return LevelOutcome(status, sub, None, details, fetched)
    # Validation with time: the chain at the signature time-stamp's time, with revocation data issued since.
    timing = ValidationTimingInfo(
        validation_time=signature_time, best_signature_time=signature_time, point_in_time_validation=True
    )
    result = await ades.ades_with_time_validation(
        sig.signed_data, _with_retroactive_revinfo(spec), timing_info=timing, **common
    )
    status, sub = _status(result)
    details = (*((f"signature {sig.field_name}: {result.failure_msg}",) if result.failure_msg else ()), *notes)
    if status != "PASSED":
        return LevelOutcome(status, sub, None, details, fetched)
    until = verifiable_until([sig])
    if until is not None and at > until:
        # The time-stamp's TSA certificate (or algorithm) has expired: it proves nothing any more.
        note = f"the signature time-stamp can be checked only until {until.isoformat()}"
        return LevelOutcome("INDETERMINATE", "NO_POE", None, (*details, note), fetched)
    proven: datetime | None = result.best_signature_time
    return LevelOutcome("PASSED", None, proven, details, fetched)


_NO_REVOCATION_SUBS = ("CERTIFICATE_CHAIN_GENERAL_FAILURE", "REVOCATION_OUT_OF_BOUNDS_NO_POE", "TRY_LATER")
_NO_POE_SUBS = ("REVOKED_NO_POE", "REVOKED_CA_NO_POE", "OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED")


def level_hint(level: str, subindication: str | None, details: tuple[str, ...] = ()) -> Message | None:
    """What a person can do about an INDETERMINATE seal of ``level``, or None when there is nothing to add."""
    if subindication == "NO_POE" and any("time-stamp can be checked only until" in d for d in details):
        return Message(
            f"此文件（{level}）的时间戳证书已过期，时间证明已无法核验；长期保存的证照应使用 B-LTA 级别并按期续签时间戳",
            f"The time-stamp of this file ({level}) has expired, so its proof of time can no longer be checked; "
            "licences kept long need B-LTA with archive renewal",
        )
    if level == "B-B" and subindication in _NO_POE_SUBS:
        return Message(
            "此文件（B-B）没有时间证明，只能按当前时间验证：印章证书现已过期或被吊销，无法证明盖章发生在此之前",
            "This file (B-B) has no proof of time, so it is validated as of now: the seal's certificate has since "
            "expired or been revoked, and nothing proves the document was sealed before that",
        )
    if level in ("B-B", "B-T") and subindication in _NO_REVOCATION_SUBS:
        when_zh, when_en = ("当前", "now") if level == "B-B" else ("盖章时", "at the time of sealing")
        return Message(
            f"此文件（{level}）不含证书吊销状态信息，无法离线确认印章证书{when_zh}未被吊销："
            "请用 --crl 提供 CRL、用 --service 询问签发服务，或用 --online 查询证书中的地址",
            f"This file ({level}) carries no revocation status, so it cannot be confirmed offline that the seal's "
            f"certificate was not revoked {when_en}: give a CRL with --crl, ask the issuing service with --service, "
            "or the addresses in the certificates with --online",
        )
    if level == "B-LT" and subindication in _NO_REVOCATION_SUBS:
        return Message(
            "此文件（B-LT）内嵌的证书吊销状态信息不足以证明盖章时印章证书未被吊销",
            "The revocation status embedded in this file (B-LT) does not show the seal's certificate was good "
            "when it was applied",
        )
    return None


def no_proof_of_time(level: str | None) -> tuple[Message, ...]:
    """The statement a valid B-B report carries: validated as of now, no proof of when it was sealed."""
    if level != "B-B":
        return ()
    return (
        Message(
            "此文件（B-B）没有可信时间证明：印章按当前时间验证有效，盖章时间仅为签章方自行声明",
            "This file (B-B) has no proof of time: the seal was validated as of now, and the sealing time is only "
            "claimed by the signer",
        ),
    )
