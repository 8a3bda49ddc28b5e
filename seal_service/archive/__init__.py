"""Long-term preservation of issued licences: versions of a licence's PDF, archive renewal (re-time-stamping
before the newest document time-stamp expires), its schedule, and TSA key rotation.

Example::

    >>> from seal_service.archive import renew_archive
    >>> renew_archive(instance, at=now, horizon=timedelta(days=365)).renewed     # doctest: +SKIP

Public surface: what is imported here. See docs/lifecycle.md ("Archive renewal").
"""

from seal_service.archive.horizon import NotRenewable, verifiable_until
from seal_service.archive.renewal import (
    AlreadyRenewed,
    ArchiveRenewer,
    PendingRenewal,
    RenewalOutcome,
    RenewalOutcomeKind,
    RenewalRound,
    RenewalTooLate,
    RenewedPdf,
    commit_renewal,
    commit_renewals,
    renew_archive,
    renew_licence,
    renew_licences,
)
from seal_service.archive.versions import (
    LicenceVersionInfo,
    last_renewed,
    licence_pdf,
    licence_versions,
    versions_of,
)

__all__ = [
    "AlreadyRenewed",
    "ArchiveRenewer",
    "LicenceVersionInfo",
    "NotRenewable",
    "PendingRenewal",
    "RenewalOutcome",
    "RenewalOutcomeKind",
    "RenewalRound",
    "RenewalTooLate",
    "RenewedPdf",
    "commit_renewal",
    "commit_renewals",
    "last_renewed",
    "licence_pdf",
    "licence_versions",
    "renew_archive",
    "renew_licence",
    "renew_licences",
    "verifiable_until",
    "versions_of",
]
