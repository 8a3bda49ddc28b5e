"""The dispatcher: delivers committed events to webhook subscriptions and the broker, at least once, in order.

Example::

    >>> dispatcher = Dispatcher(instance)
    >>> dispatcher.run_once(at=datetime.now(UTC))     # one pass over the due receivers  # doctest: +SKIP
    >>> dispatcher.start(); ...; dispatcher.stop()     # a thread, as inside ``serve``      # doctest: +SKIP

How a pass goes, per receiver that has events after its cursor and is due:

1. Take it: a lease (``lease_owner``, ``lease_until``) set in a short transaction that selects it ``FOR UPDATE
   SKIP LOCKED`` (PostgreSQL; SQLite's write lock serialises it anyway) and only if no live lease exists. So one
   node at a time delivers a receiver's events, and a node killed mid-batch loses its lease when it runs out.
2. Read a window of the next events after the cursor. Webhooks: events of different licences (``subject``) are
   sent in parallel, those of one licence one after the other, stopping at the first that fails. The broker
   gets them in sequence order with publisher confirms, several windows in a row while the lease is held (for
   at most ``BROKER_RELAY_SECONDS``): the next window is read while the confirms of the previous ones are on
   their way, and each confirmed window moves the cursor (and renews the lease) in a transaction of its own.
3. Record the outcome in one transaction, only if the lease is still ours: the cursor moves over the prefix
   that succeeded; the first failure sets the backoff (exponential with jitter) or, once the event has failed
   for the retry period, becomes a dead letter and the cursor moves past it. A 410 disables the subscription.
   Events after a failure that did succeed are delivered again later, with the same ``webhook-id`` (receivers
   dedupe): at least once, never out of order per licence.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update

from seal_service.events.broker import BrokerError, BrokerMessage, BrokerPublisher, BrokerWindow
from seal_service.events.outbox import on_commit_of_events
from seal_service.events.posting import PostError, WebhookPoster
from seal_service.events.receivers import ensure_broker_receiver, last_seq
from seal_service.events.secret_box import SecretBox, SecretUnreadable
from seal_service.events.signing import webhook_headers
from seal_service.storage.events_models import DeadLetter, EventReceiver, SupervisionEvent, SupervisionEventRoute

if TYPE_CHECKING:
    from seal_service.instance import Instance

log = logging.getLogger(__name__)

#: Events taken per receiver and pass (the broker takes more: its confirms are awaited together per window).
WINDOW = 200
BROKER_WINDOW = 1000
#: Windows published to the broker before the oldest one's confirms are waited for.
BROKER_IN_FLIGHT = 3
#: Longest run of broker windows per pass (other receivers wait for the pass meanwhile).
BROKER_RELAY_SECONDS = 2.0
#: Parallel webhook requests per receiver (different licences).
PARALLEL = 8


@dataclass(frozen=True)
class _Event:
    seq: int
    id: str
    type: str
    subject: str | None
    envelope: str
    departments: tuple[str, ...] = ()


#: What a delivery needs of an event row (plain rows: no ORM objects per event).
_COLUMNS = (
    SupervisionEvent.seq,
    SupervisionEvent.id,
    SupervisionEvent.type,
    SupervisionEvent.subject,
    SupervisionEvent.envelope,
)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    gone: bool = False
    error: str | None = None


@dataclass(frozen=True)
class PassReport:
    """What one pass over the receivers did."""

    receivers: int
    delivered: int
    failed: int


def backoff(attempts: int, *, base: float, ceiling: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``attempts`` failures: ``base * 2**(attempts-1)`` capped, with jitter in [1/2, 1]."""
    delay: float = min(ceiling, base * 2 ** max(0, attempts - 1))
    jitter: float = (rng or random).random()
    return delay * (0.5 + jitter / 2)


class Dispatcher:
    """Delivers events of every receiver; safe to run on several nodes at once."""

    def __init__(self, instance: Instance, *, owner: str | None = None, clock: Callable[[], datetime] | None = None):
        self._instance = instance
        self._settings = instance.settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._http: WebhookPoster | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._broker: BrokerPublisher | None = None
        self._box: SecretBox | None = None

    # -- running ---------------------------------------------------------------------------------------------

    def start(self) -> Dispatcher:
        """Run in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self.run_forever, name="event-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (after the pass under way) and close connections."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(30.0, self._settings.webhook_timeout_seconds * 2))
        self.close()

    def close(self) -> None:
        """Close the HTTP client, the thread pool and the broker connection."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        if self._broker is not None:
            self._broker.close()
            self._broker = None

    def run_forever(self) -> None:
        """Pass over the receivers until stopped; sleeps until an event commits here, the poll interval passes, or
        a backoff ends."""
        self._unsubscribe = on_commit_of_events(self._wake.set)
        try:
            ensure_broker_receiver(self._instance, at=self._clock())
        except Exception:
            log.exception("cannot register the broker relay")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = self.run_once()
            except Exception:
                log.exception("dispatcher pass failed")
                report = PassReport(0, 0, 1)
            if report.delivered and not report.failed:
                continue  # more may be waiting behind the window
            self._wake.wait(self._settings.dispatcher_poll_seconds)

    # -- one pass --------------------------------------------------------------------------------------------

    def run_once(self, *, at: datetime | None = None) -> PassReport:
        """One pass: every due receiver with pending events gets one window delivered."""
        receivers = delivered = failed = 0
        for receiver_id in self._pending(at or self._clock()):
            row = self._claim(receiver_id, at or self._clock())
            if row is None:
                continue
            receivers += 1
            ok, bad = self._deliver(row)
            delivered += ok
            failed += bad
        return PassReport(receivers, delivered, failed)

    def _pending(self, now: datetime) -> list[str]:
        """Ids of active, due receivers that have events after their cursor (read only: cheap when idle)."""
        with self._instance.sessions() as session:
            newest = last_seq(session)
            rows = session.execute(
                select(EventReceiver.id, EventReceiver.kind, EventReceiver.department, EventReceiver.cursor).where(
                    EventReceiver.status == "active",
                    EventReceiver.cursor < newest,
                    or_(EventReceiver.next_attempt_at.is_(None), EventReceiver.next_attempt_at <= now),
                    or_(EventReceiver.lease_until.is_(None), EventReceiver.lease_until < now),
                )
            ).all()
            due = []
            for r in rows:
                if r.kind == "broker" and not self._settings.broker_url:
                    continue
                if r.kind == "webhook":
                    waiting = session.scalar(
                        select(SupervisionEventRoute.seq)
                        .where(SupervisionEventRoute.department == r.department, SupervisionEventRoute.seq > r.cursor)
                        .limit(1)
                    )
                    if waiting is None:
                        continue
                due.append(r.id)
        return due

    def _claim(self, receiver_id: str, now: datetime) -> EventReceiver | None:
        """(1) Take the receiver's lease, or None when another node holds it."""
        lease_until = now + timedelta(seconds=self._settings.dispatcher_lease_seconds)
        free = and_(
            EventReceiver.id == receiver_id,
            EventReceiver.status == "active",
            or_(EventReceiver.lease_until.is_(None), EventReceiver.lease_until < now),
        )
        with self._instance.writer.begin() as session:
            row = session.scalars(select(EventReceiver).where(free).with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            row.lease_owner, row.lease_until = self.owner, lease_until
            session.flush()
            session.expunge(row)
            return row

    def _broker_window(self, after: int) -> list[_Event]:
        """The next events after ``after``, each with every department it is routed to."""
        with self._instance.sessions() as session:
            query = select(*_COLUMNS).where(SupervisionEvent.seq > after).order_by(SupervisionEvent.seq)
            events = session.execute(query.limit(BROKER_WINDOW))
            found = [_Event(*e) for e in events]
            if not found:
                return []
            routes: dict[int, list[str]] = {}
            for seq, department in session.execute(
                select(SupervisionEventRoute.seq, SupervisionEventRoute.department).where(
                    SupervisionEventRoute.seq.between(found[0].seq, found[-1].seq)
                )
            ):
                routes.setdefault(seq, []).append(department)
        return [_Event(e.seq, e.id, e.type, e.subject, e.envelope, tuple(sorted(routes.get(e.seq, ())))) for e in found]

    def _window(self, row: EventReceiver) -> list[_Event]:
        with self._instance.sessions() as session:
            events = session.execute(
                select(*_COLUMNS)
                .join(SupervisionEventRoute, SupervisionEventRoute.seq == SupervisionEvent.seq)
                .where(SupervisionEventRoute.department == row.department, SupervisionEventRoute.seq > row.cursor)
                .order_by(SupervisionEventRoute.seq)
                .limit(WINDOW)
            )
            return [_Event(*e) for e in events]

    def _deliver(self, row: EventReceiver) -> tuple[int, int]:
        """(2) Deliver a window and (3) record the outcome; returns (delivered, failed) counts."""
        if row.kind == "broker":
            return self._relay(row)
        events = self._window(row)
        if not events:
            self._finish(row, events, {})
            return 0, 0
        try:
            secret = self._secret(row)
        except SecretUnreadable as exc:
            # Nothing can be signed: the first event fails (backoff, then dead letters) with the reason in the
            # receiver's status, where operators look.
            log.error("subscription %s: %s", row.id, exc.detail)
            self._finish(row, events[:1], {events[0].seq: _Outcome(False, error=exc.detail[:500])})
            return 0, 1
        outcomes = self._post_all(row, events, secret)
        self._finish(row, events, outcomes)
        ok = sum(1 for o in outcomes.values() if o.ok)
        return ok, len(events) - ok

    # -- channels ---------------------------------------------------------------------------------------------

    def _publisher(self) -> BrokerPublisher:
        if self._broker is None:
            settings = self._settings
            self._broker = BrokerPublisher(
                settings.broker_url or "",
                exchange=settings.broker_exchange,
                timeout=settings.webhook_timeout_seconds,
                name=f"one-seal dispatcher {self.owner}",
            )
        return self._broker

    def _relay(self, row: EventReceiver) -> tuple[int, int]:
        """(2, 3) The broker: windows in a row, each committed once confirmed; the first failure backs off."""
        progress = {"cursor": row.cursor, "delivered": 0}
        lease = timedelta(seconds=self._settings.dispatcher_lease_seconds)

        def read(after: int) -> BrokerWindow | None:
            events = self._broker_window(after)
            if not events:
                return None
            messages = [BrokerMessage(e.seq, e.id, e.type, e.departments, e.envelope) for e in events if e.departments]
            return BrokerWindow(last_seq=events[-1].seq, count=len(events), messages=messages)

        def commit(window: BrokerWindow) -> bool:
            # Only while the lease is ours (as in _finish), which this renews.
            with self._instance.writer.begin() as session:
                changed = session.execute(  # type: ignore[attr-defined]
                    update(EventReceiver)
                    .where(EventReceiver.id == row.id, EventReceiver.lease_owner == self.owner)
                    .values(
                        cursor=window.last_seq,
                        delivered=EventReceiver.delivered + window.count,
                        attempts=0,
                        failing_since=None,
                        next_attempt_at=None,
                        last_error=None,
                        lease_until=self._clock() + lease,
                    )
                ).rowcount
            if changed:
                progress["cursor"] = window.last_seq
                progress["delivered"] += window.count
            return bool(changed)

        until = time.monotonic() + min(BROKER_RELAY_SECONDS, self._settings.dispatcher_lease_seconds / 3)
        try:
            self._publisher().relay(read, commit, after=row.cursor, until=until, in_flight=BROKER_IN_FLIGHT)
        except BrokerError as exc:
            # (3) As for a window that failed: the row as it stands after the committed windows, then the failure.
            if progress["cursor"] != row.cursor:
                row.cursor, row.attempts, row.failing_since = progress["cursor"], 0, None
            pending = self._broker_window(row.cursor)[:1]
            failure = {e.seq: _Outcome(False, error=str(exc)[:500]) for e in pending}
            self._finish(row, pending, failure)
            return progress["delivered"], 1
        self._release(row)
        return progress["delivered"], 0

    def _release(self, row: EventReceiver) -> None:
        with self._instance.writer.begin() as session:
            session.execute(
                update(EventReceiver)
                .where(EventReceiver.id == row.id, EventReceiver.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def _secret(self, row: EventReceiver) -> str:
        if self._box is None:
            self._box = SecretBox(self._settings.passphrase())
        return self._box.open(row.sealed_secret or "", receiver_id=row.id)

    def _client(self) -> WebhookPoster:
        if self._http is None:
            self._http = WebhookPoster(timeout=self._settings.webhook_timeout_seconds)
        return self._http

    def _post(self, row: EventReceiver, event: _Event, secret: str) -> _Outcome:
        body = event.envelope.encode()
        headers = webhook_headers(secret, event.id, timestamp=int(time.time()), body=body)
        headers["content-type"] = "application/cloudevents+json; charset=utf-8"
        try:
            status = self._client().post(row.url or "", body, headers).status
        except PostError as exc:
            return _Outcome(False, error=str(exc)[:500])
        if 200 <= status < 300:
            return _Outcome(True)
        if status == 410:
            return _Outcome(False, gone=True, error="410 Gone: the receiver asked to stop")
        return _Outcome(False, error=f"HTTP {status}")

    def _post_all(self, row: EventReceiver, events: list[_Event], secret: str) -> dict[int, _Outcome]:
        # Events of one licence in order, one after the other; different licences in parallel.
        by_subject: dict[str, list[_Event]] = {}
        for e in events:
            by_subject.setdefault(e.subject or f"#{e.seq}", []).append(e)

        # After a failure no new request starts in this window: a receiver that times out costs one timeout per
        # connection, not one per event, and the window ends well within the lease.
        failed = threading.Event()

        def run(chain: list[_Event]) -> dict[int, _Outcome]:
            done: dict[int, _Outcome] = {}
            for e in chain:
                if failed.is_set():
                    break
                done[e.seq] = outcome = self._post(row, e, secret)
                if not outcome.ok:
                    failed.set()
                    break
            return done

        chains = list(by_subject.values())
        if len(chains) == 1:
            return run(chains[0])
        if self._pool is None:
            self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="webhook")
        outcomes: dict[int, _Outcome] = {}
        for done in self._pool.map(run, chains):
            outcomes.update(done)
        return outcomes

    # -- recording --------------------------------------------------------------------------------------------

    def _finish(self, row: EventReceiver, events: list[_Event], outcomes: dict[int, _Outcome]) -> None:
        """(3) Move the cursor over the delivered prefix; back off, dead-letter or disable at the first failure."""
        settings = self._settings
        now = self._clock()
        cursor, delivered, first_failure = row.cursor, 0, None
        for e in events:
            outcome = outcomes.get(e.seq)
            if outcome is None or not outcome.ok:
                first_failure = (e, outcome)
                break
            cursor, delivered = e.seq, delivered + 1
        values: dict[str, object] = {
            "cursor": cursor,
            "delivered": EventReceiver.delivered + delivered,
            "lease_owner": None,
            "lease_until": None,
        }
        dead: DeadLetter | None = None
        if first_failure is None:
            values.update(attempts=0, failing_since=None, next_attempt_at=None, last_error=None)
        else:
            event, outcome = first_failure
            error = (outcome.error if outcome else None) or "not attempted after an earlier failure of its licence"
            moved = cursor != row.cursor
            attempts = 1 if moved else row.attempts + 1
            since = now if moved or row.failing_since is None else row.failing_since
            values.update(attempts=attempts, failing_since=since, last_error=error)
            if outcome is not None and outcome.gone:
                values.update(status="disabled", status_reason=f"the receiver answered 410 Gone at event {event.seq}")
            elif (now - since).total_seconds() >= settings.webhook_retry_seconds:
                dead = DeadLetter(receiver_id=row.id, seq=event.seq, attempts=attempts, last_error=error, at=now)
                values.update(cursor=event.seq, attempts=0, failing_since=None, next_attempt_at=None)
            else:
                delay = backoff(
                    attempts, base=settings.webhook_backoff_seconds, ceiling=settings.webhook_backoff_max_seconds
                )
                values.update(next_attempt_at=now + timedelta(seconds=delay))
        with self._instance.writer.begin() as session:
            # Only while the lease is ours: a node that lost it (it ran over) must not move another node's cursor.
            changed = session.execute(  # type: ignore[attr-defined]
                update(EventReceiver)
                .where(EventReceiver.id == row.id, EventReceiver.lease_owner == self.owner)
                .values(**values)
            ).rowcount
            if changed and dead is not None:
                session.add(dead)
                log.warning("event %s to %s dead-lettered: %s", dead.seq, row.id, dead.last_error)


def run_dispatcher(instance: Instance, *, stop: threading.Event) -> None:
    """Run a dispatcher until ``stop`` is set (``seal-service dispatch``)."""
    dispatcher = Dispatcher(instance).start()
    try:
        stop.wait()
    finally:
        dispatcher.stop()
