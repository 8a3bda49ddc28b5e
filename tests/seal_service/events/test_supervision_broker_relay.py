"""The broker relay's own publish path: the frames it encodes are byte for byte pamqp's, and a run of windows
on the real RabbitMQ arrives whole and in order, each window committed only once confirmed, in order; a lost
lease stops the run, and a window that is not confirmed is not committed."""

from __future__ import annotations

import json
import secrets
import time

import pamqp.frame
import pika
import pytest
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from seal_service.events.broker import (
    CONTENT_TYPE,
    BrokerError,
    BrokerMessage,
    BrokerPublisher,
    BrokerWindow,
    encode_publish,
    routing_key,
)
from tests.seal_service.events.test_supervision_broker import BROKER, Consumer, _broker_up


def _message(seq: int, size: int = 60) -> BrokerMessage:
    envelope = json.dumps({"id": f"e{seq}", "data": "许可证" * size}, ensure_ascii=False)
    return BrokerMessage(seq, f"e{seq}", "cn.gov.approval.licence.sealed", ("jc-bureau", "jc-market"), envelope)


@pytest.mark.parametrize("max_body", [131064, 100])  # one body frame, or the body split over several
def test_the_encoded_publish_frames_are_pamqp_s(max_body: int) -> None:
    message = _message(7)
    keys = [routing_key(d, message.type) for d in message.departments]
    ours = encode_publish(5, exchange="supervision", routing_keys=keys, message=message, max_body=max_body)
    body = message.envelope.encode()
    properties = commands.Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=2,
        message_id=message.id,
        message_type=message.type,
        headers={"ce-sequence": "7"},
    )
    for key, frames in zip(keys, ours, strict=True):
        expected = pamqp.frame.marshal(commands.Basic.Publish(exchange="supervision", routing_key=key), 5)
        expected += pamqp.frame.marshal(ContentHeader(0, len(body), properties), 5)
        for i in range(0, len(body), max_body):
            expected += pamqp.frame.marshal(ContentBody(body[i : i + max_body]), 5)
        assert frames == expected
    assert len(ours) == 2


def test_an_overlong_routing_key_is_refused_not_sent() -> None:
    message = _message(1)
    with pytest.raises(BrokerError, match="255 bytes"):
        encode_publish(1, exchange="x", routing_keys=["d" * 300], message=message, max_body=1000)


needs_broker = pytest.mark.skipif(not _broker_up(), reason="RabbitMQ not reachable at 127.0.0.1:5672")


class _Outbox:
    """Windows of ``size`` synthetic events up to ``last``; records the commits."""

    def __init__(self, last: int, size: int, *, lose_lease_at: int | None = None) -> None:
        self.last, self.size, self.lose_lease_at = last, size, lose_lease_at
        self.commits: list[int] = []

    def read(self, after: int) -> BrokerWindow | None:
        if after >= self.last:
            return None
        seqs = range(after + 1, min(self.last, after + self.size) + 1)
        return BrokerWindow(last_seq=seqs[-1], count=len(seqs), messages=[_message(s, 5) for s in seqs])

    def commit(self, window: BrokerWindow) -> bool:
        if self.lose_lease_at is not None and window.last_seq >= self.lose_lease_at:
            return False
        assert not self.commits or window.last_seq > self.commits[-1]
        self.commits.append(window.last_seq)
        return True


@needs_broker
def test_a_run_of_windows_arrives_whole_in_order_and_is_committed_in_order() -> None:
    exchange = f"relay-test-{secrets.token_hex(4)}"
    consumer = Consumer(exchange, "jc-market.#")
    outbox = _Outbox(last=1050, size=100)
    try:
        with BrokerPublisher(BROKER, exchange=exchange, timeout=5) as broker:
            committed = broker.relay(outbox.read, outbox.commit, after=0, until=time.monotonic() + 60, in_flight=3)
        got = consumer.take(1050)
    finally:
        consumer.close()
        _delete(exchange)
    assert committed == 11 and outbox.commits == [*range(100, 1001, 100), 1050]
    assert [p.message_id for _k, p, _b in got] == [f"e{s}" for s in range(1, 1051)]
    key, properties, body = got[0]
    assert key == "jc-market.cn.gov.approval.licence.sealed" and body["id"] == "e1"
    assert properties.delivery_mode == 2 and properties.content_type == CONTENT_TYPE
    assert properties.headers == {"ce-sequence": "1"} and properties.type == "cn.gov.approval.licence.sealed"


@needs_broker
def test_a_lost_lease_stops_the_run_and_the_time_budget_ends_it() -> None:
    exchange = f"relay-test-{secrets.token_hex(4)}"
    lost = _Outbox(last=1000, size=100, lose_lease_at=300)
    out_of_time = _Outbox(last=1000, size=100)
    try:
        with BrokerPublisher(BROKER, exchange=exchange, timeout=5) as broker:
            assert broker.relay(lost.read, lost.commit, after=0, until=time.monotonic() + 60) == 2
            # Already past the budget: the first window is still published and committed, nothing more is read.
            assert broker.relay(out_of_time.read, out_of_time.commit, after=0, until=time.monotonic() - 1) == 1
    finally:
        _delete(exchange)
    assert lost.commits == [100, 200] and out_of_time.commits == [100]


@needs_broker
def test_a_window_refused_by_the_broker_is_not_committed() -> None:
    # Publishing to an exchange that does not exist closes the channel (404): no confirm, a BrokerError, and the
    # window stays uncommitted (it is published again later).
    outbox = _Outbox(last=300, size=100)
    broker = BrokerPublisher(BROKER, exchange=f"relay-test-{secrets.token_hex(4)}", timeout=2)
    try:
        broker.publish([])  # connects and declares the exchange
        _delete(broker._exchange_name)  # the test removes it behind the publisher's back
        with pytest.raises(BrokerError, match="publishing failed"):
            broker.relay(outbox.read, outbox.commit, after=0, until=time.monotonic() + 60)
    finally:
        broker.close()
    assert outbox.commits == []


def _delete(exchange: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    connection.channel().exchange_delete(exchange)
    connection.close()


@needs_broker
def test_a_nack_fails_the_window_and_nothing_after_it_is_committed() -> None:
    # A queue that holds one message and rejects further publishes: RabbitMQ nacks them (publisher confirms).
    exchange = f"relay-test-{secrets.token_hex(4)}"
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    channel = connection.channel()
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare(
        queue="", exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    ).method.queue
    channel.queue_bind(queue=queue, exchange=exchange, routing_key="jc-market.#")
    outbox = _Outbox(last=300, size=100)
    try:
        with BrokerPublisher(BROKER, exchange=exchange, timeout=5) as broker:
            with pytest.raises(BrokerError, match="did not confirm"):
                broker.relay(outbox.read, outbox.commit, after=0, until=time.monotonic() + 60)
            # The publisher reconnects afterwards, and publishes what the queue takes.
            channel.queue_purge(queue)
            broker.publish([_message(1, 5)])
    finally:
        connection.close()
        _delete(exchange)
    assert outbox.commits == []
