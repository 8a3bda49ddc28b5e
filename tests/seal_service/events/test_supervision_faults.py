"""Faults, with a real HTTP receiver: down for a while, slow (timeouts), 500 then 200, garbage answers, and the
dispatcher process killed with SIGKILL in the middle of a batch. After recovery every event was delivered at least
once, first deliveries in order per licence, none lost (counted), duplicates only as redeliveries of the same id.

Backoffs, timeouts and leases are small here so every scenario ends within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from seal_service.events.dispatcher import Dispatcher
from seal_service.events.receivers import create_subscription, receiver_status
from seal_service.storage.events_models import EventReceiver
from tests.seal_service.events.conftest import write_events
from tests.support.server import free_port
from tests.support.webhooks import WebhookReceiver, check_delivery

# Fault injection: bounded (each scenario ends within seconds) but together over the quick suite's budget.
pytestmark = pytest.mark.slow

FAST = {
    "webhook_timeout_seconds": 0.5,
    "webhook_backoff_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.3,
    "webhook_retry_seconds": 600.0,
    "dispatcher_lease_seconds": 2.0,
    "dispatcher_poll_seconds": 0.05,
}


@pytest.fixture
def fast(sup_instance, monkeypatch):  # type: ignore[no-untyped-def]
    for name, value in FAST.items():
        monkeypatch.setattr(sup_instance.settings, name, value)
    return sup_instance


def _subscribe(instance, behaviour):  # type: ignore[no-untyped-def]
    # Earlier tests' subscriptions of this module's instance stop here, so each test sees only its own.
    with instance.writer.begin() as session:
        session.execute(update(EventReceiver).values(status="disabled", status_reason="earlier test"))
    issued = create_subscription(
        instance, department="jc-market", url="http://127.0.0.1:9/", at=datetime.now(UTC), actor="t"
    )
    receiver = WebhookReceiver(issued.secret, free_port(), behaviour)
    with instance.writer.begin() as session:
        session.get(EventReceiver, issued.id).url = receiver.url
    return issued, receiver


def _subjects(n: int) -> list[str]:
    # Twelve licences, interleaved, so that order per licence is really at stake.
    return [f"L{i % 12:02d}" for i in range(n)]


def _wait_caught_up(instance, sub_id: str, receiver: WebhookReceiver, ids: list[str], timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    receiver.wait_for(lambda: {a.webhook_id for a in receiver.accepted} >= set(ids), timeout)
    deadline = time.monotonic() + timeout
    while receiver_status(instance, sub_id)[0].backlog and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver_status(instance, sub_id)[0].backlog == 0


SCENARIOS = {
    # The first 25 attempts all fail, each in its own way; then the receiver behaves.
    "500-then-200": lambda n, _e: 500 if n <= 25 else 200,
    "slow-then-fast": lambda n, _e: ("slow", 0.8, 200) if n <= 6 else 200,
    "garbage-then-200": lambda n, _e: ("garbage" if n % 2 else "drop") if n <= 20 else 200,
    "mixed": lambda n, _e: [500, ("slow", 0.8, 200), "garbage", 503, 200][n % 5] if n <= 40 else 204,
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_bad_answers_delay_but_never_lose_or_reorder(fast, scenario) -> None:  # type: ignore[no-untyped-def]
    issued, receiver = _subscribe(fast, SCENARIOS[scenario])
    receiver.start()
    dispatcher = Dispatcher(fast).start()
    try:
        ids = write_events(fast, _subjects(60))
        _wait_caught_up(fast, issued.id, receiver, ids)
        check_delivery(receiver.accepted, ids)
        assert len(receiver.attempts) > len(ids)  # the faults really happened
        assert all(a.verified for a in receiver.attempts)
    finally:
        dispatcher.stop()
        receiver.stop()


def test_a_receiver_down_for_a_while_gets_everything_after(fast) -> None:  # type: ignore[no-untyped-def]
    issued, receiver = _subscribe(fast, lambda _n, _e: 200)
    dispatcher = Dispatcher(fast).start()
    try:
        ids = write_events(fast, _subjects(40))
        time.sleep(1.5)  # connection refused meanwhile: retries with backoff
        status = receiver_status(fast, issued.id)[0]
        assert status.backlog == 40 and status.attempts >= 2 and "Connect" in (status.last_error or "")
        receiver.start()
        more = write_events(fast, _subjects(20))
        _wait_caught_up(fast, issued.id, receiver, ids + more)
        check_delivery(receiver.accepted, ids + more)
    finally:
        dispatcher.stop()
        receiver.stop()


def _dispatch_process(instance, extra: dict[str, str]) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    settings = instance.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")}
    env.update(
        {
            "SEAL_HOME": str(settings.resolved_home),
            "SEAL_DATABASE_URL": settings.resolved_database_url,
            "SEAL_PUBLIC_URL": settings.public_url,
            "SEAL_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
            **{f"SEAL_{k.upper()}": str(v) for k, v in FAST.items()},
            **extra,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "seal_service.cli", "dispatch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_dispatcher_killed_mid_batch_loses_nothing(fast) -> None:  # type: ignore[no-untyped-def]
    issued, receiver = _subscribe(fast, lambda _n, _e: ("slow", 0.02, 200))
    receiver.start()
    ids = write_events(fast, _subjects(300))
    first = _dispatch_process(fast, {})
    try:
        receiver.wait_for(lambda: len(receiver.accepted) >= 40, timeout=30)
        first.send_signal(signal.SIGKILL)  # in the middle of a batch: no chance to record what it sent
        first.wait(timeout=10)
        delivered_before = len(receiver.accepted)
        assert delivered_before < len(ids)
        second = _dispatch_process(fast, {})
        try:
            _wait_caught_up(fast, issued.id, receiver, ids, timeout=60)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0, second.stderr.read().decode() if second.stderr else ""
        check_delivery(receiver.accepted, ids)
        assert len({a.webhook_id for a in receiver.accepted}) == len(ids)
    finally:
        if first.poll() is None:
            first.kill()
        receiver.stop()
