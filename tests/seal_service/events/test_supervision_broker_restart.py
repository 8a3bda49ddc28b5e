"""The broker restarted for real: a PRIVATE RabbitMQ node (own name, random ports, own mnesia dir; the shared broker
of this machine is never touched) is stopped with ``rabbitmqctl stop`` while the running dispatcher publishes a
stream of events, then started again on the same mnesia dir. The durable exchange and queue and the persistent,
confirmed messages survive; the dispatcher backs off while the node is down and catches up after it.

Counted at the end, from the durable queue: every event delivered at least once, none lost, first deliveries in
order per licence (and overall), duplicates only as redeliveries with the same message id and body.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pika
import pytest
from sqlalchemy import select, update

from seal_service.events.dispatcher import Dispatcher
from seal_service.events.receivers import BROKER_ID, enable, ensure_broker_receiver, receiver_status, replay
from seal_service.storage.events_models import DeadLetter, EventReceiver, SupervisionEventHead
from tests.seal_service.events.conftest import write_events
from tests.support.rabbitmq import PrivateRabbitMQ, available

# Two node starts and a stop per backend: about half a minute each.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(available() is not None, reason=available() or ""),
]

EXCHANGE = "supervision-restart"
QUEUE = "jc-market-restart"


@pytest.fixture(scope="module")
def node(tmp_path_factory):  # type: ignore[no-untyped-def]
    broker = PrivateRabbitMQ(tmp_path_factory.mktemp("rabbit"))
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


def _durable_queue(url: str) -> None:
    """A department's durable queue, bound before any event is published (it must outlive the restart)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange=EXCHANGE, exchange_type="topic", durable=True)
        channel.queue_declare(queue=QUEUE, durable=True, arguments={"x-queue-type": "classic"})
        channel.queue_purge(queue=QUEUE)
        channel.queue_bind(queue=QUEUE, exchange=EXCHANGE, routing_key="jc-market.#")
    finally:
        connection.close()


def _take_all(url: str) -> list[tuple[str, str]]:
    """Every message in the queue, as (message id, body id)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    got = []
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(QUEUE, auto_ack=True)
            if method is None:
                break
            assert properties.delivery_mode == 2
            got.append((properties.message_id, json.loads(body)["id"]))
    finally:
        connection.close()
    return got


@pytest.fixture
def relay(sup_instance, node, monkeypatch):  # type: ignore[no-untyped-def]
    settings = sup_instance.settings
    for name, value in {
        "broker_url": node.url,
        "broker_exchange": EXCHANGE,
        "webhook_timeout_seconds": 20.0,
        "webhook_backoff_seconds": 0.2,
        "webhook_backoff_max_seconds": 1.0,
        "webhook_retry_seconds": 600.0,
        "dispatcher_lease_seconds": 60.0,
        "dispatcher_poll_seconds": 0.05,
    }.items():
        monkeypatch.setattr(settings, name, value)
    now = datetime.now(UTC)
    ensure_broker_receiver(sup_instance, at=now)
    with sup_instance.sessions() as session:
        newest = session.get(SupervisionEventHead, 1).last_seq
    replay(sup_instance, BROKER_ID, after=newest, at=now, actor="t")
    enable(sup_instance, BROKER_ID, at=now, actor="t")
    with sup_instance.writer.begin() as session:
        session.execute(
            update(EventReceiver).where(EventReceiver.kind == "webhook").values(status="disabled", status_reason="t")
        )
        session.execute(
            update(EventReceiver)
            .where(EventReceiver.id == BROKER_ID)
            .values(
                lease_owner=None,
                lease_until=None,
                last_error=None,
                attempts=0,
                next_attempt_at=None,
                failing_since=None,
            )
        )
    # A clean node for each backend, even when the other backend's run failed half-way: running, and without the
    # memory alarm that run may have left set.
    if not node.running:
        node.start()
    assert node.ctl("set_vm_memory_high_watermark", "0.4").returncode == 0
    _durable_queue(node.url)
    yield sup_instance
    with sup_instance.writer.begin() as session:
        session.execute(update(EventReceiver).where(EventReceiver.id == BROKER_ID).values(status="disabled"))


def test_the_broker_stopped_mid_stream_and_restarted_loses_nothing(relay, node) -> None:  # type: ignore[no-untyped-def]
    instance = relay
    ids: list[str] = []
    subjects: list[str] = []
    stop_writing = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        # A steady stream (about 100 events/s) that goes on until the node is back: events are written before the
        # alarm, while publishes are blocked, while the node is down and after it came back, however slowly the
        # dispatcher starts on a loaded machine. Bounded at 3,000 events.
        try:
            while not stop_writing.is_set() and len(ids) < 3000:
                batch = [f"L{i % 12:02d}" for i in range(len(ids), len(ids) + 10)]
                ids.extend(write_events(instance, batch))
                subjects.extend(batch)
                time.sleep(0.1)
        except BaseException as exc:
            errors.append(exc)

    dispatcher = Dispatcher(instance, owner="restart-test").start()
    thread = threading.Thread(target=writer, daemon=True)
    try:
        start = receiver_status(instance, BROKER_ID)[0].delivered
        thread.start()
        deadline = time.monotonic() + 30
        while receiver_status(instance, BROKER_ID)[0].delivered - start < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered_before = receiver_status(instance, BROKER_ID)[0].delivered - start
        assert delivered_before >= 100, "the dispatcher did not publish to the private node"

        # Mid-batch: a memory alarm (watermark 0) makes the node stop taking publishes, so the dispatcher's
        # current window hangs sent but unconfirmed while the writer goes on; the node is stopped under it.
        assert node.ctl("set_vm_memory_high_watermark", "0").returncode == 0
        stalled, deadline = receiver_status(instance, BROKER_ID)[0].delivered, time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now_delivered = receiver_status(instance, BROKER_ID)[0].delivered
            if now_delivered == stalled:
                break
            stalled = now_delivered
        down = receiver_status(instance, BROKER_ID)[0]
        with instance.sessions() as session:
            lease_owner = session.get(EventReceiver, BROKER_ID).lease_owner
        assert down.backlog > 0 and lease_owner == "restart-test", down  # a window is in flight
        stopper = threading.Thread(target=node.stop)  # rabbitmqctl -n <node> stop
        stopper.start()
        deadline = time.monotonic() + 30
        while not receiver_status(instance, BROKER_ID)[0].last_error and time.monotonic() < deadline:
            time.sleep(0.01)
        mid_batch = receiver_status(instance, BROKER_ID)[0]
        stopper.join(90)
        assert "publishing failed" in (mid_batch.last_error or ""), mid_batch
        time.sleep(1.0)  # the dispatcher meets the stopped node
        while_down = receiver_status(instance, BROKER_ID)[0]
        assert "cannot reach the broker" in (while_down.last_error or ""), while_down
        assert while_down.backlog > 0

        node.start()  # same mnesia dir
        # Events written after the restart are delivered too: wait for new deliveries, then stop the stream.
        restarted_at = receiver_status(instance, BROKER_ID)[0].delivered
        deadline = time.monotonic() + 60
        while receiver_status(instance, BROKER_ID)[0].delivered == restarted_at and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        stop_writing.set()
        thread.join(60)
        assert not thread.is_alive() and not errors, errors
        deadline = time.monotonic() + 60
        while receiver_status(instance, BROKER_ID)[0].backlog and time.monotonic() < deadline:
            time.sleep(0.1)
        status = receiver_status(instance, BROKER_ID)[0]
        assert status.backlog == 0, status
    finally:
        stop_writing.set()
        dispatcher.stop()
        thread.join(60)

    got = _take_all(node.url)
    with instance.sessions() as session:
        dead = session.scalars(select(DeadLetter).where(DeadLetter.receiver_id == BROKER_ID)).all()
    assert dead == []
    # None lost, counted: every id written, each at least once.
    assert len(ids) >= 200 and len(set(ids)) == len(ids) == len(subjects)
    assert {m for m, _b in got} == set(ids)
    # Duplicates only as redeliveries of the same event: same message id, same body id.
    assert all(m == b for m, b in got)
    duplicates = len(got) - len(set(m for m, _b in got))
    # First deliveries in order, overall and per licence.
    firsts = list(dict.fromkeys(m for m, _b in got))
    assert firsts == ids
    licence_of = dict(zip(ids, subjects, strict=True))
    for licence in set(subjects):
        assert [m for m in firsts if licence_of[m] == licence] == [i for i in ids if licence_of[i] == licence]
    print(
        f"restart: {delivered_before} delivered before the alarm, backlog {down.backlog} at the stop, "
        f"{mid_batch.last_error!r} mid-batch, {while_down.last_error!r} while down; "
        f"{len(got)} messages for {len(ids)} events ({duplicates} redeliveries)"
    )
