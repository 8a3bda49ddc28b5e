"""The ``licence-log`` check of a verification report: is the validly sealed licence in the issuance log?

Example::

    >>> report = check_log(report, pdf, policy=bundle.log, receipts={}, online=OnlineLog(url), bundle=bundle)
    ...                                                                                     # doctest: +SKIP

Runs only on a report that is valid so far. Offline without a receipt for the licence the check is skipped (the
log cannot be asked); online, or with a receipt, a licence that is not in the log is invalid: "sealed outside
the record".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from verifier.bundle import TrustBundle
from verifier.registry import revision_hashes
from verifier.report import Check, CheckOutcome, Indication, Message, SubIndication, Verdict, VerificationReport
from verifier.tlog import TlogError, TlogProof
from verifier.transparency import (
    OUTSIDE_RECORD_EN,
    OUTSIDE_RECORD_ZH,
    LogPolicy,
    LogUnavailable,
    OnlineLog,
    SealedOutsideRecord,
    check_receipt,
)

CHECK = "licence-log"


def _with(
    report: VerificationReport,
    check: Check,
    *,
    licence: dict[str, str] | None = None,
    verdict: Verdict | None = None,
    message: Message | None = None,
) -> VerificationReport:
    checks = tuple(check if c.name == CHECK else c for c in report.checks)
    if all(c.name != CHECK for c in report.checks):
        checks = (*report.checks, check)
    changes: dict[str, object] = {"checks": checks}
    if licence is not None:
        changes["licence"] = licence
    if verdict is not None and message is not None:
        changes.update(
            verdict=verdict,
            indication=Indication.TOTAL_FAILED if verdict is Verdict.INVALID else Indication.INDETERMINATE,
            subindication=(
                SubIndication.SIG_CONSTRAINTS_FAILURE if verdict is Verdict.INVALID else SubIndication.TRY_LATER
            ).value,
            messages=(message, *report.messages),
        )
    return dataclasses.replace(report, **changes)  # type: ignore[arg-type]


def check_log(
    report: VerificationReport,
    pdf: bytes,
    *,
    policy: LogPolicy,
    receipts: Mapping[str, TlogProof],
    online: OnlineLog | None,
    bundle: TrustBundle | None,
) -> VerificationReport:
    """``report`` with the licence-log check applied (see the module docstring)."""
    if report.verdict is not Verdict.VALID:
        return _with(report, Check(CHECK, CheckOutcome.SKIPPED, "the seal is not valid"))
    licence = dict(report.licence or {})
    licence_id = licence.get("id")
    if not licence_id:
        return _with(report, Check(CHECK, CheckOutcome.SKIPPED, "the document names no licence id"))
    receipt = receipts.get(licence_id)
    issuer = licence.get("service_url", "").rstrip("/")
    if receipt is None and online is not None and issuer and issuer != online.base:
        return _with(report, Check(CHECK, CheckOutcome.SKIPPED, "the stamp names a licence of another service"))
    try:
        if receipt is None and online is not None:
            receipt = online.receipt(licence_id)
            if receipt is None:
                raise SealedOutsideRecord(f"the issuance log has no entry for licence {licence_id}")
        if receipt is None:
            return _with(report, Check(CHECK, CheckOutcome.SKIPPED, "offline and no receipt (--log-proof) given"))
        certificate_sha256 = None
        if bundle is not None and report.seal is not None and report.seal.seal_id:
            known = bundle.certificate_of(report.seal.seal_id, report.seal.certificate_serial)
            certificate_sha256 = known.sha256.lower() if known is not None else None
        evidence = check_receipt(
            receipt,
            policy=policy,
            licence_id=licence_id,
            document_hashes=revision_hashes(pdf),
            certificate_sha256=certificate_sha256,
            consistency=online.consistency if online is not None else None,
        )
    except SealedOutsideRecord as exc:
        licence["log"] = "outside-record"
        return _with(
            report,
            Check(CHECK, CheckOutcome.FAILED, str(exc)),
            licence=licence,
            verdict=Verdict.INVALID,
            message=Message(OUTSIDE_RECORD_ZH, f"{OUTSIDE_RECORD_EN}: {exc}"),
        )
    except LogUnavailable as exc:
        return _with(
            report,
            Check(CHECK, CheckOutcome.INDETERMINATE, str(exc)),
            verdict=Verdict.INDETERMINATE,
            message=Message("暂时无法查询签发日志，请稍后再试", f"The issuance log could not be asked: {exc}"),
        )
    except TlogError as exc:
        licence["log"] = "proof-failed"
        return _with(
            report,
            Check(CHECK, CheckOutcome.FAILED, str(exc)),
            licence=licence,
            verdict=Verdict.INVALID,
            message=Message(f"签发日志证明无效：{exc}", f"The issuance log proof does not verify: {exc}"),
        )
    licence.update(log="included", log_index=str(evidence.index), log_size=str(evidence.size), log_pin=evidence.pin)
    witnesses = ", ".join(c.witness for c in evidence.cosignatures) or "none"
    return _with(
        report,
        Check(CHECK, CheckOutcome.PASSED, f"entry {evidence.index} of {evidence.size}; cosigned by {witnesses}"),
        licence=licence,
    )


@dataclasses.dataclass(frozen=True)
class LogCheck:
    """How a :class:`verifier.engine.Verifier` checks the log: the policy, offline receipts, the online log."""

    policy: LogPolicy
    receipts: Mapping[str, TlogProof] = dataclasses.field(default_factory=dict)
    """Receipts by licence id (``seal-verify --log-proof FILE``)."""
    online: OnlineLog | None = None

    @classmethod
    def build(cls, policy: LogPolicy, *, receipts: list[bytes], service: str | None) -> LogCheck:
        """Parse receipt files (keyed by the licence their entry names) and set the online log."""
        from verifier.log_entry import EntryError, decode_entry
        from verifier.tlog import NoteError, parse_tlog_proof

        by_licence: dict[str, TlogProof] = {}
        for data in receipts:
            receipt = parse_tlog_proof(data)
            try:
                entry = decode_entry(receipt.extra or b"")
            except EntryError as exc:
                raise NoteError(f"a log receipt's entry is malformed: {exc}") from None
            if entry.licence is not None:
                by_licence[entry.licence] = receipt
        return cls(policy=policy, receipts=by_licence, online=OnlineLog(service) if service else None)

    def apply(self, report: VerificationReport, pdf: bytes, *, bundle: TrustBundle | None) -> VerificationReport:
        """:func:`check_log` with this configuration."""
        return check_log(report, pdf, policy=self.policy, receipts=self.receipts, online=self.online, bundle=bundle)
