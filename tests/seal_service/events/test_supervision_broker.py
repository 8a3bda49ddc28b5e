"""The RabbitMQ publisher against the real broker at 127.0.0.1:5672: a durable topic exchange, routing keys
``{department}.{event type}``, persistent messages with the event id, publisher confirms; an unreachable broker
backs off and catches up, and a connection the broker drops mid-stream loses nothing.

The shared broker of this machine is not restarted (other test runs use it at the same time); the broker closing
our connection (``rabbitmqctl close_connection``) is the failure tested here; a real stop and restart of the
broker, on a private node, is in test_supervision_broker_restart.py.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from datetime import UTC, datetime

import pika
import pytest
from sqlalchemy import update

from seal_service.events.dispatcher import Dispatcher
from seal_service.events.receivers import BROKER_ID, ensure_broker_receiver, receiver_status
from tests.seal_service.events.conftest import write_events
from tests.support.server import free_port

BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _broker_up() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(BROKER + "?connection_attempts=1&socket_timeout=2")).close()
        return True
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _broker_up(), reason="RabbitMQ not reachable at 127.0.0.1:5672 (.ci/run starts it)")


class Consumer:
    """An exclusive queue bound to the exchange with one binding key."""

    def __init__(self, exchange: str, binding: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(BROKER))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare(queue="", exclusive=True).method.queue
        self.channel.queue_bind(queue=self.queue, exchange=exchange, routing_key=binding)

    def take(self, count: int, timeout: float = 15) -> list[tuple[str, pika.BasicProperties, dict]]:  # type: ignore[type-arg]
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.connection.process_data_events(0.05)
                continue
            got.append((method.routing_key, properties, json.loads(body)))
        return got

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def broker_instance(sup_instance, monkeypatch):  # type: ignore[no-untyped-def]
    exchange = f"supervision-test-{secrets.token_hex(4)}"
    monkeypatch.setattr(sup_instance.settings, "broker_url", BROKER)
    monkeypatch.setattr(sup_instance.settings, "broker_exchange", exchange)
    monkeypatch.setattr(sup_instance.settings, "webhook_backoff_seconds", 0.2)
    monkeypatch.setattr(sup_instance.settings, "webhook_timeout_seconds", 2.0)
    ensure_broker_receiver(sup_instance, at=datetime.now(UTC))
    # Start each test from the newest event (the relay row is shared by the tests of this module).
    from seal_service.events.receivers import enable, replay
    from seal_service.storage.events_models import EventReceiver, SupervisionEventHead

    with sup_instance.sessions() as session:
        newest = session.get(SupervisionEventHead, 1).last_seq
    replay(sup_instance, BROKER_ID, after=newest, at=datetime.now(UTC), actor="t")
    enable(sup_instance, BROKER_ID, at=datetime.now(UTC), actor="t")
    # The webhook subscriptions of other tests stay out of these dispatchers' way.
    with sup_instance.writer.begin() as session:
        session.execute(
            update(EventReceiver)
            .where(EventReceiver.kind == "webhook")
            .values(status="disabled", status_reason="broker test")
        )
    yield sup_instance
    consumer = pika.BlockingConnection(pika.URLParameters(BROKER))
    consumer.channel().exchange_delete(exchange)
    consumer.close()


def _drain(dispatcher: Dispatcher, rounds: int = 40) -> None:
    for _ in range(rounds):
        if not dispatcher.run_once().receivers:
            return


def test_events_are_published_durably_with_department_routing_keys(broker_instance) -> None:  # type: ignore[no-untyped-def]
    exchange = broker_instance.settings.broker_exchange
    market, housing = Consumer(exchange, "jc-market.#"), Consumer(exchange, "jc-housing.#")
    dispatcher = Dispatcher(broker_instance)
    try:
        ids = write_events(broker_instance, ["A", "B", "A"])
        both = write_events(broker_instance, ["C"], departments=("jc-market", "jc-housing"))
        _drain(dispatcher)
        got = market.take(4)
        assert [p.message_id for _k, p, _b in got] == ids + both
        assert {k for k, _p, _b in got} == {"jc-market.cn.gov.approval.test.event"}
        assert all(p.delivery_mode == 2 for _k, p, _b in got)
        assert [b["id"] for _k, _p, b in got] == ids + both
        assert [p.message_id for _k, p, _b in housing.take(1)] == both
        [status] = receiver_status(broker_instance, BROKER_ID)
        assert status.backlog == 0 and status.kind == "broker" and "guest" not in status.url
    finally:
        dispatcher.close()
        market.close()
        housing.close()


def test_an_unreachable_broker_backs_off_and_catches_up(broker_instance, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    exchange = broker_instance.settings.broker_exchange
    consumer = Consumer(exchange, "jc-market.#")
    monkeypatch.setattr(broker_instance.settings, "broker_url", f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    dispatcher = Dispatcher(broker_instance)
    try:
        ids = write_events(broker_instance, ["A", "B"])
        assert dispatcher.run_once().delivered == 0
        [status] = receiver_status(broker_instance, BROKER_ID)
        assert status.backlog == 2 and "cannot reach the broker" in (status.last_error or "")
        dispatcher.close()
        monkeypatch.setattr(broker_instance.settings, "broker_url", BROKER)
        time.sleep(0.25)  # past the (small) backoff
        _drain(dispatcher)
        assert [p.message_id for _k, p, _b in consumer.take(2)] == ids
    finally:
        dispatcher.close()
        consumer.close()


@pytest.mark.slow
def test_a_connection_dropped_by_the_broker_loses_nothing(broker_instance) -> None:  # type: ignore[no-untyped-def]
    exchange = broker_instance.settings.broker_exchange
    consumer = Consumer(exchange, "jc-market.#")
    dispatcher = Dispatcher(broker_instance, owner=f"drop-{secrets.token_hex(3)}")
    try:
        first = write_events(broker_instance, [f"L{i}" for i in range(20)])
        _drain(dispatcher)
        _close_connection(f"one-seal dispatcher {dispatcher.owner}")
        second = write_events(broker_instance, [f"L{i}" for i in range(20)])
        deadline = time.monotonic() + 15
        while receiver_status(broker_instance, BROKER_ID)[0].backlog and time.monotonic() < deadline:
            dispatcher.run_once()
            time.sleep(0.05)
        got = [p.message_id for _k, p, _b in consumer.take(40)]
        assert set(got) == set(first + second)
        # At least once, in order: a redelivery repeats a suffix, never reorders the first deliveries.
        firsts = list(dict.fromkeys(got))
        assert firsts == first + second
    finally:
        dispatcher.close()
        consumer.close()


def _close_connection(name: str) -> None:
    """Make the broker close our connection (and only ours), as a broker restart would."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for line in listed.stdout.splitlines():
        if f'"{name}"' in line or name in line:
            pid = line.split("\t")[0]
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", pid, "test: broker drops the connection"],
                check=True,
                timeout=60,
            )
            return
    raise AssertionError(f"no broker connection named {name!r}")
