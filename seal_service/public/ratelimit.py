"""Per client address limits for the public endpoints (search, export, complaints), shared through the database.

Example::

    >>> limiter = RateLimiter(engine, bucket="search", limit=2, window_seconds=60)
    >>> limiter.hit("192.0.2.1", at=0.0); limiter.hit("192.0.2.1", at=1.0)
    >>> limiter.hit("192.0.2.1", at=2.0)
    Traceback (most recent call last):
    seal_service.errors.RateLimited: too many requests from this address: 2 per 60 s; retry in 58 s

A fixed window per (bucket, client address), counted in the table ``public_rate_counts`` (migration
``0006_public_limits``) by one atomic statement, ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (PostgreSQL,
and SQLite >= 3.35): every API process and every node over the database shares one count, so an address gets the
limit once, not once per process. Windows are aligned to wall-clock time (epoch seconds, nodes kept in time by
NTP); a client may burst up to twice the limit across a window boundary, the price of one row per window instead of
one per request. The address is stored as a SHA-256 prefix, never in clear, and its rows are deleted once their
window has passed (a range delete on an index, at most once a minute per process).

On PostgreSQL the statement runs alone in autocommit with ``synchronous_commit=off`` on a small pool of its own
(:func:`counting_engine`): one round trip, no wait for the WAL flush. A database error while counting is an outage
(:class:`~seal_service.outages.ServiceUnavailable`, 503 with ``Retry-After``), never a 500: the request is refused,
as every request needing the database would be.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from seal_service.errors import RateLimited
from seal_service.outages import DatabaseUnavailable, as_outage

log = logging.getLogger(__name__)

#: How often (seconds, per limiter) rows of windows that have ended are deleted.
PRUNE_EVERY = 60.0

_COUNT = text(
    "INSERT INTO public_rate_counts (bucket, client, window_start, hits, expires_at) "
    "VALUES (:bucket, :client, :window_start, 1, :expires_at) "
    "ON CONFLICT (bucket, client, window_start) DO UPDATE SET hits = public_rate_counts.hits + 1 "
    "RETURNING hits"
)
_PRUNE = text("DELETE FROM public_rate_counts WHERE expires_at <= :now")


_COUNTING_ENGINES: dict[str, Engine] = {}
_COUNTING_LOCK = threading.Lock()


def counting_engine(engine: Engine) -> Engine | None:
    """PostgreSQL only: a small pool whose connections count in autocommit (the upsert is atomic on its own: no
    BEGIN, COMMIT or ping round trips), with ``synchronous_commit=off`` (a counter need not wait for the WAL flush;
    a crash loses at most the last fraction of a second of counts) and a 1 s ``statement_timeout`` (a check never
    hangs a request: it fails, as a 503). One per database, shared by the limiters of a process. None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    key = engine.url.render_as_string(hide_password=False)
    with _COUNTING_LOCK:
        counting = _COUNTING_ENGINES.get(key)
        if counting is None:
            counting = _COUNTING_ENGINES[key] = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=4,
                max_overflow=8,
                pool_recycle=300,
                pool_reset_on_return=None,
                connect_args={"options": "-c synchronous_commit=off -c statement_timeout=1000"},
            )
        return counting


def client_key(address: str) -> str:
    """The stored form of a client address: a SHA-256 prefix (pseudonymised, fixed length)."""
    return hashlib.sha256(address.encode("utf-8", errors="replace")).hexdigest()[:32]


class RateLimiter:
    """At most ``limit`` hits per fixed window of ``window_seconds`` per client address, counted in the database
    under ``bucket`` (``search``, ``export``, ``complaint``) so that all processes and nodes share one count."""

    def __init__(self, engine: Engine, *, bucket: str, limit: int, window_seconds: int) -> None:
        self.engine = engine
        self._counting = counting_engine(engine)
        self.bucket = bucket
        self.limit = limit
        self.window = int(window_seconds)
        self._last_prune = -math.inf
        self._lock = threading.Lock()

    def hit(self, address: str, *, at: float) -> None:
        """Count one request of ``address`` at ``at`` (epoch seconds); :class:`RateLimited` when over the limit,
        :class:`~seal_service.outages.ServiceUnavailable` when the database cannot count it."""
        window_start = int(at // self.window) * self.window
        params = {
            "bucket": self.bucket,
            "client": client_key(address),
            "window_start": window_start,
            "expires_at": window_start + self.window,
        }
        try:
            with self._writing() as connection:
                hits = int(connection.execute(_COUNT, params).scalar_one())
        except SQLAlchemyError as exc:
            raise as_outage(exc) or DatabaseUnavailable(
                "the request limits cannot be checked (database error); retry shortly", retry_after=5
            ) from None
        self._maybe_prune(at)
        if hits > self.limit:
            retry = max(1, math.ceil(window_start + self.window - at))
            raise RateLimited(
                f"too many requests from this address: {self.limit} per {self.window} s; retry in {retry} s",
                retry_after=retry,
            )

    def _maybe_prune(self, at: float) -> None:
        with self._lock:
            if at - self._last_prune < PRUNE_EVERY:
                return
            self._last_prune = at
        try:
            with self._writing() as connection:
                connection.execute(_PRUNE, {"now": int(at)})
        except SQLAlchemyError as exc:  # the request was counted; the next prune deletes what this one left
            log.warning("public rate counts not pruned: %s", str(exc).splitlines()[0][:160])

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        if self._counting is not None:  # PostgreSQL: the statement alone, in autocommit (one round trip)
            with self._counting.connect() as connection:
                yield connection
            return
        # SQLite: a write transaction (BEGIN IMMEDIATE, queued on the busy timeout like every writer).
        with self.engine.connect() as connection:
            connection.execution_options(seal_writer=True)
            with connection.begin():
                yield connection


__all__ = ["PRUNE_EVERY", "RateLimiter", "client_key", "counting_engine"]
