"""Publishing events to RabbitMQ: a durable topic exchange, routing key ``{department}.{event type}``, persistent
messages, publisher confirms (aio-pika, on a private event loop).

Example::

    >>> with BrokerPublisher("amqp://guest:guest@127.0.0.1:5672/%2F", exchange="supervision") as broker:
    ...     broker.publish(events)                                  # doctest: +SKIP

``publish`` returns only once the broker confirmed every message (it raises :class:`BrokerError` otherwise, and
the dispatcher publishes the same events again later: at least once, same ``message_id``). The messages of one
call are published without waiting for each confirm in turn (the confirms are awaited together), which is what
makes the broker fast; RabbitMQ keeps the order of messages published on one channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aio_pika
import aio_pika.exceptions
import aiormq
import aiormq.exceptions


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


_FAILURES = (aio_pika.exceptions.AMQPException, aiormq.exceptions.AMQPError, OSError, asyncio.TimeoutError)


class BrokerPublisher:
    """A confirmed-publishing channel to one exchange (declared durable on connect); used from one thread."""

    def __init__(self, url: str, *, exchange: str, timeout: float = 10, name: str = "one-seal dispatcher") -> None:
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._connection: Any = None
        self._exchange: Any = None

    def __enter__(self) -> BrokerPublisher:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    async def _open(self) -> Any:
        if self._exchange is not None and self._connection is not None and not self._connection.is_closed:
            return self._exchange
        await self._close()
        try:
            self._connection = await aio_pika.connect(
                self._url, timeout=self._timeout, client_properties={"connection_name": self._name}
            )
        except _FAILURES as exc:
            raise BrokerError(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.declare_exchange(self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        # Publishing goes straight to the underlying aiormq channel: aio-pika's Message and Exchange.publish cost
        # more CPU than the publish itself, and its publish waits for each socket write in turn.
        self._exchange = await channel.get_underlay_channel()
        return self._exchange

    async def _publish(self, messages: Sequence[BrokerMessage]) -> None:
        channel = await self._open()
        confirms = []
        for message in messages:
            body = message.envelope.encode()
            properties = aiormq.spec.Basic.Properties(
                content_type="application/cloudevents+json; charset=utf-8",
                delivery_mode=2,  # persistent
                message_id=message.id,
                message_type=message.type,
                headers={"ce-sequence": str(message.seq)},
            )
            for department in message.departments:
                # Tasks start in creation order and the channel's lock is FIFO: the frames go out in this order.
                publish = channel.basic_publish(
                    body,
                    exchange=self._exchange_name,
                    routing_key=routing_key(department, message.type),
                    properties=properties,
                    wait=False,
                )
                confirms.append(asyncio.ensure_future(publish))
        # Each publish returns once its confirm (ack) came; a nack or a lost connection raises.
        try:
            results = await asyncio.wait_for(asyncio.gather(*confirms), timeout=self._timeout + len(confirms) / 100)
        finally:
            for task in confirms:
                task.cancel()
        for result in results:
            if not isinstance(result, aiormq.spec.Basic.Ack):
                raise BrokerError(f"the broker did not confirm a message: {type(result).__name__}")

    def publish(self, messages: Sequence[BrokerMessage]) -> None:
        """Publish every message to every department it is routed to; returns when all are confirmed."""
        try:
            self._loop.run_until_complete(self._publish(messages))
        except BrokerError:
            self._loop.run_until_complete(self._close())
            raise
        except _FAILURES as exc:
            self._loop.run_until_complete(self._close())
            raise BrokerError(f"publishing failed: {type(exc).__name__}: {exc}") from exc

    async def _close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and not connection.is_closed:
            # Closing a broken connection may fail; there is nothing more to do then.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=self._timeout)

    def close(self) -> None:
        """Close the connection and the loop (safe to call twice, and after a failure)."""
        if self._loop.is_closed():
            return
        self._loop.run_until_complete(self._close())
        self._loop.close()
