"""Two real ``seal-service serve`` processes over one database (SQLite file and PostgreSQL) share one public rate
limit per client address; the client address is taken from ``X-Forwarded-For`` only when the TCP peer is a proxy
listed in ``SEAL_FORWARDED_ALLOW_IPS``, so a direct caller cannot spoof its way around the limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.processes import ServedInstance
from tests.support.server import free_port

pytestmark = pytest.mark.slow

LIMIT = 4


@pytest.fixture(scope="module")
def nodes(db_instance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(node A, node B) over ``db_instance``'s database, each with a home of its own; A trusts no proxy, B trusts
    127.0.0.1 (the test stands in for the reverse proxy in front of B)."""
    database_url = db_instance.settings.resolved_database_url
    common = {
        "SEAL_KEYS_DIR": str(db_instance.settings.resolved_keys_dir),
        "SEAL_SIGNING_PROCESSES": "0",
        "SEAL_PUBLICATION_INTERVAL_SECONDS": "0",
        "SEAL_ARCHIVE_RENEWAL_INTERVAL_HOURS": "0",
        "SEAL_PUBLIC_SEARCH_PER_MINUTE": str(LIMIT),
    }
    servers: list[ServedInstance] = []
    try:
        for name, trusted in (("a", ""), ("b", "127.0.0.1")):
            port = free_port()
            settings = make_settings(
                tmp_path_factory.mktemp(f"limits-node-{name}"),
                database_url=database_url,
                public_url=f"http://127.0.0.1:{port}",
            )
            env = common | ({"SEAL_FORWARDED_ALLOW_IPS": trusted} if trusted else {})
            servers.append(ServedInstance(settings, port, workers=1, extra_env=env))
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()


def _early_in_a_window(needed: float = 10.0) -> None:
    """Wait, if need be, so the test's requests fall into one fixed minute window (they take a few seconds)."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.2)


def _search(url: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.get(url + "/v1/public/licences", params={"limit": 1}, headers=headers, timeout=30)


def test_two_serve_processes_share_one_limit_per_address_and_forwarded_for_is_trusted_only_from_a_proxy(
    nodes: tuple[str, str],
) -> None:
    a, b = nodes
    _early_in_a_window()
    # 127.0.0.1 calls both nodes directly: its requests count once, whichever node answers.
    answers = [_search(a), _search(b), _search(a), _search(b)]
    assert [r.status_code for r in answers] == [200] * LIMIT
    for node in (a, b):
        refused = _search(node)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    # A direct caller of A cannot spoof a fresh address: A trusts no proxy, so it is still 127.0.0.1.
    for spoofed in ("203.0.113.7", "203.0.113.8"):
        assert _search(a, forwarded_for=spoofed).status_code == 429
    # B sits behind the proxy at 127.0.0.1: the client the proxy names has a limit of its own, unaffected by
    # 127.0.0.1's, and one per real client (the last address the proxy appended counts).
    for _ in range(LIMIT):
        assert _search(b, forwarded_for="203.0.113.7").status_code == 200
    assert _search(b, forwarded_for="203.0.113.7").status_code == 429
    assert _search(b, forwarded_for="203.0.113.8").status_code == 200
