"""The licence page cache and its ASGI fast path on their own: a stub renderer and a stub application, no database.

The clock is a parameter of the cache, so the TTL and the refresh-ahead window are stepped through, never slept.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from seal_service.api.page_cache import LicencePageFastPath, LicencePages

HEADERS = ((b"content-type", b"text/html; charset=utf-8"), (b"x-content-type-options", b"nosniff"))


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Renderer:
    """Renders ``<id>/<lang>#<n>`` (n counts renders), optionally held until ``release`` is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.release.set()
        self.fail = False

    def __call__(self, licence_id: str, lang: str) -> tuple[int, tuple[tuple[bytes, bytes], ...], bytes]:
        self.release.wait(10)
        self.calls.append((licence_id, lang))
        if self.fail:
            raise RuntimeError("database unreachable")
        status = 200 if licence_id.startswith("L") else 404
        return status, HEADERS, f"{licence_id}/{lang}#{len(self.calls)}".encode()


class Downstream:
    """The application behind the fast path: records what reached it and answers 418."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append((scope.get("method", scope["type"]), scope.get("path", ""), scope.get("query_string", b"")))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b"downstream"})


def call(app: Any, path: str, *, method: str = "GET", query: bytes = b"") -> tuple[int | None, list[Any], bytes]:
    """One HTTP request straight into an ASGI app: (status, headers, body)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": []}
    asyncio.run(app(scope, receive, send))
    start = next((m for m in sent if m["type"] == "http.response.start"), {})
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start.get("status"), list(start.get("headers", [])), body


def test_a_page_is_rendered_once_and_served_for_the_ttl() -> None:
    clock, render = Clock(), Renderer()
    pages = LicencePages(render, ttl=2.0, refresh_ahead=0.5, clock=clock)

    async def scenario() -> None:
        assert pages.hit("LA", "zh") is None
        first = await pages.page("LA", "zh")
        assert (first.status, first.headers, first.body) == (200, HEADERS, b"LA/zh#1")
        assert first.fresh_until == clock.now + 2.0 and first.refresh_from == clock.now + 1.5
        clock.now += 1.4
        assert pages.hit("LA", "zh") is first and await pages.page("LA", "zh") is first
        assert pages.hit("LA", "en") is None  # the language is part of the key
        clock.now += 0.6  # 2.0 s after the render began: expired
        assert pages.hit("LA", "zh") is None
        assert (await pages.page("LA", "zh")).body == b"LA/zh#2"

    asyncio.run(scenario())
    assert render.calls == [("LA", "zh"), ("LA", "zh")]


def test_a_page_due_for_refresh_is_still_served_and_re_rendered_once_in_the_background() -> None:
    clock, render = Clock(), Renderer()
    pages = LicencePages(render, ttl=2.0, refresh_ahead=0.5, clock=clock)

    async def scenario() -> None:
        first = await pages.page("LA", "zh")
        clock.now += 1.6
        render.release.clear()
        # Within the TTL: the cached page is answered at once, one re-render starts, however many requests come.
        assert pages.hit("LA", "zh") is first and pages.hit("LA", "zh") is first
        render.release.set()
        for _ in range(500):
            await asyncio.sleep(0.01)
            if pages.hit("LA", "zh") is not first:
                break
        refreshed = pages.hit("LA", "zh")
        assert refreshed is not None and refreshed.body == b"LA/zh#2"
        # Fresh for the TTL from when the re-render began (its database read), not from when it finished.
        assert refreshed.fresh_until == clock.now + 2.0

    asyncio.run(scenario())
    assert len(render.calls) == 2


def test_concurrent_misses_share_one_render() -> None:
    render = Renderer()
    pages = LicencePages(render, ttl=2.0, clock=Clock())

    async def scenario() -> None:
        render.release.clear()
        waiting = [asyncio.ensure_future(pages.page("LA", "zh")) for _ in range(20)]
        await asyncio.sleep(0.05)
        render.release.set()
        results = await asyncio.gather(*waiting)
        assert len({id(page) for page in results}) == 1

    asyncio.run(scenario())
    assert render.calls == [("LA", "zh")]


def test_a_failed_render_is_raised_and_not_cached() -> None:
    render = Renderer()
    render.fail = True
    pages = LicencePages(render, ttl=2.0, clock=Clock())

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="database unreachable"):
            await pages.page("LA", "zh")
        assert pages.hit("LA", "zh") is None and len(pages) == 0
        render.fail = False
        assert (await pages.page("LA", "zh")).status == 200

    asyncio.run(scenario())


def test_the_cache_is_bounded() -> None:
    pages = LicencePages(Renderer(), ttl=2.0, max_entries=3, clock=Clock())

    async def scenario() -> None:
        for n in range(10):
            await pages.page(f"L{n}", "zh")

    asyncio.run(scenario())
    assert len(pages) == 3
    assert pages.hit("L0", "zh") is None and pages.hit("L9", "zh") is not None


def test_refresh_ahead_must_fit_in_the_ttl() -> None:
    with pytest.raises(ValueError, match="refresh_ahead"):
        LicencePages(Renderer(), ttl=2.0, refresh_ahead=2.0)


def test_the_fast_path_sends_a_cached_page_and_passes_everything_else_on() -> None:
    pages = LicencePages(Renderer(), ttl=2.0, clock=Clock())
    downstream = Downstream()
    app = LicencePageFastPath(downstream, pages=pages)
    asyncio.run(pages.page("LA", "zh"))
    asyncio.run(pages.page("LA", "en"))

    assert call(app, "/v/LA") == (200, list(HEADERS), b"LA/zh#1")
    assert call(app, "/v/LA", query=b"lang=zh") == (200, list(HEADERS), b"LA/zh#1")
    assert call(app, "/v/LA", query=b"lang=en") == (200, list(HEADERS), b"LA/en#2")
    assert call(app, "/v/LA", method="HEAD") == (200, list(HEADERS), b"")
    assert downstream.seen == []

    # Not cached, another query string, another method or path: the application answers, as it always has.
    for method, path, query in [
        ("GET", "/v/LB", b""),
        ("GET", "/v/LA", b"lang=en&utm=x"),
        ("GET", "/v/LA", b"lang=fr"),
        ("POST", "/v/LA", b""),
        ("GET", "/v/LA/", b""),
        ("GET", "/v/../v/LA", b""),
        ("GET", "/healthz", b""),
        ("GET", "/v/" + "L" * 100_000, b""),
        ("GET", "/v/证照\x00", b""),
    ]:
        assert call(app, path, method=method, query=query)[0] == 418
        assert downstream.seen[-1] == (method, path, query)


def test_the_fast_path_passes_lifespan_and_websocket_scopes_on() -> None:
    downstream = Downstream()
    app = LicencePageFastPath(downstream, pages=LicencePages(Renderer(), ttl=2.0))

    async def nothing(*_: Any) -> Any:
        return {"type": "lifespan.startup"}

    asyncio.run(app({"type": "lifespan"}, nothing, nothing))
    asyncio.run(app({"type": "websocket", "path": "/v/LA"}, nothing, nothing))
    assert [seen[0] for seen in downstream.seen] == ["lifespan", "websocket"]
