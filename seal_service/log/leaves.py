"""Writing log entries: one call per change, inside the transaction that makes the change.

Example (inside ``with instance.writer.begin() as session``)::

    >>> log_licence_sealed(session, instance.settings, licence_id=..., document_sha256=..., certificate_der=...,
    ...                    item=..., authority=..., at=now)                                 # doctest: +SKIP

The entry becomes a ``log_pending`` row committed (or rolled back) with the change itself; the sequencer puts it
in the tree within ``log_sequence_delay_seconds``. These functions never wait for the sequencer.

For other branches: a renewal appends ``log_licence_renewed(...)`` in the transaction that commits the renewed
licence version (same arguments as :func:`log_licence_sealed`: the renewed document's hash and certificate).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from seal_service.settings import Settings
from seal_service.storage.commit_wakeups import CommitWakeups
from seal_service.storage.log_models import LogPending
from seal_service.storage.models import SealCertificate
from verifier.log_entry import EntryKind, LogEntry, format_time

#: Licence actions (``services.sealing.LicenceAction`` values) and the entry kind each writes.
STATUS_KINDS = {
    "revoke": EntryKind.REVOKED,
    "suspend": EntryKind.SUSPENDED,
    "reinstate": EntryKind.REINSTATED,
    "cancel": EntryKind.CANCELLED,
}


_INSERT_PENDING = insert(cast(Table, LogPending.__table__))

#: Set by :func:`append_entry` on its session: when the session commits, this process's sequencers wake.
ENTRIES_COMMITTED = CommitWakeups("log_entries_written")


def append_entry(session: Session, entry: LogEntry, *, licence_id: str | None = None) -> None:
    """Write ``entry`` as a pending log row in ``session``'s transaction."""
    # A statement built once, on the session's connection: the ORM's per-call handling cost more than the insert.
    session.connection().execute(
        _INSERT_PENDING,
        {"entry": entry.encode(), "kind": entry.kind.value, "licence_id": licence_id, "created_at": datetime.now(UTC)},
    )
    ENTRIES_COMMITTED.mark(session)


def append_entries(session: Session, entries: Sequence[tuple[LogEntry, str | None]]) -> None:
    """:func:`append_entry` for several ``(entry, licence_id)``, in order, written by one statement (executemany)."""
    if not entries:
        return
    now = datetime.now(UTC)
    session.connection().execute(
        _INSERT_PENDING,
        [
            {"entry": entry.encode(), "kind": entry.kind.value, "licence_id": licence_id, "created_at": now}
            for entry, licence_id in entries
        ],
    )
    ENTRIES_COMMITTED.mark(session)


def _document_entry(
    kind: EntryKind,
    *,
    licence_id: str,
    document_sha256: str,
    certificate_der: bytes,
    item: str,
    authority: str,
    at: datetime,
) -> LogEntry:
    return LogEntry(
        kind=kind,
        licence=licence_id,
        document_sha256=document_sha256,
        certificate_sha256=hashlib.sha256(certificate_der).hexdigest(),
        item=item,
        authority=authority,
        at=format_time(at),
    )


def _logged_document_entry(
    kind: EntryKind,
    settings: Settings,
    *,
    licence_id: str,
    document_sha256: str,
    certificate_der: bytes,
    item: str,
    authority: str,
    at: datetime,
) -> LogEntry | None:
    """The entry of a licence's document (None when the log is off)."""
    if not settings.log_enabled:
        return None
    return _document_entry(
        kind,
        licence_id=licence_id,
        document_sha256=document_sha256,
        certificate_der=certificate_der,
        item=item,
        authority=authority,
        at=at,
    )


def _log_document(kind: EntryKind, session: Session, settings: Settings, *, licence_id: str, **fields: Any) -> None:
    entry = _logged_document_entry(kind, settings, licence_id=licence_id, **fields)
    if entry is not None:
        append_entry(session, entry, licence_id=licence_id)


#: A licence was sealed (``services.sealing.seal_licence`` step 5); keyword arguments as
#: :func:`_logged_document_entry`.
log_licence_sealed = functools.partial(_log_document, EntryKind.SEALED)
#: A licence was renewed: the new version's document (``archive.renewal``, in the renewal's commit).
log_licence_renewed = functools.partial(_log_document, EntryKind.RENEWED)
#: The entry :data:`log_licence_renewed` would write (None when the log is off), for :func:`append_entries`.
licence_renewed_entry = functools.partial(_logged_document_entry, EntryKind.RENEWED)


def log_licence_status(
    session: Session, settings: Settings, *, licence_id: str, action: str, authority: str, at: datetime
) -> None:
    """A licence was revoked, suspended, reinstated or cancelled (``action``: revoke, suspend, reinstate, cancel)."""
    if settings.log_enabled:
        entry = LogEntry(kind=STATUS_KINDS[action], licence=licence_id, authority=authority, at=format_time(at))
        append_entry(session, entry, licence_id=licence_id)


def log_seal_retired(
    session: Session, settings: Settings, *, seal_id: str, certificate_der: bytes, authority: str, at: datetime
) -> None:
    """A seal was retired at a memorandum cut-over (one entry per certificate it held)."""
    if settings.log_enabled:
        entry = LogEntry(
            kind=EntryKind.SEAL_RETIRED,
            seal=seal_id,
            certificate_sha256=hashlib.sha256(certificate_der).hexdigest(),
            authority=authority,
            at=format_time(at),
        )
        append_entry(session, entry)


def log_seals_retired(
    session: Session, settings: Settings, *, seal_ids: Sequence[str], authority: str, at: datetime
) -> None:
    """Seals were retired by a memorandum: one seal-retired entry per certificate of each (``at``: the cut-over)."""
    if not settings.log_enabled or not seal_ids:
        return
    rows = session.execute(
        select(SealCertificate.seal_id, SealCertificate.certificate_der)
        .where(SealCertificate.seal_id.in_(list(seal_ids)))
        .order_by(SealCertificate.id)
    ).all()
    for seal_id, der in rows:
        log_seal_retired(session, settings, seal_id=seal_id, certificate_der=der, authority=authority, at=at)
