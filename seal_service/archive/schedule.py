"""Archive renewal on a schedule: ``serve`` renews, every ``SEAL_ARCHIVE_RENEWAL_INTERVAL_HOURS`` (``0`` off), the
B-LTA licences whose newest time-stamp expires within ``SEAL_ARCHIVE_RENEWAL_HORIZON_DAYS``.

Example::

    schedule = RenewalSchedule(instance, interval=timedelta(hours=24), horizon=timedelta(days=365))
    schedule.run_once(at=now)   # one round, e.g. from a test
    schedule.start()            # a background thread (the API starts one with the app)
    schedule.stop()

Several API processes may each run the schedule: a licence renewed by one is skipped by the others (the renewal
commit locks the licence and refuses a second version made from the same one), so the only cost is duplicated
reading. Operators with many workers can set the interval to 0 there and run ``seal-service archive renew`` from
cron instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from seal_service.archive.renewal import ArchiveRenewer, RenewalRound, renew_archive

if TYPE_CHECKING:
    from seal_service.instance import Instance

log = logging.getLogger(__name__)


class RenewalSchedule:
    """Runs renewal rounds in a background thread; thread-safe to start and stop."""

    def __init__(
        self,
        instance: Instance,
        *,
        interval: timedelta,
        horizon: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._instance = instance
        self._interval = interval
        self._horizon = horizon
        self._clock = clock
        # Built once for the life of the schedule: the loaded TSA key and its precomputed token parts.
        self._renewer = ArchiveRenewer(instance)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_round: RenewalRound | None = None

    def run_once(self, *, at: datetime) -> RenewalRound:
        """One round at ``at``."""
        done = renew_archive(
            self._instance, at=at, horizon=self._horizon, renewer=self._renewer, actor="archive-renewal-schedule"
        )
        if done.renewed or done.unreadable or done.failed:
            log.info(
                "archive renewal: %d renewed, %d unreadable, %d failed", done.renewed, done.unreadable, done.failed
            )
        self.last_round = done
        return done

    def _run(self) -> None:
        # The first round waits a little (at most five minutes): a process that starts and stops at once (a test
        # server, a crash loop) should not read the whole archive each time.
        if self._stop.wait(min(self._interval.total_seconds(), 300.0)):
            return
        while not self._stop.is_set():
            try:
                self.run_once(at=self._clock())
            except Exception:
                # The next round retries; nothing is half-written (each renewal commits alone).
                log.exception("archive renewal round failed")
            self._stop.wait(max(self._interval.total_seconds(), 1.0))

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="archive-renewal", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the background thread and wait for it (a renewal in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["RenewalSchedule"]
