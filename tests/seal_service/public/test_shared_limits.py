"""The public rate limits are counted in the database, so every API process and node shares one limit per client
address (SQLite and PostgreSQL through ``db_instance``); a database error while counting is a 503, never a 500."""

from __future__ import annotations

import secrets
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seal_service.api.app import create_app
from seal_service.errors import RateLimited
from seal_service.instance import Instance
from seal_service.outages import ServiceUnavailable
from seal_service.public.ratelimit import RateLimiter, client_key
from seal_service.storage.database import make_engine
from seal_service.storage.public_models import PublicRateCount
from tests.seal_service.public.conftest import unlimited


def _early_in_a_window(needed: float = 10.0) -> None:
    """Wait, if need be, so the test's requests fall into one fixed minute window (they take a few seconds)."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.2)


def _address() -> str:
    """An address unique to the test (the counters persist in the session's database)."""
    return f"198.51.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def _rows(instance, bucket: str) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return session.scalar(select(func.count()).where(PublicRateCount.bucket == bucket)) or 0


def _app(instance, *, search: int, bucket: str):  # type: ignore[no-untyped-def]
    app = create_app(instance=instance)
    unlimited(app)
    app.state.public_limiters["search"] = RateLimiter(instance.engine, bucket=bucket, limit=search, window_seconds=60)
    return app


def test_two_app_instances_over_one_database_share_one_limit(db_instance) -> None:  # type: ignore[no-untyped-def]
    # Two API processes' worth: separate Instance objects (own engines, own pools) over the same database.
    _early_in_a_window()
    other = Instance(db_instance.settings)
    bucket = f"s-{secrets.token_hex(4)}"
    try:
        address, neighbour = _address(), _address()
        a = TestClient(_app(db_instance, search=3, bucket=bucket), client=(address, 40000))
        b = TestClient(_app(other, search=3, bucket=bucket), client=(address, 40001))
        assert a.get("/v1/public/licences").status_code == 200
        assert b.get("/v1/public/licences").status_code == 200
        assert a.get("/register").status_code == 200
        # The fourth request of the address is refused on either node, not just on the one that counted three.
        refused = b.get("/v1/public/licences")
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert a.get("/register").status_code == 429
        # Another address has its own count.
        c = TestClient(_app(other, search=3, bucket=bucket), client=(neighbour, 40002))
        assert c.get("/v1/public/licences").status_code == 200
    finally:
        other.engine.dispose()


def test_the_window_resets_and_other_addresses_are_unaffected(db_instance) -> None:  # type: ignore[no-untyped-def]
    bucket = f"w-{secrets.token_hex(4)}"
    node_1 = RateLimiter(db_instance.engine, bucket=bucket, limit=2, window_seconds=60)
    node_2 = RateLimiter(db_instance.engine, bucket=bucket, limit=2, window_seconds=60)
    start = 1_800_000_000.0  # a window boundary (a multiple of 60)
    node_1.hit("192.0.2.1", at=start + 1)
    node_2.hit("192.0.2.1", at=start + 2)
    with pytest.raises(RateLimited) as refused:
        node_1.hit("192.0.2.1", at=start + 10)
    assert refused.value.retry_after == 50
    node_2.hit("192.0.2.2", at=start + 11)  # a neighbour is not refused
    with pytest.raises(RateLimited):
        node_2.hit("192.0.2.1", at=start + 59.5)
    node_1.hit("192.0.2.1", at=start + 60)  # the next window
    node_2.hit("192.0.2.1", at=start + 61)
    with pytest.raises(RateLimited):
        node_1.hit("192.0.2.1", at=start + 62)


def test_expired_windows_are_pruned_and_addresses_are_not_stored_in_clear(db_instance) -> None:  # type: ignore[no-untyped-def]
    bucket = f"p-{secrets.token_hex(4)}"
    limiter = RateLimiter(db_instance.engine, bucket=bucket, limit=5, window_seconds=60)
    start = 1_800_000_000.0
    for i in range(3):
        limiter.hit(f"192.0.2.{i + 1}", at=start + i)
    assert _rows(db_instance, bucket) == 3
    with db_instance.sessions() as session:
        clients = set(session.scalars(select(PublicRateCount.client).where(PublicRateCount.bucket == bucket)))
    assert clients == {client_key(f"192.0.2.{i + 1}") for i in range(3)}
    assert not any("192.0.2" in c for c in clients)
    limiter.hit("192.0.2.9", at=start + 3600)  # an hour later: the old windows are gone, the new one stays
    assert _rows(db_instance, bucket) == 1


@pytest.mark.parametrize("url", ["sqlite:////no/such/directory/seal.db", "postgresql://postgres@127.0.0.1:1/test"])
def test_a_database_error_while_counting_is_a_503_with_retry_after(db_instance, url: str) -> None:  # type: ignore[no-untyped-def]
    broken = make_engine(url)
    limiter = RateLimiter(broken, bucket="search", limit=5, window_seconds=60)
    with pytest.raises(ServiceUnavailable) as outage:
        limiter.hit("192.0.2.1", at=time.time())
    assert outage.value.status == 503 and outage.value.retry_after > 0
    app = create_app(instance=db_instance)
    unlimited(app)
    app.state.public_limiters["search"] = limiter
    app.state.public_limiters["complaint"] = RateLimiter(broken, bucket="complaint", limit=5, window_seconds=60)
    api = TestClient(app, raise_server_exceptions=False)
    for answer in (
        api.get("/v1/public/licences"),
        api.get("/register"),
        api.post("/v1/public/complaints", json={"category": "其他", "text": "一"}),
        api.post("/complaints", data={"category": "其他", "text": "一"}),
    ):
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
    assert api.get("/v1/public/licences").headers["content-type"].startswith("application/problem+json")
    broken.dispose()
