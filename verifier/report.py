"""The verification report: an ETSI EN 319 102-1 indication for machines, a plain-language verdict for people.

A report is a frozen value. :meth:`VerificationReport.to_json` gives the stable JSON shape the CLI (``--json``)
and the service's verify endpoint publish::

    {"file", "verdict", "indication", "subindication", "seal", "licence", "signed_at", "messages", ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

_CHINA_TZ = timezone(timedelta(hours=8))


class Verdict(StrEnum):
    """What a person needs to know about the document, in one word."""

    VALID = "valid"
    """The seal is intact, chains to a trusted root and was not revoked when it was applied."""

    INVALID = "invalid"
    """The seal is broken, revoked, or the file is not a sealed PDF at all."""

    INDETERMINATE = "indeterminate"
    """Nothing is known to be wrong, but the file lacks what is needed to prove the seal valid."""

    MODIFIED = "modified"
    """The sealed content may be intact, but the document was changed after sealing."""


class Indication(StrEnum):
    """Main status indication of ETSI EN 319 102-1 (§ 5.1.3)."""

    TOTAL_PASSED = "TOTAL_PASSED"
    """The validation process passed every check."""

    TOTAL_FAILED = "TOTAL_FAILED"
    """The signature is proven invalid (or the document is not acceptable)."""

    INDETERMINATE = "INDETERMINATE"
    """The available information does not allow to conclude either way."""


class SubIndication(StrEnum):
    """Sub-indications of ETSI EN 319 102-1 (§ 5.1.3, table 5), spelled as in the standard."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    """The file or signature does not conform to the PDF / PAdES format, or the document was changed afterwards."""

    HASH_FAILURE = "HASH_FAILURE"
    """The signed bytes do not match the digest in the signature: the sealed content was altered."""

    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    """The signature value does not verify with the signer's public key."""

    REVOKED = "REVOKED"
    """The signing certificate was revoked before the signature is proven to exist."""

    EXPIRED = "EXPIRED"
    """The signing certificate had expired when the signature is proven to exist."""

    NOT_YET_VALID = "NOT_YET_VALID"
    """The signing time lies before the signing certificate's validity."""

    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    """Signature attributes do not meet the validation constraints."""

    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    """The certificate chain does not meet the validation constraints."""

    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    """The chain could not be validated, typically for lack of (fresh) revocation information."""

    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    """An algorithm or key size is not acceptable at the relevant time."""

    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    """The signature policy could not be processed."""

    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    """The signature policy referenced by the signature is not available."""

    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    """Time-stamps in the signature are in an impossible order."""

    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    """The signing certificate cannot be identified."""

    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    """No chain from the signing certificate to a trusted root was found."""

    REVOKED_NO_POE = "REVOKED_NO_POE"
    """The signing certificate is revoked and the signature cannot be proven to predate the revocation."""

    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    """A CA certificate of the chain is revoked and the signature cannot be proven to predate that."""

    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    """The signing certificate is expired or not yet valid and no proof of time settles it."""

    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    """The signing certificate is out of its validity but is known not to be revoked."""

    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    """Revocation information is not fresh enough and no proof of time settles it."""

    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    """An algorithm became unacceptable and the signature cannot be proven to predate that."""

    NO_POE = "NO_POE"
    """No proof of existence (time-stamp) shows the signature existed when it could still be validated."""

    TRY_LATER = "TRY_LATER"
    """Revocation information that may become available later is needed."""

    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    """The signed data cannot be obtained."""


@dataclass(frozen=True)
class Message:
    """One plain-language statement for people, in Simplified Chinese and in English."""

    zh: str
    """The statement in Simplified Chinese (zh-CN), shown first."""

    en: str
    """The same statement in English."""

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"


class CheckOutcome(StrEnum):
    """How one check of the verification ended."""

    PASSED = "passed"
    """The check was run and found nothing wrong."""

    FAILED = "failed"
    """The check was run and proves the document not valid (invalid or modified)."""

    INDETERMINATE = "indeterminate"
    """The check was run but could not conclude (missing material, an unreachable service)."""

    SKIPPED = "skipped"
    """The check was not run: an earlier check already decided, or what it needs was not given (offline, no
    trust bundle)."""


#: The checks of a verification, in the order they run (docs/verification.md describes each).
CHECK_ORDER = (
    "structure",
    "integrity",
    "coverage",
    "chain-revocation-time",
    "seal-lifecycle",
    "licence-identity",
    "licence-status",
    "licence-log",
)


@dataclass(frozen=True)
class Check:
    """One check of the verification and its outcome."""

    name: str
    """One of :data:`CHECK_ORDER`."""

    outcome: CheckOutcome
    """passed, failed, indeterminate or skipped."""

    detail: str | None = None
    """A short English note for support staff (why it failed, why it was skipped), or None."""

    @property
    def passed(self) -> bool | None:
        """True when passed, False when failed, None when indeterminate or skipped."""
        if self.outcome is CheckOutcome.PASSED:
            return True
        if self.outcome is CheckOutcome.FAILED:
            return False
        return None

    def to_json(self) -> dict[str, Any]:
        """``{"name", "passed", "outcome", "detail"}``."""
        return {"name": self.name, "passed": self.passed, "outcome": self.outcome.value, "detail": self.detail}


@dataclass(frozen=True)
class SealInfo:
    """Who sealed, as the signing certificate names it (claimed; trust it only when the verdict is valid)."""

    name: str | None
    """The seal's name: the certificate subject's commonName, e.g. 晋城市行政审批服务管理局行政审批专用章."""

    organisation: str | None
    """The sealing authority: the subject's organizationName."""

    credit_code: str | None
    """The authority's unified social credit code: the subject's organizationIdentifier (OID 2.5.4.97)."""

    seal_id: str | None
    """The service's seal id: the subject's pseudonym (OID 2.5.4.65), e.g. ``jc-bureau-approval``."""

    certificate_serial: str
    """Serial number of the signing certificate, lower-case hexadecimal."""

    issuer: str | None
    """The commonName of the certificate's issuer (the seal CA)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "organisation": self.organisation,
            "credit_code": self.credit_code,
            "seal_id": self.seal_id,
            "certificate_serial": self.certificate_serial,
            "issuer": self.issuer,
        }


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of verifying one document."""

    file: str
    """The name the caller gave the document (a path for the CLI); may be empty."""

    verdict: Verdict
    """The plain verdict: valid, invalid, indeterminate or modified."""

    indication: Indication
    """ETSI EN 319 102-1 main indication. ``modified`` and ``invalid`` both map to TOTAL_FAILED."""

    subindication: str | None
    """ETSI EN 319 102-1 sub-indication (a :class:`SubIndication` value), None when TOTAL_PASSED."""

    seal: SealInfo | None
    """The seal found in the document, None when no signature could be read."""

    licence: Mapping[str, str] | None = None
    """The licence the seal's stamp names, None when the document has no readable stamp. Keys, each present only
    when known: ``id`` and ``verify_url`` (from the QR code), ``service_url`` (the issuer's base URL), ``number``
    (the stamp text); online also ``identifier`` (GB/T 36904), ``status`` (valid, suspended, revoked, expired) and
    ``record`` (``matches`` or ``differs``: the document against the licence record's document hash) and
    ``asked`` (the service URL the status was asked of). Claimed
    unless the verdict is valid."""

    signed_at: datetime | None = None
    """When the seal was applied: the signature time-stamp's genTime if any, else the signing-time attribute."""

    signed_at_source: str | None = None
    """Where :attr:`signed_at` comes from: ``signature-timestamp`` (attested by a TSA), ``signing-time`` (claimed
    by the signer alone: the signing-time attribute or the signature dictionary's /M), or, for a valid seal with
    neither, ``proof-of-existence`` (the earliest time validation proved)."""

    level: str | None = None
    """PAdES baseline level as far as the file's contents show: B-B, B-T, B-LT or B-LTA."""

    messages: tuple[Message, ...] = ()
    """Plain-language findings for people, the most important first."""

    details: tuple[str, ...] = field(default=())
    """Technical details (validator messages, error texts), English only, for support staff."""

    checks: tuple[Check, ...] = ()
    """Every check of :data:`CHECK_ORDER` with its outcome, in order (empty only for a report made by hand)."""

    proven_signing_time: datetime | None = None
    """The time a validated time-stamp proves the seal existed (the signature time-stamp's, for our licences);
    None when nothing proves it (B-B, or the seal was not shown valid)."""

    verifiable_until: datetime | None = None
    """Until when the file can be validated: when its newest time-stamp's TSA certificate (or algorithm) expires;
    for a file without time-stamp (B-B), when its seal's certificate chain expires. None when unknown."""

    @property
    def long_term(self) -> Message:
        """The level found, the proven signing time and the verifiable-until date, as one statement."""
        level = self.level or "?"
        if self.proven_signing_time is not None:
            proven = _china_time(self.proven_signing_time)
            proven_zh, proven_en = proven, proven
        else:
            proven_zh, proven_en = "无（没有可信时间证明）", "none (no proof of time)"
        if self.verifiable_until is not None:
            until = _china_time(self.verifiable_until)
            until_zh, until_en = until, until
        else:
            until_zh, until_en = "未知", "unknown"
        return Message(
            f"PAdES 级别：{level}；时间戳证明的盖章时间：{proven_zh}；可验证至：{until_zh}",
            f"PAdES level: {level}; proven signing time: {proven_en}; verifiable until: {until_en}",
        )

    national_seals: tuple[Any, ...] = ()
    """The national seals (国密, GB/T 38540) found, each a :class:`verifier.gm.NationalSealResult`."""

    pades_verdict: Verdict | None = None
    """The PAdES seal's own verdict before the national seals were combined into :attr:`verdict` (None when the
    file has no national seal: the verdict is then the PAdES seal's)."""

    @property
    def ok(self) -> bool:
        """Whether the verdict is valid."""
        return self.verdict is Verdict.VALID

    @property
    def summary(self) -> str:
        """The first message as one line (``zh / en``), or the verdict when there is none."""
        return str(self.messages[0]) if self.messages else self.verdict.value

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with at least the keys of the published contract.

        ``file, verdict, indication, subindication, seal, licence, signed_at, messages`` (plus
        ``signed_at_source``, ``level``, ``details`` and ``checks``; ``proven_signing_time`` and
        ``verifiable_until`` in ISO 8601 or null, ``long_term`` the statement of :attr:`long_term`). ``signed_at``
        is ISO 8601; each message is one string, Chinese first: ``"印章有效：… / Seal valid: …"``.
        """
        return {
            "file": self.file,
            "verdict": self.verdict.value,
            "indication": self.indication.value,
            "subindication": self.subindication,
            "seal": self.seal.to_json() if self.seal is not None else None,
            "licence": dict(self.licence) if self.licence is not None else None,
            "signed_at": self.signed_at.isoformat() if self.signed_at is not None else None,
            "signed_at_source": self.signed_at_source,
            "level": self.level,
            "messages": [str(message) for message in self.messages],
            "details": list(self.details),
            "checks": [check.to_json() for check in self.checks],
            "proven_signing_time": _iso(self.proven_signing_time),
            "verifiable_until": _iso(self.verifiable_until),
            "long_term": str(self.long_term),
            "national_seals": [seal.to_json() for seal in self.national_seals],
            "pades_verdict": self.pades_verdict.value if self.pades_verdict is not None else None,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _china_time(moment: datetime) -> str:
    return moment.astimezone(_CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") + " (UTC+08:00)"
