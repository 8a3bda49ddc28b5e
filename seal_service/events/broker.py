"""Publishing events to RabbitMQ: a durable topic exchange, routing key ``{department}.{event type}``, persistent
messages, publisher confirms (pika).

Example::

    >>> with BrokerPublisher("amqp://guest:guest@127.0.0.1:5672/%2F", exchange="supervision") as broker:
    ...     broker.publish(events)                                  # doctest: +SKIP

``publish`` returns only once the broker confirmed every message (it raises :class:`BrokerError` otherwise, and
the dispatcher publishes the same events again later: at least once, same ``message_id``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import pika
import pika.exceptions


class BrokerError(Exception):
    """The broker refused, did not confirm, or could not be reached."""


@dataclass(frozen=True)
class BrokerMessage:
    """One event for the broker, with the departments it goes to."""

    seq: int
    id: str
    type: str
    departments: tuple[str, ...]
    envelope: str


def routing_key(department: str, event_type: str) -> str:
    """``jc-market.cn.gov.approval.licence.sealed``: bind ``jc-market.#`` for a department's events."""
    return f"{department}.{event_type}"


class BrokerPublisher:
    """A confirmed-publishing channel to one exchange (declared durable on connect)."""

    def __init__(self, url: str, *, exchange: str, timeout: float = 10, name: str = "one-seal dispatcher") -> None:
        self._url = url
        self._name = name
        self._exchange = exchange
        self._timeout = timeout
        self._connection: pika.BlockingConnection | None = None
        self._channel: pika.adapters.blocking_connection.BlockingChannel | None = None

    def __enter__(self) -> BrokerPublisher:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    def _open(self) -> pika.adapters.blocking_connection.BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        params = pika.URLParameters(self._url)
        params.socket_timeout = self._timeout
        params.blocked_connection_timeout = self._timeout
        params.connection_attempts = 1
        params.client_properties = {"connection_name": self._name}
        try:
            self._connection = pika.BlockingConnection(params)
            channel = self._connection.channel()
            channel.exchange_declare(exchange=self._exchange, exchange_type="topic", durable=True)
            channel.confirm_delivery()
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.close()
            raise BrokerError(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
        self._channel = channel
        return channel

    def publish(self, messages: Sequence[BrokerMessage]) -> None:
        """Publish every message to every department it is routed to; each is confirmed before the next."""
        channel = self._open()
        try:
            for message in messages:
                properties = pika.BasicProperties(
                    content_type="application/cloudevents+json; charset=utf-8",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=message.id,
                    type=message.type,
                    headers={"ce-sequence": str(message.seq)},
                )
                body = message.envelope.encode()
                for department in message.departments:
                    channel.basic_publish(
                        exchange=self._exchange,
                        routing_key=routing_key(department, message.type),
                        body=body,
                        properties=properties,
                    )
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.close()
            raise BrokerError(f"publishing failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the connection (safe to call twice, and after a failure)."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to do
                connection.close()
