"""Online licence checks: the licence record the seal's QR code names, asked of the issuing service.

Example::

    registry = ServiceRegistry("https://seal.example.gov.cn")     # GET {url}/v1/public/licences/{id}
    verifier = Verifier.from_trust_roots(roots, registry=registry)
    report = verifier.verify(pdf)
    report.licence["status"]                                      # valid, suspended, revoked or expired

The service publishes, per licence id, only what a verifier needs and nothing personal: ``status``,
``identifier``, ``number``, ``valid_until`` and ``document_sha256`` (the SHA-256 of the sealed PDF exactly as
issued). The checks (:func:`check_licence`), numbered as in the code:

1. The seal must already be valid offline (or indeterminate: the record may still show the licence revoked); an
   invalid or modified document stays so, unasked.
2. Which licences are asked. A registry the user named (``seal-verify --service URL``, :attr:`insist` true) is
   asked about every licence, whatever address its QR code spells (``localhost`` or ``127.0.0.1``, another
   port): it is never skipped silently. A document without a readable licence id is then indeterminate, saying
   the status could not be asked. The service's own verify API (``insist`` false) judges only its own licences
   (QR codes naming its address, loopback spellings alike) and skips others, saying so in the checks.
3. The record must exist (unknown to the service the QR code names: invalid; unknown to a service asked about
   another's licence: indeterminate); the document must be the issued one: its bytes, or its bytes up to the end
   of one of its revisions (later updates that only add validation material or document time-stamps are allowed and were
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

    insist: bool
    """Whether every licence is asked about (the user named this service), not only those whose QR code names
    :attr:`service_url`."""

    def lookup(self, licence_id: str) -> LicenceRecord | None:
        """The record of ``licence_id``, None when the service has none; :class:`RegistryError` when unreachable."""
        ...


class StaticRegistry:
    """Records held in memory (a test double, or a department's mirror of the records)."""

    def __init__(self, service_url: str, records: Mapping[str, LicenceRecord], *, insist: bool = False) -> None:
        self.service_url = service_url.rstrip("/")
        self.records = dict(records)
        self.insist = insist

    def lookup(self, licence_id: str) -> LicenceRecord | None:
        """The held record, or None."""
        return self.records.get(licence_id)


class ServiceRegistry:
    """Asks the issuing service: ``GET {service_url}/v1/public/licences/{id}`` (public, no key, no personal data).

    The user named this service, so it is asked about every licence (:attr:`insist`)."""

    insist = True

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


_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def same_service(a: str, b: str) -> bool:
    """Whether the base URLs ``a`` and ``b`` name the same service: same scheme, port and path, and the same host
    (case-insensitive) or both loopback (``localhost``, ``127.0.0.1``, ``::1``)."""
    pa, pb = urllib.parse.urlsplit(a.rstrip("/")), urllib.parse.urlsplit(b.rstrip("/"))
    if pa.scheme.lower() != pb.scheme.lower() or pa.path.rstrip("/") != pb.path.rstrip("/"):
        return False
    try:
        ports = (
            pa.port or {"http": 80, "https": 443}.get(pa.scheme),
            pb.port or {"http": 80, "https": 443}.get(pb.scheme),
        )
    except ValueError:
        return False
    ha, hb = (pa.hostname or "").lower(), (pb.hostname or "").lower()
    return ports[0] == ports[1] and (ha == hb or (ha in _LOOPBACK and hb in _LOOPBACK))


def _replace_check(report: VerificationReport, *changes: Check) -> tuple[Check, ...]:
    by_name = {check.name: check for check in changes}
    return tuple(by_name.get(check.name, check) for check in report.checks)


def _skip(report: VerificationReport, why: str) -> VerificationReport:
    return dataclasses.replace(
        report,
        checks=_replace_check(
            report,
            Check("licence-identity", CheckOutcome.SKIPPED, why),
            Check("licence-status", CheckOutcome.SKIPPED, why),
        ),
    )


def _decide(
    report: VerificationReport,
    verdict: Verdict,
    sub: SubIndication,
    message: Message,
    licence: dict[str, str],
    *checks: Check,
) -> VerificationReport:
    if report.verdict is Verdict.INDETERMINATE and verdict is not Verdict.INVALID:
        # Already indeterminate offline: keep the offline reason first; add the licence finding after it.
        return dataclasses.replace(
            report, messages=(*report.messages, message), licence=licence, checks=_replace_check(report, *checks)
        )
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
    insist = bool(getattr(registry, "insist", False))
    # (1) only a seal already valid offline (or, for a registry the user named, indeterminate).
    if report.verdict is not Verdict.VALID and not (insist and report.verdict is Verdict.INDETERMINATE):
        return report
    # (2) which licences: every one for a registry the user named; else only this service's own.
    issuer_url = licence.get("service_url", "")
    ours = bool(issuer_url) and same_service(issuer_url, registry.service_url)
    if not licence_id:
        why = "the document has no readable QR code naming a licence"
        if insist:
            return _decide(
                report,
                Verdict.INDETERMINATE,
                SubIndication.SIG_CONSTRAINTS_FAILURE,
                Message(
                    f"无法向 {registry.service_url} 查询证照状态：文件中没有可读的证照二维码",
                    f"The licence status could not be asked of {registry.service_url}: the document has no "
                    "readable QR code naming a licence",
                ),
                licence,
                Check("licence-identity", CheckOutcome.INDETERMINATE, why),
                Check("licence-status", CheckOutcome.INDETERMINATE, why),
            )
        return _skip(report, why)
    if not ours and not insist:
        return _skip(report, "the stamp names no licence of this service")
    # (3) the record, the document and the number.
    licence["asked"] = registry.service_url
    try:
        record = registry.lookup(licence_id)
    except RegistryError as exc:
        return _decide(
            report,
            Verdict.INDETERMINATE,
            SubIndication.TRY_LATER,
            Message(
                f"暂时无法向 {registry.service_url} 查询证照登记记录，请稍后再试",
                f"The licence record could not be reached at {registry.service_url}; try later",
            ),
            licence,
            Check("licence-identity", CheckOutcome.INDETERMINATE, str(exc)),
            Check("licence-status", CheckOutcome.INDETERMINATE, str(exc)),
        )
    if record is None and not ours:
        # Asked about a licence whose QR code names another service: this one not knowing it proves nothing.
        return _decide(
            report,
            Verdict.INDETERMINATE,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            Message(
                f"{registry.service_url} 没有此证照的登记记录"
                f"（证照二维码指向 {issuer_url or '未知服务'}），无法确认证照状态",
                f"{registry.service_url} has no record of this licence (its QR code names "
                f"{issuer_url or 'no service'}): the licence status cannot be confirmed",
            ),
            licence,
            Check("licence-identity", CheckOutcome.INDETERMINATE, f"{registry.service_url}: no record of {licence_id}"),
            Check("licence-status", CheckOutcome.INDETERMINATE, "unknown to the service asked"),
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
