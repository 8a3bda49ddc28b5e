"""The seal lifecycle policy: what a trust bundle says about a seal at the time the licence was proven to exist.

Example::

    finding = evaluate_lifecycle(bundle, seal_id="jc-market-approval", credit_code="11140500MB0345678Y",
                                 certificate_serial="1f3a...", signed_at=timestamp_time, at=datetime.now(UTC))
    finding.verdict          # Verdict.INVALID
    str(finding.messages[0]) # "印章无效：印章已于 2027-01-01 废止 ... / Seal not valid: seal retired on 2027-01-01 ..."

    report = apply_lifecycle_policy(report, bundle, at=datetime.now(UTC))   # the same, folded into a report

Pure functions over the bundle's data, the signature's seal identity (pseudonym 2.5.4.65 = seal id,
organizationIdentifier 2.5.4.97 = credit code, certificate serial) and the *proven* signing time (the signature
time-stamp's time; a time the signer merely claims proves nothing). The rules, numbered as in the code:

1. The seal and its certificate must be in the bundle, under the authority whose credit code the certificate names.
   A certificate the bundle does not list is INDETERMINATE/TRY_LATER (the bundle may predate it).
2. Without a proven signing time, the licence can only be judged at ``at``: a seal retired or revoked by then
   gives INDETERMINATE/REVOKED_NO_POE, because nothing shows the licence was sealed before.
3. Retirement: sealed at or after the cut-over is INVALID ("seal retired on DATE"); before it, valid for good.
4. Key compromise: the compromise time is the invalidity date (else the revocation time); sealed at or after it is
   INVALID, before it valid.
5. Any other revocation (superseded, cessationOfOperation, ...): sealed at or after the revocation is INVALID.
6. Optionally, the licence type: on the China day of sealing the catalogue must let the seal's authority seal an
   item of that licence type (a bureau seal before the transfer, another jurisdiction's seal: INVALID).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from cryptography import x509
from cryptography.x509.oid import NameOID

from verifier.bundle import BundleSeal, TrustBundle
from verifier.errors import InputError
from verifier.report import Indication, Message, SubIndication, Verdict, VerificationReport

__all__ = [
    "LifecycleFinding",
    "SealIdentity",
    "apply_lifecycle_policy",
    "evaluate_lifecycle",
    "licence_type_of",
    "seal_identity",
]

CHINA_TZ = timezone(timedelta(hours=8))
#: ``signed_at_source`` values of a report whose ``signed_at`` is proven, not merely claimed by the signer.
PROVEN_SOURCES = frozenset({"signature-timestamp", "proof-of-existence"})
_IDENTIFIER_PREFIX = "1.2.156.3005.2."


@dataclass(frozen=True)
class SealIdentity:
    """Who a seal certificate says it is."""

    seal_id: str | None
    """The pseudonym attribute (OID 2.5.4.65)."""
    credit_code: str | None
    """The organizationIdentifier attribute (OID 2.5.4.97)."""
    certificate_serial: str
    """Serial number, lower-case hexadecimal."""


def seal_identity(certificate: x509.Certificate) -> SealIdentity:
    """Read the seal id, credit code and serial from a seal certificate."""

    def attribute(oid: x509.ObjectIdentifier) -> str | None:
        found = certificate.subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else None

    return SealIdentity(
        seal_id=attribute(NameOID.PSEUDONYM),
        credit_code=attribute(NameOID.ORGANIZATION_IDENTIFIER),
        certificate_serial=format(certificate.serial_number, "x"),
    )


@dataclass(frozen=True)
class LifecycleFinding:
    """What the lifecycle policy concludes about one seal signature."""

    verdict: Verdict
    """valid, invalid or indeterminate."""
    indication: Indication
    """ETSI EN 319 102-1 main indication."""
    subindication: str | None
    """ETSI sub-indication (REVOKED, REVOKED_NO_POE, TRY_LATER, ...), None when passed."""
    messages: tuple[Message, ...]
    """Plain-language findings, zh-CN first. A valid finding may carry one, e.g. "sealed before the cut-over"."""
    seal_id: str | None
    """The seal the finding is about."""

    @property
    def ok(self) -> bool:
        """Whether nothing in the lifecycle stands against the seal."""
        return self.verdict is Verdict.VALID


def _day(at: datetime) -> date:
    return at.astimezone(CHINA_TZ).date()


def _local(at: datetime) -> str:
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S +08:00")


def _valid(seal_id: str, *messages: Message) -> LifecycleFinding:
    return LifecycleFinding(Verdict.VALID, Indication.TOTAL_PASSED, None, messages, seal_id)


def _invalid(seal_id: str | None, sub: SubIndication, zh: str, en: str) -> LifecycleFinding:
    return LifecycleFinding(
        Verdict.INVALID,
        Indication.TOTAL_FAILED,
        sub.value,
        (Message(f"印章无效：{zh}", f"Seal not valid: {en}"),),
        seal_id,
    )


def _indeterminate(seal_id: str | None, sub: SubIndication, zh: str, en: str) -> LifecycleFinding:
    return LifecycleFinding(
        Verdict.INDETERMINATE,
        Indication.INDETERMINATE,
        sub.value,
        (Message(f"无法确认印章有效：{zh}", f"Seal cannot be confirmed: {en}"),),
        seal_id,
    )


def _retired_words(seal: BundleSeal) -> tuple[str, str]:
    r = seal.retirement
    assert r is not None
    memo_zh = f"（审管衔接备忘录第 {r.memorandum} 号" if r.memorandum is not None else "（划转事项目录"
    memo_en = f" (memorandum {r.memorandum}" if r.memorandum is not None else " (catalogue"
    to_zh = f"，事项已划转至 {r.successor}）" if r.successor else "）"
    to_en = f": its items moved to {r.successor})" if r.successor else ")"
    return (
        f"印章 {seal.id} 已于 {r.day.isoformat()} 废止{memo_zh}{to_zh}",
        f"seal retired on {r.day.isoformat()}{memo_en}{to_en}",
    )


def evaluate_lifecycle(
    bundle: TrustBundle,
    *,
    seal_id: str | None,
    credit_code: str | None,
    certificate_serial: str,
    signed_at: datetime | None,
    at: datetime,
    licence_type_code: str | None = None,
) -> LifecycleFinding:
    """Judge one seal signature against the bundle (rules 1-6 of the module docstring).

    :param signed_at: the *proven* signing time (signature time-stamp), None when nothing proves it.
    :param at: the verifier's clock (timezone-aware); the best signature time when ``signed_at`` is None.
    :param licence_type_code: the licence type code of the sealed licence, when known (rule 6).
    """
    if at.tzinfo is None or (signed_at is not None and signed_at.tzinfo is None):
        raise InputError("times must be timezone-aware")
    # (1) the seal, its certificate and its authority, as the registry lists them.
    seal = bundle.seal(seal_id) if seal_id else None
    if seal is None:
        return _indeterminate(
            seal_id,
            SubIndication.TRY_LATER,
            f"信任包（第 {bundle.version} 版）中没有印章 {seal_id or '（未命名）'}",
            f"the trust bundle (version {bundle.version}) does not list seal {seal_id or '(unnamed)'}",
        )
    entry = bundle.certificate_of(seal.id, certificate_serial)
    if entry is None:
        return _indeterminate(
            seal.id,
            SubIndication.TRY_LATER,
            f"信任包（第 {bundle.version} 版）中没有该印章证书（序列号 {certificate_serial}），请获取最新信任包",
            f"the trust bundle (version {bundle.version}) does not list this certificate of seal {seal.id} "
            f"(serial {certificate_serial}); fetch a newer bundle",
        )
    if credit_code != seal.credit_code:
        return _invalid(
            seal.id,
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
            f"证书中的统一社会信用代码 {credit_code} 与登记的 {seal.credit_code} 不符",
            f"the certificate names credit code {credit_code}, the registry {seal.credit_code}",
        )
    revocation = entry.revocation
    retirement = seal.retirement if seal.retirement is not None and seal.retirement.at <= at else None
    # (2) no proven signing time: only "now" counts.
    if signed_at is None:
        if retirement is not None:
            zh, en = _retired_words(seal)
            return _indeterminate(
                seal.id,
                SubIndication.REVOKED_NO_POE,
                f"{zh}；没有时间戳证明盖章早于废止",
                f"{en}; no time-stamp proves the licence was sealed before that",
            )
        if revocation is not None and revocation.revoked_at <= at:
            return _indeterminate(
                seal.id,
                SubIndication.REVOKED_NO_POE,
                f"印章证书已于 {_local(revocation.revoked_at)} 吊销（{revocation.reason}）；没有时间戳证明盖章早于吊销",
                f"the seal's certificate was revoked at {revocation.revoked_at.isoformat()} ({revocation.reason}); "
                "no time-stamp proves the licence was sealed before that",
            )
        return _valid(seal.id)
    if signed_at > at:
        raise InputError("the signing time lies after the verification time")
    notes: list[Message] = []
    # (3) retirement at a memorandum cut-over.
    if retirement is not None:
        zh, en = _retired_words(seal)
        if signed_at >= retirement.at:
            return _invalid(
                seal.id,
                SubIndication.REVOKED,
                f"{zh}，而本证照盖章于 {_local(signed_at)}，在废止之后",
                f"{en}; this licence was sealed at {signed_at.isoformat()}, after the cut-over",
            )
        notes.append(
            Message(
                f"盖章于 {_local(signed_at)}，早于印章废止（{retirement.day.isoformat()}），继续有效",
                f"sealed at {signed_at.isoformat()}, before the seal retired on {retirement.day.isoformat()}: "
                "stays valid",
            )
        )
    if revocation is not None and revocation.revoked_at <= at:
        # (4) key compromise: judged from when the key became suspect.
        if revocation.reason == "keyCompromise":
            compromised = revocation.invalidity_date or revocation.revoked_at
            if signed_at >= compromised:
                return _invalid(
                    seal.id,
                    SubIndication.REVOKED,
                    f"印章密钥自 {_local(compromised)} 起已泄露（keyCompromise），本证照盖章于 {_local(signed_at)}",
                    f"the seal's key is compromised since {compromised.isoformat()} (keyCompromise); this licence "
                    f"was sealed at {signed_at.isoformat()}, after that",
                )
            notes.append(
                Message(
                    f"印章密钥自 {_local(compromised)} 起泄露，本证照盖章于此之前，继续有效",
                    f"the seal's key is compromised since {compromised.isoformat()}; this licence was sealed "
                    "before that and stays valid",
                )
            )
        # (5) any other revocation: judged from the revocation time.
        elif signed_at >= revocation.revoked_at and not revocation.from_retirement:
            return _invalid(
                seal.id,
                SubIndication.REVOKED,
                f"印章证书已于 {_local(revocation.revoked_at)} 吊销（{revocation.reason}），本证照盖章于此之后",
                f"the seal's certificate was revoked at {revocation.revoked_at.isoformat()} ({revocation.reason}); "
                f"this licence was sealed at {signed_at.isoformat()}, after that",
            )
    # (6) the catalogue let this authority seal this licence type on that day.
    if licence_type_code is not None:
        day = _day(signed_at)
        items = [i for i in bundle.items.values() if i.licence_type_code == licence_type_code]
        if not any(i.sealing_authority(day) == seal.authority for i in items):
            sealers = sorted({a for i in items if (a := i.sealing_authority(day))})
            return _invalid(
                seal.id,
                SubIndication.SIG_CONSTRAINTS_FAILURE,
                f"{day.isoformat()} 该类证照不由 {seal.authority} 盖章（由 {'、'.join(sealers) or '无'} 盖章）",
                f"on {day.isoformat()} licences of this type are sealed by {', '.join(sealers) or 'nobody'}, "
                f"not by {seal.authority}",
            )
    return _valid(seal.id, *notes)


def licence_type_of(identifier: str | None) -> str | None:
    """The licence type code inside a GB/T 36904 identifier (``1.2.156.3005.2.<type>.<credit>.<serial>.<v>.<c>``)."""
    if not identifier or not identifier.startswith(_IDENTIFIER_PREFIX):
        return None
    parts = identifier[len(_IDENTIFIER_PREFIX) :].split(".")
    return parts[0] if len(parts) == 5 and parts[0] else None


def apply_lifecycle_policy(
    report: VerificationReport,
    bundle: TrustBundle,
    signed_at: datetime | None = None,
    *,
    at: datetime,
    licence_type_code: str | None = None,
) -> VerificationReport:
    """Fold the lifecycle policy into a report of :func:`verifier.verify.verify_pdf`.

    ``signed_at`` defaults to the report's own signing time when a time-stamp proves it; ``licence_type_code``
    to the type code inside the report's GB/T 36904 licence identifier, when the report has one. A report that is
    already invalid or modified keeps its verdict; a valid or indeterminate one becomes invalid when the policy
    finds the seal retired or revoked before the licence was sealed, and a valid one becomes indeterminate when the
    policy cannot tell. A valid finding's notes ("sealed before the seal retired on ...") are added to the messages.
    """
    if report.seal is None or report.verdict in (Verdict.INVALID, Verdict.MODIFIED):
        return report
    if signed_at is None and report.signed_at_source in PROVEN_SOURCES:
        signed_at = report.signed_at
    if licence_type_code is None and report.licence is not None:
        licence_type_code = licence_type_of(report.licence.get("identifier"))
    finding = evaluate_lifecycle(
        bundle,
        seal_id=report.seal.seal_id,
        credit_code=report.seal.credit_code,
        certificate_serial=report.seal.certificate_serial,
        signed_at=signed_at,
        at=at,
        licence_type_code=licence_type_code,
    )
    if finding.verdict is Verdict.VALID:
        return dataclasses.replace(report, messages=(*report.messages, *finding.messages))
    if finding.verdict is Verdict.INDETERMINATE and report.verdict is not Verdict.VALID:
        return dataclasses.replace(report, messages=(*report.messages, *finding.messages))
    return dataclasses.replace(
        report,
        verdict=finding.verdict,
        indication=finding.indication,
        subindication=finding.subindication,
        messages=(*finding.messages, *report.messages),
    )
