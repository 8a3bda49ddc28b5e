"""The issuance log's entries: one canonical byte encoding, written by the service and read by verifiers.

Example::

    >>> entry = LogEntry(kind=EntryKind.SEALED, licence="L0123", document_sha256="ab" * 32,
    ...                  certificate_sha256="cd" * 32, item="JC-001", authority="140500-SPJ",
    ...                  at="2026-12-03T08:00:00Z")
    >>> decode_entry(entry.encode()) == entry
    True

An entry is UTF-8 text: the line ``one-seal/log-entry/v1``, then one ``key value`` line per field, in the fixed
order of :data:`FIELDS` for its kind, each ending in ``\\n``; no other whitespace, no empty values, no optional
lines beyond those listed. Hashes are lower-case hex; times are UTC ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``. Decoding is
strict: any other byte sequence is refused, so an entry has exactly one encoding and its leaf hash
(``SHA-256(0x00 || entry)``) identifies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum

HEADER = "one-seal/log-entry/v1"


class EntryKind(StrEnum):
    """What happened: a licence sealed, a licence's status changed, or a seal retired."""

    SEALED = "sealed"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    CANCELLED = "cancelled"
    RENEWED = "renewed"
    SEAL_RETIRED = "seal-retired"


#: Fields of each kind, in encoding order (``type`` always first, ``at`` always last).
FIELDS: dict[EntryKind, tuple[str, ...]] = {
    EntryKind.SEALED: ("licence", "document-sha256", "certificate-sha256", "item", "authority", "at"),
    EntryKind.REVOKED: ("licence", "authority", "at"),
    EntryKind.SUSPENDED: ("licence", "authority", "at"),
    EntryKind.REINSTATED: ("licence", "authority", "at"),
    EntryKind.CANCELLED: ("licence", "authority", "at"),
    EntryKind.RENEWED: ("licence", "document-sha256", "certificate-sha256", "item", "authority", "at"),
    EntryKind.SEAL_RETIRED: ("seal", "certificate-sha256", "authority", "at"),
}

_VALUE = re.compile(r"[^\s\x00-\x1f\x7f]{1,200}")
_HEX = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")


class EntryError(ValueError):
    """Bytes that are not a canonical log entry."""


def format_time(at: datetime) -> str:
    """The canonical time text of ``at`` (UTC, microseconds only when not zero)."""
    if at.tzinfo is None:
        raise EntryError("log entry times must be timezone-aware")
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "Z"


@dataclass(frozen=True)
class LogEntry:
    """One entry; the fields a kind does not use are None."""

    kind: EntryKind
    at: str
    """When it happened, canonical UTC text (:func:`format_time`)."""
    authority: str
    """Code of the issuing authority (the seal's owner)."""
    licence: str | None = None
    """Public licence id (the QR code's ``/v/{id}``)."""
    document_sha256: str | None = None
    """SHA-256 (hex) of the exact sealed PDF bytes handed out."""
    certificate_sha256: str | None = None
    """SHA-256 (hex) of the DER of the seal certificate that signed (or, for seal-retired, the retired one)."""
    item: str | None = None
    """Catalogue item code."""
    seal: str | None = None
    """Seal id (seal-retired entries)."""

    def __post_init__(self) -> None:
        wanted = set(FIELDS[self.kind]) | {"kind"}
        for f in fields(self):
            key = f.name.replace("_", "-")
            value = getattr(self, f.name)
            if (key in wanted) != (value is not None):
                raise EntryError(f"a {self.kind.value} entry {'needs' if key in wanted else 'has no'} field {key}")
            if f.name == "kind" or value is None:
                continue
            if not isinstance(value, str) or not _VALUE.fullmatch(value):
                raise EntryError(f"field {key} must be 1-200 printable characters without spaces")
            if key.endswith("sha256") and not _HEX.fullmatch(value):
                raise EntryError(f"field {key} must be 64 lower-case hex digits")
            if key == "at" and not _TIME.fullmatch(value):
                raise EntryError("field at must be a UTC time YYYY-MM-DDTHH:MM:SS[.ffffff]Z")

    def encode(self) -> bytes:
        """The canonical bytes (what the log's leaf hash covers)."""
        lines = [HEADER, f"type {self.kind.value}"]
        lines += [f"{key} {getattr(self, key.replace('-', '_'))}" for key in FIELDS[self.kind]]
        return ("\n".join(lines) + "\n").encode()

    @property
    def sealed_at(self) -> datetime:
        """``at`` as a datetime."""
        return datetime.strptime(self.at, "%Y-%m-%dT%H:%M:%S.%fZ" if "." in self.at else "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )


def decode_entry(data: bytes) -> LogEntry:
    """Parse canonical entry bytes; raises :class:`EntryError` for anything else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EntryError("a log entry is not UTF-8") from None
    if not text.endswith("\n"):
        raise EntryError("a log entry ends with a newline")
    lines = text[:-1].split("\n")
    if lines[0] != HEADER or len(lines) < 2 or not lines[1].startswith("type "):
        raise EntryError(f"not a {HEADER} entry")
    try:
        kind = EntryKind(lines[1][5:])
    except ValueError:
        raise EntryError(f"unknown log entry type {lines[1][5:]!r}") from None
    keys = FIELDS[kind]
    if len(lines) != 2 + len(keys):
        raise EntryError(f"a {kind.value} entry has {len(keys)} fields")
    values: dict[str, str] = {}
    for key, line in zip(keys, lines[2:], strict=True):
        name, sep, value = line.partition(" ")
        if name != key or not sep:
            raise EntryError(f"expected field {key} in a {kind.value} entry, found {line[:40]!r}")
        values[key.replace("-", "_")] = value
    entry = LogEntry(kind=kind, **values)
    if entry.encode() != data:
        raise EntryError("a log entry is not in canonical form")
    return entry


__all__ = ["FIELDS", "HEADER", "EntryError", "EntryKind", "LogEntry", "decode_entry", "format_time"]
