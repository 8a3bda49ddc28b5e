"""Per client address limits for the public endpoints (search, export, complaints).

Example::

    >>> limiter = RateLimiter(limit=2, window_seconds=60)
    >>> limiter.hit("192.0.2.1", at=0.0); limiter.hit("192.0.2.1", at=1.0)
    >>> limiter.hit("192.0.2.1", at=2.0)
    Traceback (most recent call last):
    seal_service.errors.RateLimited: too many requests from this address: 2 per 60 s; retry in 58 s

A sliding window per address, kept in memory by each API process: with N processes behind a load balancer an
address gets at most N times the limit, which is the intent (stop scraping and floods, not count exactly). The
table of addresses is bounded; the least recently seen are forgotten first.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

from seal_service.errors import RateLimited


class RateLimiter:
    """At most ``limit`` hits per ``window_seconds`` per key (a client address)."""

    def __init__(self, *, limit: int, window_seconds: float, max_keys: int = 50_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, *, at: float) -> None:
        """Count one request of ``key`` at monotonic time ``at``; :class:`RateLimited` when over the limit."""
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
                if len(self._hits) > self.max_keys:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            while hits and hits[0] <= at - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, math.ceil(hits[0] + self.window - at))
                raise RateLimited(
                    f"too many requests from this address: {self.limit} per {self.window:g} s; retry in {retry} s",
                    retry_after=retry,
                )
            hits.append(at)
