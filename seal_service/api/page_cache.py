"""Licence pages served from memory: a short-lived cache of finished responses, and the ASGI fast path that answers
``GET``/``HEAD /v/{licence id}`` from it ahead of FastAPI.

Example::

    >>> pages = LicencePages(lambda licence_id, lang: (404, ((b"content-length", b"2"),), b"no"), ttl=2.0)
    >>> app = LicencePageFastPath(fastapi_app, pages=pages)  # doctest: +SKIP
    >>> page = await pages.page("LNOSUCH", "zh")  # doctest: +SKIP

(The fast path answers hits and passes the rest on; the route's ``pages.page`` renders a missing page once.)

Why ahead of FastAPI: a QR code printed on a licence can be scanned by many people at once, and at 64 connections on
two cores the Python HTTP stack (routing, dependency injection, middleware, response objects) costs far more than
the page itself. The fast path sends a cached page with two ``send`` calls; everything it does not hold (a page
not yet rendered or expired, another query string, any other path or method) goes to the application unchanged,
whose route renders the page through :meth:`LicencePages.page` and so fills the cache.

Freshness: a page is served for at most ``ttl`` seconds after the database read it shows began, so a status change
shows within ``ttl``. In the last ``refresh_ahead`` seconds of that time, the first request that finds the page
starts one re-render in the background and is still answered from the cache; under steady load a page therefore
never expires, and no request waits for a database read. Concurrent requests for a page that is not cached wait for
one shared render instead of each reading the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from starlette.concurrency import run_in_threadpool

from seal_service.api.limits import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

#: (HTTP status, response headers as sent, body): what a renderer returns.
Rendered = tuple[int, tuple[tuple[bytes, bytes], ...], bytes]
#: (licence id, language): the cache key.
PageKey = tuple[str, str]

#: The query strings the fast path understands, and the language each selects (as the route reads ``lang``).
#: Any other query string goes to the application, which parses it and serves the page from the same cache.
_QUERY_LANGS: dict[bytes, str] = {b"": "zh", b"lang=zh": "zh", b"lang=en": "en"}


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A finished response, ready to send as it is."""

    status: int
    """HTTP status: 200 for a licence on record, 404 for the "not found" page."""
    headers: tuple[tuple[bytes, bytes], ...]
    """The response headers exactly as the route sends them (content type and length, caching, security)."""
    body: bytes
    """The encoded HTML."""
    fresh_until: float
    """Clock time after which the page is no longer served: the start of its database read plus the TTL."""
    refresh_from: float
    """Clock time from which a request that finds the page starts a re-render in the background."""


class LicencePages:
    """Rendered licence pages per (licence id, language): bounded, short-lived, one render per key at a time.

    ``render(licence_id, lang)`` is blocking (it reads the database) and runs in the thread pool. ``clock`` is a
    monotonic clock in seconds; tests pass their own to step past the TTL without sleeping.
    """

    def __init__(
        self,
        render: Callable[[str, str], Rendered],
        *,
        ttl: float,
        refresh_ahead: float = 0.5,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= refresh_ahead < ttl:
            raise ValueError("refresh_ahead must be at least 0 and less than the TTL")
        self.render = render
        self.ttl = ttl
        self.refresh_ahead = refresh_ahead
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[PageKey, CachedPage] = OrderedDict()
        self._renders: dict[PageKey, asyncio.Task[CachedPage]] = {}
        # Entries are written from the event loop after a render; the lock keeps eviction sound should two loops
        # (two test clients, say) share one cache. Reads need no lock: a dict lookup is atomic.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def hit(self, licence_id: str, lang: str) -> CachedPage | None:
        """The cached page if it is fresh, else None; starts a background re-render when the page is due for one.

        Called by the fast path on the event loop, for every request: kept to a lookup and two comparisons.
        """
        key = (licence_id, lang)
        page = self._entries.get(key)
        if page is None:
            return None
        now = self.clock()
        if now >= page.refresh_from:
            if now >= page.fresh_until:
                return None
            if key not in self._renders:
                self._start_render(key, background=True)
        return page

    async def page(self, licence_id: str, lang: str) -> CachedPage:
        """The page, from the cache if fresh, else rendered (once for all requests that ask meanwhile)."""
        key = (licence_id, lang)
        page = self._entries.get(key)
        if page is not None and self.clock() < page.fresh_until:
            return page
        # Shielded: a client that goes away must not cancel a render other requests wait for.
        return await asyncio.shield(self._start_render(key, background=False))

    def _start_render(self, key: PageKey, *, background: bool) -> asyncio.Task[CachedPage]:
        loop = asyncio.get_running_loop()
        task = self._renders.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._render(key))
            self._renders[key] = task
            task.add_done_callback(partial(self._render_done, key, background))
        return task

    async def _render(self, key: PageKey) -> CachedPage:
        # The page is fresh for the TTL from *before* the read, so it never shows a status older than the TTL.
        started = self.clock()
        status, headers, body = await run_in_threadpool(self.render, *key)
        page = CachedPage(
            status=status,
            headers=headers,
            body=body,
            fresh_until=started + self.ttl,
            refresh_from=started + self.ttl - self.refresh_ahead,
        )
        with self._lock:
            self._entries[key] = page
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return page

    def _render_done(self, key: PageKey, background: bool, task: asyncio.Task[CachedPage]) -> None:
        if self._renders.get(key) is task:
            del self._renders[key]
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so asyncio does not report it as never retrieved
        if error is not None and background:
            # A request that needs the page renders it again through the route, which reports the error.
            log.warning("re-rendering the licence page %s failed: %r", key[0][:64], error)


class LicencePageFastPath:
    """Pure ASGI middleware: answers ``GET``/``HEAD /v/{licence id}`` from :class:`LicencePages` when the page is
    cached and fresh, and passes every other request to ``app`` untouched.

    Install it outside every other middleware so that a cached page costs no routing, dependency injection or
    upload checks. Two ``send`` calls per page; the header tuple is shared and immutable, the messages are new.
    """

    def __init__(self, app: ASGIApp, *, pages: LicencePages, prefix: str = "/v/") -> None:
        self.app = app
        self.pages = pages
        self.prefix = prefix
        self._skip = len(prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            path: str = scope["path"]
            if (method == "GET" or method == "HEAD") and path.startswith(self.prefix):
                lang = _QUERY_LANGS.get(scope.get("query_string", b""))
                # Only pages the route has cached can be found: any other id (with a slash, too long, not
                # ASCII) simply misses and goes to the application, which answers it as it always has.
                page = self.pages.hit(path[self._skip :], lang) if lang is not None else None
                if page is not None:
                    await send({"type": "http.response.start", "status": page.status, "headers": page.headers})
                    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else page.body})
                    return
        await self.app(scope, receive, send)
