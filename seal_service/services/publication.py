"""Pre-producing revocation information on a schedule: CRLs, OCSP responses and the trust bundle.

Example::

    publisher = RevocationPublisher(instance, interval=timedelta(minutes=30))
    publisher.publish(at=now)     # once, e.g. from a test or `seal-service crl publish`
    publisher.start()             # a background thread (the API starts one with the app)
    ...
    publisher.stop()

Each round asks for what relying parties will ask for, so that their requests are answered from what is already
signed: the CRLs of the root and the seal CA (stored in the database, so every API node serves the same one), a
nonce-less OCSP response for every seal certificate (cached in this process), and the trust bundle. A round runs
every ``interval`` and, in addition, just after the next scheduled revocation (a memorandum cut-over), so the
responder, the CRL and the bundle switch to "revoked" at the cut-over without anyone acting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy import select

from seal_service.storage.models import SealCertificate

if TYPE_CHECKING:
    from seal_service.instance import Instance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublicationRound:
    """What one round produced."""

    at: datetime
    crl_numbers: dict[str, int]
    """CRL number now served per issuer role."""
    ocsp_responses: int
    """Seal certificates with a pre-produced OCSP response."""
    bundle_version: int | None
    """Trust bundle version now served (None when the instance has no bundle certificate yet)."""
    next_change: datetime | None
    """The next scheduled revocation after ``at``, if any."""


class RevocationPublisher:
    """Runs publication rounds; thread-safe to start and stop."""

    def __init__(
        self,
        instance: Instance,
        *,
        interval: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._instance = instance
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_round: PublicationRound | None = None

    def publish(self, *, at: datetime) -> PublicationRound:
        """One round at ``at``: CRLs, OCSP responses for every unexpired seal certificate, the trust bundle."""
        from seal_service.errors import ConfigurationError
        from seal_service.services.trust_bundle import current_trust_bundle

        instance = self._instance
        revocation = instance.revocation
        numbers = {}
        for role in ("root", "seal-ca"):
            crl = x509.load_der_x509_crl(revocation.crl(role, at=at))
            numbers[role] = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        with instance.sessions() as session:
            ders = session.scalars(select(SealCertificate.certificate_der).where(SealCertificate.not_after > at)).all()
            lifecycle = instance.lifecycle
            upcoming = [
                r.revoked_at
                for _, r in lifecycle.revoked_certificates(session, lifecycle.state(session))
                if r.revoked_at > at
            ]
        for der in ders:
            revocation.ocsp.response_for(x509.load_der_x509_certificate(der), at=at)
        try:
            bundle_version: int | None = current_trust_bundle(instance, at=at).version
        except ConfigurationError as exc:
            log.warning("no trust bundle published: %s", exc.detail)
            bundle_version = None
        result = PublicationRound(
            at=at,
            crl_numbers=numbers,
            ocsp_responses=len(ders),
            bundle_version=bundle_version,
            next_change=min(upcoming, default=None),
        )
        self.last_round = result
        from seal_service.ops import metrics

        metrics.published(at)
        return result

    def _wait_after(self, result: PublicationRound | None) -> float:
        wait = self._interval
        if result is not None and result.next_change is not None:
            # Wake one second after the cut-over so the new status is published at once.
            wait = min(wait, result.next_change - self._clock() + timedelta(seconds=1))
        return max(wait.total_seconds(), 1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            result = None
            try:
                result = self.publish(at=self._clock())
            except Exception:
                # A round that fails (database briefly down) is retried at the next one; requests still get
                # answers made on demand.
                log.exception("publication round failed")
            self._stop.wait(self._wait_after(result))

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="revocation-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["PublicationRound", "RevocationPublisher"]
