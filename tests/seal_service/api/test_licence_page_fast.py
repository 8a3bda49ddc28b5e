"""The QR page through the whole app: cached pages sent by the fast path ahead of FastAPI, everything else as before.

Which path answered is seen by a counting middleware added to the app: FastAPI's middleware runs only for requests
the fast path passes on. Time is the page cache's clock, moved by hand.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.api.licence_page import PAGE_TTL
from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountRequests:
    """Middleware counting the requests that reach FastAPI's middleware stack (that is, not the fast path)."""

    def __init__(self, app: Any, *, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@pytest.fixture
def served(db_instance):  # type: ignore[no-untyped-def]
    """(client, requests that reached FastAPI, the page cache's clock) of a new app on the shared instance."""
    app = create_app(instance=db_instance)
    seen: list[str] = []
    app.add_middleware(CountRequests, seen=seen)
    clock = Clock()
    app.state.licence_pages.clock = clock
    with TestClient(app) as client:
        yield client, seen, clock


@pytest.fixture
def licence_id(db_instance, licence_pdf) -> str:  # type: ignore[no-untyped-def]
    request = LicenceRequest(item_code="JC-001", holder_name="张三明", seal_id="jc-bureau-approval")
    return seal_licence(db_instance, licence_pdf, request, actor="test", at=datetime.now(UTC)).licence_id


def _without_request_id(response) -> list[tuple[bytes, bytes]]:  # type: ignore[no-untyped-def]
    return [(name, value) for name, value in response.headers.raw if name != b"x-request-id"]


def test_a_cached_page_is_the_same_bytes_and_headers_as_the_rendered_one(served, licence_id) -> None:  # type: ignore[no-untyped-def]
    client, seen, _ = served
    rendered = client.get(f"/v/{licence_id}")
    assert seen == [f"GET /v/{licence_id}"]
    cached = client.get(f"/v/{licence_id}")
    assert seen == [f"GET /v/{licence_id}"]  # the second one never reached FastAPI
    assert rendered.status_code == cached.status_code == 200 and 'data-status="valid"' in cached.text
    assert cached.content == rendered.content
    # The same headers, but for the request id every answer carries (its own: seal_service.api.observability).
    assert cached.headers["x-request-id"] != rendered.headers["x-request-id"]
    assert _without_request_id(cached) == _without_request_id(rendered)
    headers = cached.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(cached.content))
    assert headers["cache-control"] == "no-cache"
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in headers["content-security-policy"]


def test_the_language_is_part_of_the_key(served, licence_id) -> None:  # type: ignore[no-untyped-def]
    client, seen, _ = served
    chinese = client.get(f"/v/{licence_id}")
    english = client.get(f"/v/{licence_id}?lang=en")
    assert '<html lang="zh-CN">' in chinese.text and '<html lang="en">' in english.text
    assert client.get(f"/v/{licence_id}?lang=en").content == english.content
    # A query string the fast path does not read goes to the route, which parses it and uses the same cache.
    assert client.get(f"/v/{licence_id}?lang=en&from=qr").content == english.content
    assert seen == [f"GET /v/{licence_id}", f"GET /v/{licence_id}", f"GET /v/{licence_id}"]


def test_head_is_answered_on_a_miss_and_on_a_hit(served, licence_id) -> None:  # type: ignore[no-untyped-def]
    client, seen, _ = served
    missed = client.head(f"/v/{licence_id}")
    hit = client.head(f"/v/{licence_id}")
    got = client.get(f"/v/{licence_id}")
    assert missed.status_code == hit.status_code == 200
    assert missed.content == hit.content == b""
    assert _without_request_id(missed) == _without_request_id(hit) == _without_request_id(got)
    assert len(seen) == 1


def test_a_status_change_shows_once_the_ttl_has_passed(served, licence_id, db_instance) -> None:  # type: ignore[no-untyped-def]
    client, _, clock = served
    assert 'data-status="valid"' in client.get(f"/v/{licence_id}").text
    change_licence_status(
        db_instance,
        licence_id,
        action=LicenceAction.REVOKE,
        reason="撤销测试",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    clock.now += PAGE_TTL / 2
    assert 'data-status="valid"' in client.get(f"/v/{licence_id}").text  # still the cached page: allowed
    clock.now += PAGE_TTL / 2
    page = client.get(f"/v/{licence_id}")
    assert page.status_code == 200 and 'data-status="revoked"' in page.text and "撤销测试" in page.text


def test_a_status_change_shows_within_the_ttl_under_steady_load(served, licence_id, db_instance) -> None:  # type: ignore[no-untyped-def]
    # Requests in the last part of the TTL re-render the page in the background: the new status arrives before
    # the cached page expires, and no request waits for the database meanwhile.
    client, seen, clock = served
    client.get(f"/v/{licence_id}")
    change_licence_status(
        db_instance,
        licence_id,
        action=LicenceAction.SUSPEND,
        reason="暂停测试",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    clock.now += PAGE_TTL * 0.9
    assert 'data-status="valid"' in client.get(f"/v/{licence_id}").text  # answered at once, re-render started
    for _ in range(500):  # the re-render runs in the thread pool of the test client's event loop
        if 'data-status="suspended"' in client.get(f"/v/{licence_id}").text:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the re-rendered page never arrived")
    assert seen == [f"GET /v/{licence_id}"]  # every later request was a cache hit


def test_an_unknown_licence_gets_the_not_found_page_cached(served) -> None:  # type: ignore[no-untyped-def]
    client, seen, _ = served
    first = client.get("/v/LNOSUCHLICENCE0000000")
    second = client.get("/v/LNOSUCHLICENCE0000000")
    assert first.status_code == second.status_code == 404
    assert "Licence not found" in first.text and first.content == second.content
    assert first.headers["content-type"] == "text/html; charset=utf-8"
    assert len(seen) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/v/" + "L" * 20_000,
        "/v/%E8%AF%81%E7%85%A7",
        "/v/%FF%FE",
        "/v/%00",
        "/v/a%2Fb",
        "/v/L1/../L2",
        "/v/%2e%2e/healthz",
    ],
)
def test_odd_paths_are_answered_safely(served, path) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    for _ in range(2):
        response = client.get(path)
        assert response.status_code in (200, 404), response.text[:200]
    assert len(response.content) < 20_000  # a long made-up id is not echoed whole


def test_a_long_made_up_id_is_not_cached(served) -> None:  # type: ignore[no-untyped-def]
    client, seen, _ = served
    for _ in range(2):
        page = client.get("/v/" + "L" * 1000)
        assert page.status_code == 404 and "L" * 64 + "…" in page.text and "L" * 65 not in page.text
    assert len(seen) == 2 and len(client.app.state.licence_pages) == 0  # type: ignore[attr-defined]


def test_other_routes_are_unaffected(served) -> None:  # type: ignore[no-untyped-def]
    client, seen, _ = served
    assert client.get("/healthz").status_code == 200
    # Still behind the upload limit: refused from the declared length alone.
    too_large = client.post(
        "/v1/verify",
        content=b"x",
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(10**10)},
    )
    assert too_large.status_code == 413 and too_large.headers["content-type"] == "application/problem+json"
    assert client.post("/v/LNOSUCHLICENCE0000000").status_code == 405
    assert seen == ["GET /healthz", "POST /v1/verify", "POST /v/LNOSUCHLICENCE0000000"]
