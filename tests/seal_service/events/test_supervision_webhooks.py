"""Webhook deliveries: Standard Webhooks signatures checked with the reference package, only 2xx counts, backoff
with jitter, dead letters after the retry period, 410 disables, replay/disable/enable, the admin API and the CLI,
and one node at a time per subscription — with a real HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from seal_service.api.app import create_app
from seal_service.cli import main
from seal_service.events.dispatcher import Dispatcher, backoff
from seal_service.events.receivers import create_subscription, disable, enable, receiver_status, replay
from seal_service.events.signing import new_secret, signature, webhook_headers
from seal_service.storage.events_models import EventReceiver
from tests.seal_service.events.conftest import bearer, write_events
from tests.support.server import free_port
from tests.support.webhooks import WebhookReceiver, check_delivery


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fast(sup_instance, monkeypatch):  # type: ignore[no-untyped-def]
    """Small timeouts and backoffs for these tests."""
    for name, value in {
        "webhook_timeout_seconds": 10.0,  # no timeouts here, even on a loaded machine (the fault tests do those)
        "webhook_backoff_seconds": 1.0,
        "webhook_backoff_max_seconds": 8.0,
        "webhook_retry_seconds": 60.0,
        "dispatcher_lease_seconds": 5.0,
    }.items():
        monkeypatch.setattr(sup_instance.settings, name, value)
    return sup_instance


def _subscribe(instance, receiver_behaviour=None, department: str = "jc-market"):  # type: ignore[no-untyped-def]
    # Earlier tests' subscriptions of this module's instance stop here, so each test sees only its own.
    with instance.writer.begin() as session:
        session.execute(update(EventReceiver).values(status="disabled", status_reason="earlier test"))
    issued = create_subscription(
        instance, department=department, url="http://127.0.0.1:9/x", at=datetime.now(UTC), actor="t"
    )
    receiver = WebhookReceiver(issued.secret, free_port(), receiver_behaviour).start()
    with instance.writer.begin() as session:
        session.get(EventReceiver, issued.id).url = receiver.url
    return issued, receiver


def _drain(dispatcher: Dispatcher, clock: Clock | None = None, rounds: int = 50) -> None:
    for _ in range(rounds):
        report = dispatcher.run_once(at=clock() if clock else None)
        if not report.receivers:
            return


def test_signatures_follow_standard_webhooks() -> None:
    secret = new_secret()
    body = b'{"specversion":"1.0","id":"e1"}'
    headers = webhook_headers(secret, "e1", timestamp=int(datetime.now(UTC).timestamp()), body=body)
    Webhook(secret).verify(body, headers)  # the reference implementation accepts it
    at = datetime.now(UTC).replace(microsecond=0)
    assert signature(secret, "e1", int(at.timestamp()), body) == Webhook(secret).sign("e1", at, body.decode())
    for tampered in (body + b" ", body.replace(b"e1", b"e2")):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_events_reach_the_subscription_signed_and_in_order(fast) -> None:  # type: ignore[no-untyped-def]
    issued, receiver = _subscribe(fast)
    try:
        ids = write_events(fast, ["A", "B", "A", "C", "B", "A"])
        write_events(fast, ["H"], departments=("jc-housing",))  # another department's event: not delivered
        _drain(Dispatcher(fast))
        assert all(a.verified for a in receiver.attempts)
        assert [a.webhook_id for a in receiver.accepted] == ids or sorted(
            a.webhook_id for a in receiver.accepted
        ) == sorted(ids)
        check_delivery(receiver.accepted, ids)
        assert len(receiver.accepted) == len(ids)  # no failure, no redelivery
        [status] = receiver_status(fast, issued.id)
        assert status.backlog == 0 and status.delivered == len(ids) and status.last_error is None
        event = receiver.accepted[0].event
        assert event["specversion"] == "1.0" and event["departments"] == ["jc-market"]
    finally:
        receiver.stop()


def test_only_2xx_counts_and_failures_back_off_with_jitter(fast) -> None:  # type: ignore[no-untyped-def]
    answers = iter([302, 500, 404, 429])
    issued, receiver = _subscribe(fast, lambda _n, _e: next(answers, 200))
    clock = Clock()
    dispatcher = Dispatcher(fast, clock=clock)
    try:
        [event_id] = write_events(fast, ["A"])
        delays = []
        for _ in range(4):
            assert dispatcher.run_once(at=clock()).delivered == 0
            [status] = receiver_status(fast, issued.id)
            assert status.backlog == 1 and status.next_attempt_at is not None
            delays.append((status.next_attempt_at - clock.now).total_seconds())
            # Not due before the backoff ends: nothing is attempted.
            assert dispatcher.run_once(at=clock()).receivers == 0
            clock.now = status.next_attempt_at + timedelta(milliseconds=1)
        # Exponential (base 1 s, doubling) with jitter in [1/2, 1] of each step.
        for attempt, delay in enumerate(delays, start=1):
            assert 0.5 * 2 ** (attempt - 1) - 0.01 <= delay <= 2 ** (attempt - 1) + 0.01
        assert dispatcher.run_once(at=clock()).delivered == 1
        assert [a.answered for a in receiver.attempts] == [302, 500, 404, 429, 200]
        assert {a.webhook_id for a in receiver.attempts} == {event_id}  # the same id on every retry
        assert len({a.timestamp for a in receiver.attempts}) >= 1
        [status] = receiver_status(fast, issued.id)
        assert status.backlog == 0 and status.attempts == 0 and status.dead_letters == ()
    finally:
        dispatcher.close()
        receiver.stop()


def test_backoff_is_capped() -> None:
    assert backoff(30, base=5, ceiling=60) <= 60
    assert backoff(1, base=5, ceiling=60) >= 2.5


def test_an_event_failing_for_the_retry_period_becomes_a_dead_letter_and_replay_resends_it(fast) -> None:  # type: ignore[no-untyped-def]
    poisoned: set[str] = set()
    issued, receiver = _subscribe(fast, lambda _n, e: 500 if e["id"] in poisoned else 200)
    clock = Clock()
    dispatcher = Dispatcher(fast, clock=clock)
    try:
        first, second = write_events(fast, ["A", "B"])
        poisoned.add(first)
        dispatcher.run_once(at=clock())
        # B (another licence) went out in parallel; the cursor stays before A.
        assert [s.backlog for s in receiver_status(fast, issued.id)] == [2]
        clock.now += timedelta(seconds=61)
        dispatcher.run_once(at=clock())  # A has failed for the whole period: dead letter, cursor moves on
        _drain(dispatcher, clock)
        [status] = receiver_status(fast, issued.id)
        assert status.backlog == 0 and len(status.dead_letters) == 1
        assert {a.webhook_id for a in receiver.accepted} == {second}
        poisoned.clear()
        replay(fast, issued.id, after=status.dead_letters[0] - 1, at=clock(), actor="t")
        _drain(dispatcher, clock)
        check_delivery(receiver.accepted, [second])
        assert first in {a.webhook_id for a in receiver.accepted}
    finally:
        dispatcher.close()
        receiver.stop()


def test_410_disables_the_subscription_until_enabled(fast) -> None:  # type: ignore[no-untyped-def]
    gone = [True]
    issued, receiver = _subscribe(fast, lambda _n, _e: 410 if gone[0] else 200)
    dispatcher = Dispatcher(fast)
    try:
        ids = write_events(fast, ["A", "A"])
        dispatcher.run_once()
        [status] = receiver_status(fast, issued.id)
        assert status.status == "disabled" and "410" in (status.status_reason or "")
        assert dispatcher.run_once().receivers == 0 and len(receiver.attempts) == 1
        gone[0] = False
        enable(fast, issued.id, at=datetime.now(UTC), actor="t")
        _drain(dispatcher)
        check_delivery(receiver.accepted, ids)
        disable(fast, issued.id, reason="maintenance", at=datetime.now(UTC), actor="t")
        write_events(fast, ["A"])
        assert dispatcher.run_once().receivers == 0
    finally:
        dispatcher.close()
        receiver.stop()


def test_one_node_at_a_time_delivers_a_subscription(fast, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Three dispatchers (nodes) race over one subscription: every event is delivered exactly once (no failures,
    so no redeliveries), in order per licence, and a held lease keeps the others out."""
    # A generous timeout and lease: on a loaded machine a 1 s timeout would fail deliveries (and redeliver).
    monkeypatch.setattr(fast.settings, "webhook_timeout_seconds", 10.0)
    monkeypatch.setattr(fast.settings, "dispatcher_lease_seconds", 60.0)
    issued, receiver = _subscribe(fast)
    nodes = [Dispatcher(fast, owner=f"node-{i}") for i in range(3)]
    try:
        claimed = nodes[0]._claim(issued.id, datetime.now(UTC))
        assert claimed is not None and nodes[1]._claim(issued.id, datetime.now(UTC)) is None
        with fast.writer.begin() as session:
            session.get(EventReceiver, issued.id).lease_until = None
        ids = write_events(fast, [f"L{i % 7}" for i in range(60)])
        threads = [threading.Thread(target=_drain, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _drain(nodes[0])
        assert receiver_status(fast, issued.id)[0].attempts == 0  # no failure happened
        check_delivery(receiver.accepted, ids)
        assert sorted(a.webhook_id for a in receiver.accepted) == sorted(ids)
    finally:
        for n in nodes:
            n.close()
        receiver.stop()


def test_the_admin_api_manages_subscriptions(fast) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(instance=fast))
    operator = bearer(fast, "operator")
    body = {"department": "jc-housing", "url": "https://jc-housing.example/hook"}
    assert (
        client.post("/v1/admin/subscriptions", json=body, headers=bearer(fast, "supervisor", "jc-housing")).status_code
        == 403
    )
    assert client.post("/v1/admin/subscriptions", json=body).status_code == 401
    created = client.post("/v1/admin/subscriptions", json=body, headers=operator)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    sub_id = created.json()["id"]
    listed = client.get("/v1/admin/subscriptions", headers=operator).json()
    assert sub_id in [s["id"] for s in listed] and all("secret" not in s for s in listed)
    assert (
        client.post(f"/v1/admin/subscriptions/{sub_id}/disable", json={}, headers=operator).json()["status"]
        == "disabled"
    )
    assert client.post(f"/v1/admin/subscriptions/{sub_id}/enable", headers=operator).json()["status"] == "active"
    assert (
        client.post(f"/v1/admin/subscriptions/{sub_id}/replay", json={"after": 0}, headers=operator).json()["cursor"]
        == 0
    )
    for bad, field in [
        ({**body, "url": "ftp://x"}, "url"),
        ({**body, "url": "not a url"}, "url"),
        ({**body, "url": "http://[::1"}, "url"),  # a malformed IPv6 host (was a 500)
        ({**body, "url": "https://x.example:99999/h"}, "url"),  # a port out of range (the poster would fail on it)
        ({**body, "after": 10**9}, "after"),  # no such event yet
        ({**body, "after": 10**30}, "after"),  # beyond a BIGINT (was a 500)
        ("not json", "body"),
        ({**body, "department": "nowhere"}, "department"),
        ({**body, "after": -1}, "after"),
        ({"department": "jc-housing"}, "url"),
    ]:
        if isinstance(bad, str):
            response = client.post(
                "/v1/admin/subscriptions", content=bad, headers={**operator, "content-type": "application/json"}
            )
        else:
            response = client.post("/v1/admin/subscriptions", json=bad, headers=operator)
        assert 400 <= response.status_code < 500
        problem = response.json()
        assert problem.get("field") == field or problem.get("errors", [{}])[0].get("field") == field, problem
    assert client.post("/v1/admin/subscriptions/wh_nope/enable", headers=operator).status_code == 404
    problem = client.post(f"/v1/admin/subscriptions/{sub_id}/replay", json={"after": 10**9}, headers=operator).json()
    assert problem["field"] == "after"
    with fast.sessions() as session:
        assert len(session.scalars(select(EventReceiver).where(EventReceiver.url == "not a url")).all()) == 0


def test_the_cli_manages_subscriptions(fast, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = fast.settings
    monkeypatch.setenv("SEAL_HOME", str(settings.home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    if settings.database_url:
        monkeypatch.setenv("SEAL_DATABASE_URL", settings.database_url)
    assert main(["subscriptions", "create", "--department", "jc-market", "--url", "https://m.example/h"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    secret, sub_id = out[-1], out[0].split()[2]
    assert secret.startswith("whsec_")
    assert main(["subscriptions", "status", sub_id]) == 0
    assert secret not in capsys.readouterr().out
    assert main(["subscriptions", "disable", sub_id, "--reason", "维护"]) == 0
    assert main(["subscriptions", "enable", sub_id]) == 0
    assert main(["subscriptions", "replay", sub_id, "--from", "0"]) == 0
    assert main(["subscriptions", "status", sub_id, "--json"]) == 0
    assert '"cursor": 0' in capsys.readouterr().out
    assert main(["subscriptions", "create", "--department", "jc-market", "--url", "mailto:x"]) == 2
    assert "(url)" in capsys.readouterr().err
    assert main(["subscriptions", "enable", "wh_missing"]) == 2


def test_serve_runs_the_dispatcher(fast, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The app's lifespan starts a dispatcher: an event committed while the server runs is delivered without anyone
    calling it, and it stops with the server."""
    from tests.support.server import LiveServer

    monkeypatch.setattr(fast.settings, "dispatcher", True)
    monkeypatch.setattr(fast.settings, "dispatcher_poll_seconds", 0.2)
    _issued, receiver = _subscribe(fast)
    server = LiveServer(fast, free_port())
    server.start()
    try:
        ids = write_events(fast, ["A", "B", "A"])
        receiver.wait_for(lambda: {a.webhook_id for a in receiver.accepted} >= set(ids), timeout=20)
        check_delivery(receiver.accepted, ids)
    finally:
        server.stop()
        receiver.stop()
