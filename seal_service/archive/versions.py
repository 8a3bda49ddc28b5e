"""The versions of a licence's PDF: version 1 as issued, then one per archive renewal.

Example::

    >>> with instance.sessions() as session:                                        # doctest: +SKIP
    ...     [v.version for v in licence_versions(session, licence)]
    [1, 2]
    >>> pdf, version = licence_pdf(instance, licence_id)              # the newest   # doctest: +SKIP
    >>> pdf, version = licence_pdf(instance, licence_id, version=1)   # as issued    # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seal_service.errors import NotFound
from seal_service.instance import Instance
from seal_service.storage.archive_models import LicenceVersion
from seal_service.storage.models import Licence, LicenceDocument


@dataclass(frozen=True)
class LicenceVersionInfo:
    """One version of a licence's PDF, without its bytes."""

    version: int
    """1 is the document as issued; 2, 3, ... archive renewals."""
    sha256: str
    """SHA-256 of this version's PDF, hex."""
    created_at: datetime
    """When it was made: the sealing time for version 1, the renewal time-stamp's time after."""
    renewal: bool
    """Whether the version is an archive renewal (False for version 1)."""


def _first(licence: Licence) -> LicenceVersionInfo:
    return LicenceVersionInfo(version=1, sha256=licence.document_sha256, created_at=licence.sealed_at, renewal=False)


def _info(row: LicenceVersion) -> LicenceVersionInfo:
    return LicenceVersionInfo(version=row.version, sha256=row.sha256, created_at=row.created_at, renewal=True)


def licence_versions(session: Session, licence: Licence) -> list[LicenceVersionInfo]:
    """Every version of ``licence``, oldest first (never empty)."""
    rows = session.execute(
        select(LicenceVersion.version, LicenceVersion.sha256, LicenceVersion.created_at)
        .where(LicenceVersion.licence_id == licence.id)
        .order_by(LicenceVersion.version)
    ).all()
    return [_first(licence), *(LicenceVersionInfo(r.version, r.sha256, r.created_at, True) for r in rows)]


def versions_of(instance: Instance, licence: Licence) -> list[LicenceVersionInfo]:
    """:func:`licence_versions` in a session of its own."""
    with instance.sessions() as session:
        return licence_versions(session, licence)


def current_version(session: Session, licence_id: str) -> int:
    """The newest version number of ``licence_id`` (1 when it was never renewed)."""
    newest = session.scalar(select(func.max(LicenceVersion.version)).where(LicenceVersion.licence_id == licence_id))
    return int(newest) if newest is not None else 1


def version_pdf(session: Session, licence: Licence, version: int | None = None) -> tuple[bytes, LicenceVersionInfo]:
    """The bytes of ``version`` of ``licence`` (default the newest) and what is known about it.

    :raises NotFound: the licence has no such version (field ``version``).
    """
    wanted = current_version(session, licence.id) if version is None else version
    if wanted == 1:
        document = session.get(LicenceDocument, licence.id)
        if document is None:
            raise NotFound(f"licence {licence.id} has no stored document")
        return document.pdf, _first(licence)
    row = session.get(LicenceVersion, (licence.id, wanted))
    if row is None:
        raise NotFound(f"licence {licence.id} has no version {wanted}", field="version")
    return row.pdf, _info(row)


def licence_pdf(instance: Instance, licence_id: str, version: int | None = None) -> tuple[bytes, LicenceVersionInfo]:
    """The PDF of ``licence_id`` at ``version`` (default the newest); :class:`NotFound` for an unknown licence or
    version."""
    with instance.sessions() as session:
        licence = session.get(Licence, licence_id)
        if licence is None:
            raise NotFound(f"unknown licence {licence_id!r}")
        return version_pdf(session, licence, version)


def last_renewed(session: Session, licence_id: str) -> datetime | None:
    """When ``licence_id`` was last renewed (None if never)."""
    newest: datetime | None = session.scalar(
        select(LicenceVersion.created_at)
        .where(LicenceVersion.licence_id == licence_id)
        .order_by(LicenceVersion.version.desc())
        .limit(1)
    )
    return newest
