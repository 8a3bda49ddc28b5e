"""Outages of what the service stands on (the database, the disk under ``SEAL_HOME``) as the service's own errors.

A request that meets an outage is refused with 503 and ``Retry-After`` (never a 500 with a traceback), and since
every record is written in one transaction, nothing of it is half written. The service itself stays up: the
connection pool checks connections before use (``pool_pre_ping``), so the first request after the outage simply
succeeds, without a restart.

Example::

    >>> from sqlalchemy.exc import OperationalError
    >>> as_outage(OperationalError("SELECT 1", {}, Exception("connection refused"))).status
    503
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from seal_service.errors import SealServiceError

_DISK_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded", "could not extend file")


class ServiceUnavailable(SealServiceError):
    """Something the service needs is unavailable for now; nothing was recorded, and the request may be retried."""

    status = 503
    slug = "service-unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (down, restarting, network cut) or refused the connection."""

    slug = "database-unavailable"
    title = "Database temporarily unavailable"


class StorageFull(ServiceUnavailable):
    """The disk under ``SEAL_HOME`` (or the database's) is full; nothing was written."""

    slug = "storage-full"
    title = "Storage full"

    def __init__(self, detail: str, *, retry_after: int = 30) -> None:
        super().__init__(detail, retry_after=retry_after)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def as_outage(exc: BaseException) -> ServiceUnavailable | None:
    """The outage ``exc`` stands for (full disk, unreachable database), or None if it is something else."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    for cause in _chain(exc):
        text = str(cause).lower()
        if (isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
            words in text for words in _DISK_FULL
        ):
            return StorageFull("the disk is full; nothing was recorded. Retry once space has been freed")
    for cause in _chain(exc):
        if isinstance(cause, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
            first_line = (str(getattr(cause, "orig", None) or cause).strip().splitlines() or ["unavailable"])[0]
            return DatabaseUnavailable(
                f"the database is unavailable ({first_line[:160]}); nothing was recorded. Retry shortly",
                retry_after=5,
            )
    return None


__all__ = ["DatabaseUnavailable", "ServiceUnavailable", "StorageFull", "as_outage"]
