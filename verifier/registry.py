"""Online licence checks: the licence record the seal's QR code names, asked of the issuing service.

Example::

    registry = ServiceRegistry("https://seal.example.gov.cn")     # GET {url}/v1/public/licences/{id}
    verifier = Verifier.from_trust_roots(roots, registry=registry)
    report = verifier.verify(pdf)
    report.licence["status"]                                      # valid, suspended, revoked or expired

The service publishes, per licence id, only what a verifier needs and nothing personal: ``status``,
``identifier``, ``number``, ``valid_until`` and ``document_sha256`` (the SHA-256 of the sealed PDF exactly as
issued). The checks (:func:`check_licence`), numbered as in the code:

1. The seal must already be valid offline; an invalid or modified document stays so, unasked.
2. Only licences of the service asked: a QR code naming another service is skipped (not our record to judge).
3. The record must exist; the document must be the issued one: its bytes, or its bytes up to the end of one of
   its revisions (later updates that only add validation material or document time-stamps are allowed and were
   checked offline), hash to ``document_sha256``; the stamp's printed number must be the record's number.
4. The licence must be in force at ``at``: revoked is invalid, suspended indeterminate (it may be reinstated),
   past ``valid_until`` (China calendar) invalid as expired.

Network I/O sits behind :class:`LicenceRegistry`; :class:`StaticRegistry` is the offline double for tests and for
departments that mirror the records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from verifier.errors import VerifierError
from verifier.report import Check, CheckOutcome, Indication, Message, SubIndication, Verdict, VerificationReport

__all__ = [
    "LicenceRecord",
    "LicenceRegistry",
    "RegistryError",
    "ServiceRegistry",
    "StaticRegistry",
    "check_licence",
]

CHINA_TZ = timezone(timedelta(hours=8))
_EOF = re.compile(rb"%%EOF(?:\r\n|\r|\n)?")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RegistryError(VerifierError):
    """The licence registry could not be asked, or answered something unusable."""


@dataclass(frozen=True)
class LicenceRecord:
    """A licence as the issuing service publishes it to everyone (no personal data)."""

    id: str
    """The public licence id (the QR code's ``/v/{id}``)."""
    identifier: str
    """GB/T 36904 electronic licence identifier."""
    number: str
    """The licence number, as printed on the stamp."""
    status: str
    """valid, suspended, revoked or cancelled (expiry is judged from :attr:`valid_until`)."""
    document_sha256: str
    """SHA-256 (hex) of the sealed PDF exactly as issued."""
    valid_until: date | None = None
    """Last day of validity (China calendar), None when open-ended."""

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LicenceRecord:
        """Parse the JSON of ``GET /v1/public/licences/{id}``; raises :class:`RegistryError` when malformed."""
        try:
            until = data.get("valid_until")
            return cls(
                id=str(data["id"]),
                identifier=str(data["identifier"]),
                number=str(data["number"]),
                status=str(data["status"]),
                document_sha256=str(data["document_sha256"]).lower(),
                valid_until=date.fromisoformat(str(until)) if until else None,
            )
        except (KeyError, ValueError) as exc:
            raise RegistryError(f"the licence registry answered an unusable record ({exc})") from None

    def status_at(self, at: datetime) -> str:
        """valid, suspended, revoked or expired, on the China day of ``at``."""
        if (
            self.status == "valid"
            and self.valid_until is not None
            and at.astimezone(CHINA_TZ).date() > self.valid_until
        ):
            return "expired"
        return self.status


class LicenceRegistry(Protocol):
    """Where licence records come from."""

    service_url: str
    """The base URL of the service whose records these are (QR codes name it before ``/v/{id}``)."""

    def lookup(self, licence_id: str) -> LicenceRecord | None:
        """The record of ``licence_id``, None when the service has none; :class:`RegistryError` when unreachable."""
        ...


class StaticRegistry:
    """Records held in memory (a test double, or a department's mirror of the records)."""

    def __init__(self, service_url: str, records: Mapping[str, LicenceRecord]) -> None:
        self.service_url = service_url.rstrip("/")
        self.records = dict(records)

    def lookup(self, licence_id: str) -> LicenceRecord | None:
        """The held record, or None."""
        return self.records.get(licence_id)


class ServiceRegistry:
    """Asks the issuing service: ``GET {service_url}/v1/public/licences/{id}`` (public, no key, no personal data)."""

    def __init__(self, service_url: str, *, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(service_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"not an http(s) service URL: {service_url!r}")
        self.service_url = service_url.rstrip("/")
        self.timeout = timeout
        self._cache: dict[str, LicenceRecord | None] = {}

    def lookup(self, licence_id: str) -> LicenceRecord | None:
        """The service's record of ``licence_id`` (remembered for the life of this object)."""
        if not _ID.match(licence_id):
            return None
        if licence_id in self._cache:
            return self._cache[licence_id]
        url = f"{self.service_url}/v1/public/licences/{licence_id}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = json.loads(response.read(1_000_000))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                self._cache[licence_id] = None
                return None
            raise RegistryError(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RegistryError(f"{url}: {getattr(exc, 'reason', exc)}") from None
        if not isinstance(data, dict):
            raise RegistryError(f"{url}: not a JSON object")
        record = LicenceRecord.from_json(data)
        self._cache[licence_id] = record
        return record


def revision_hashes(data: bytes) -> set[str]:
    """SHA-256 of the whole file and of every prefix that ends a revision (after ``%%EOF`` and its EOL)."""
    digests = {hashlib.sha256(data).hexdigest()}
    for match in _EOF.finditer(data):
        digests.add(hashlib.sha256(data[: match.start() + 5]).hexdigest())
        digests.add(hashlib.sha256(data[: match.end()]).hexdigest())
    return digests


def _replace_check(report: VerificationReport, *changes: Check) -> tuple[Check, ...]:
    by_name = {check.name: check for check in changes}
    return tuple(by_name.get(check.name, check) for check in report.checks)


def _decide(
    report: VerificationReport,
    verdict: Verdict,
    sub: SubIndication,
    message: Message,
    licence: dict[str, str],
    *checks: Check,
) -> VerificationReport:
    indication = Indication.TOTAL_FAILED if verdict is Verdict.INVALID else Indication.INDETERMINATE
    return dataclasses.replace(
        report,
        verdict=verdict,
        indication=indication,
        subindication=sub.value,
        messages=(message, *report.messages),
        licence=licence,
        checks=_replace_check(report, *checks),
    )


def check_licence(
    report: VerificationReport, data: bytes, registry: LicenceRegistry, *, at: datetime
) -> VerificationReport:
    """``report`` with the online licence checks (1-4 of the module docstring) applied."""
    licence = dict(report.licence or {})
    licence_id = licence.get("id")
    # (1) only a seal already valid offline.
    if report.verdict is not Verdict.VALID:
        return report
    # (2) only licences of this service.
    if not licence_id or licence.get("service_url", "").rstrip("/") != registry.service_url:
        why = "the stamp names no licence of this service" if licence_id else "the document has no readable QR code"
        return dataclasses.replace(
            report,
            checks=_replace_check(
                report,
                Check("licence-identity", CheckOutcome.SKIPPED, why),
                Check("licence-status", CheckOutcome.SKIPPED, why),
            ),
        )
    # (3) the record, the document and the number.
    try:
        record = registry.lookup(licence_id)
    except RegistryError as exc:
        return _decide(
            report,
            Verdict.INDETERMINATE,
            SubIndication.TRY_LATER,
            Message("暂时无法查询证照登记记录，请稍后再试", "The licence record could not be reached; try later"),
            licence,
            Check("licence-identity", CheckOutcome.INDETERMINATE, str(exc)),
            Check("licence-status", CheckOutcome.INDETERMINATE, str(exc)),
        )
    if record is None:
        return _decide(
            report,
            Verdict.INVALID,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            Message("证照无效：登记记录中没有此证照", "Licence not valid: the issuing service has no such licence"),
            licence,
            Check("licence-identity", CheckOutcome.FAILED, f"no record of {licence_id}"),
        )
    licence.update(identifier=record.identifier, status=record.status_at(at))
    matches = record.document_sha256 in revision_hashes(data)
    licence["record"] = "matches" if matches else "differs"
    number = licence.get("number")
    if not matches or (number is not None and number != record.number):
        what = "document hash" if not matches else f"number {number!r} (record {record.number!r})"
        return _decide(
            report,
            Verdict.INVALID,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            Message(
                "证照无效：文件与证照登记记录不符（不是登记时签发的文件）",
                "Licence not valid: the document does not match the licence record (it is not the file issued)",
            ),
            licence,
            Check("licence-identity", CheckOutcome.FAILED, f"{what} differs from the record"),
        )
    identity = Check("licence-identity", CheckOutcome.PASSED)
    # (4) in force.
    status = licence["status"]
    if status == "revoked":
        return _decide(
            report,
            Verdict.INVALID,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            Message("证照已撤销", "Licence revoked"),
            licence,
            identity,
            Check("licence-status", CheckOutcome.FAILED, "revoked"),
        )
    if status == "suspended":
        return _decide(
            report,
            Verdict.INDETERMINATE,
            SubIndication.TRY_LATER,
            Message(
                "证照已暂停（可能恢复），目前不在有效状态", "Licence suspended (it may be reinstated): not in force now"
            ),
            licence,
            identity,
            Check("licence-status", CheckOutcome.INDETERMINATE, "suspended"),
        )
    if status == "cancelled":
        return _decide(
            report,
            Verdict.INVALID,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            Message("证照已注销", "Licence cancelled"),
            licence,
            identity,
            Check("licence-status", CheckOutcome.FAILED, "cancelled"),
        )
    if status == "expired":
        until = record.valid_until.isoformat() if record.valid_until else "?"
        return _decide(
            report,
            Verdict.INVALID,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            Message(f"证照已于{until}到期", f"Licence expired on {until}"),
            licence,
            identity,
            Check("licence-status", CheckOutcome.FAILED, f"expired after {until}"),
        )
    if status != "valid":
        # A status this verifier does not know is never taken for "in force".
        return _decide(
            report,
            Verdict.INDETERMINATE,
            SubIndication.TRY_LATER,
            Message(f"证照登记状态未知（{status}）", f"Licence status not known to this verifier ({status})"),
            licence,
            identity,
            Check("licence-status", CheckOutcome.INDETERMINATE, status),
        )
    return dataclasses.replace(
        report,
        licence=licence,
        messages=(*report.messages, Message("证照登记状态：有效", "Licence record: in force")),
        checks=_replace_check(report, identity, Check("licence-status", CheckOutcome.PASSED)),
    )
