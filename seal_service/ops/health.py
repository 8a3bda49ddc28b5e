"""Readiness of one node: can it serve requests now? (Liveness, "is the process alive", needs no check at all.)

Example::

    >>> readiness = check_readiness(instance, at=datetime.now(UTC))          # doctest: +SKIP
    >>> readiness.ready, [c.name for c in readiness.checks if not c.ok]      # doctest: +SKIP
    (False, ['database'])

Four checks, each named in the answer so an operator sees which one failed:

1. ``database``: a ``SELECT 1`` on the node's pool.
2. ``keys``: the key store unlocks the TSA key (the passphrase or HSM PIN works).
3. ``sealing``: the server's sealing processes accept a connection on their socket (under ``seal-service serve``;
   an app that seals in its own threads has nothing to check).
4. ``publication``: the newest published CRL of each issuer is still within its validity (``nextUpdate`` in the
   future), and the node's publisher, if it runs, has completed a round recently. Relying parties must never be
   handed stale revocation data by a node that calls itself ready.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text

if TYPE_CHECKING:
    from seal_service.instance import Instance
    from seal_service.services.publication import RevocationPublisher


@dataclass(frozen=True)
class Check:
    """The outcome of one readiness check."""

    name: str
    """database, keys, sealing or publication."""
    ok: bool
    detail: str
    """What was found: "ok", or why the check failed (no secrets, no personal data)."""


@dataclass(frozen=True)
class Readiness:
    """All checks of one node at one moment."""

    at: datetime
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    def to_json(self) -> dict[str, object]:
        """``{"status": "ready"|"not ready", "checks": {name: {"ok", "detail"}}}``."""
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


def _run(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except Exception as exc:  # a failing dependency is the answer, not an error of the probe
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        return Check(name, False, f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__)


def _database(instance: Instance) -> str:
    with instance.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return "ok"


def _keys(instance: Instance) -> str:
    instance.timestamps  # noqa: B018 - loads the TSA key once: proves the key store unlocks
    return "ok"


def _sealing(socket_path: Path | None) -> str:
    if socket_path is None:
        return "ok (sealing in threads of this worker)"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        probe.connect(str(socket_path))  # queued in the backlog even when every process is busy: alive, not idle
    return "ok"


def _publication(instance: Instance, publisher: RevocationPublisher | None, interval: timedelta, at: datetime) -> str:
    from seal_service.storage.lifecycle_models import PublishedCrl

    with instance.sessions() as session:
        rows = session.execute(
            select(PublishedCrl.issuer_role, func.max(PublishedCrl.next_update)).group_by(PublishedCrl.issuer_role)
        ).all()
    stale = [f"{role} CRL expired at {next_update.isoformat()}" for role, next_update in rows if next_update <= at]
    if stale:
        raise RuntimeError("; ".join(stale))
    if publisher is not None and publisher.last_round is not None and interval > timedelta(0):
        age = at - publisher.last_round.at
        if age > 2 * interval + timedelta(minutes=1):
            raise RuntimeError(f"the last publication round was {int(age.total_seconds())} s ago")
    return "ok" if rows else "ok (no CRL published yet; made on the first request)"


def check_readiness(
    instance: Instance,
    *,
    at: datetime,
    sealing_socket: Path | None = None,
    publisher: RevocationPublisher | None = None,
) -> Readiness:
    """Run every check (blocking: database and socket I/O) and return what each found."""
    interval = timedelta(seconds=instance.settings.publication_interval_seconds)
    checks = (
        _run("database", lambda: _database(instance)),
        _run("keys", lambda: _keys(instance)),
        _run("sealing", lambda: _sealing(sealing_socket)),
        _run("publication", lambda: _publication(instance, publisher, interval, at)),
    )
    return Readiness(at=at, checks=checks)
