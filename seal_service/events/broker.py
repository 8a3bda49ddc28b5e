"""Publishing events to RabbitMQ: a durable topic exchange, routing key ``{department}.{event type}``, persistent
messages, publisher confirms (aiormq, on a private event loop).

Example::

    >>> with BrokerPublisher("amqp://guest:guest@127.0.0.1:5672/%2F", exchange="supervision") as broker:
    ...     broker.publish(messages)                                              # doctest: +SKIP
    ...     broker.relay(read_window, commit_window, after=cursor, until=deadline)  # doctest: +SKIP

``publish`` returns only once the broker confirmed every message (it raises :class:`BrokerError` otherwise, and
the dispatcher publishes the same events again later: at least once, same ``message_id``). ``relay`` does the same
for a run of windows read from the outbox one after the other: up to ``in_flight`` windows wait for their confirms
while the next one is read from the database, and each window is committed (the cursor moved) only once it and
every window before it were confirmed.

Why the publish frames are encoded here: aiormq's ``basic_publish`` costs a task, a lock round, three pamqp
marshalling calls and a socket write per message, which was most of the dispatcher's CPU per event. A window's
messages are encoded here (AMQP 0-9-1 ``basic.publish``, content header, body frames; ``tests`` compare the bytes
with pamqp's) and handed to the connection's writer as one write. The confirms are kept here too
(:class:`_Confirms`: a nack, or the channel or connection closing, fails the window as before): aiormq's handler
looks through every outstanding confirm on each ack frame, which with a few thousand in flight cost more than the
publishing. RabbitMQ keeps the order of messages published on one channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aio_pika
import aio_pika.exceptions
import aiormq
import aiormq.exceptions
from aiormq.abc import ChannelFrame


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


@dataclass(frozen=True)
class BrokerWindow:
    """A run of consecutive outbox events for :meth:`BrokerPublisher.relay`."""

    last_seq: int
    """The cursor once this window is delivered."""
    count: int
    """Events in the window (those routed to nobody included: they move the cursor too)."""
    messages: Sequence[BrokerMessage]


def routing_key(department: str, event_type: str) -> str:
    """``jc-market.cn.gov.approval.licence.sealed``: bind ``jc-market.#`` for a department's events."""
    return f"{department}.{event_type}"


_FAILURES = (
    aio_pika.exceptions.AMQPException,
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,  # a RuntimeError: publishing on a channel that closed
    OSError,
    asyncio.TimeoutError,
)

# -- AMQP 0-9-1 encoding of basic.publish (spec section 4.2.3 frames, 1.8.3.7 content header) --------------------

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
_FRAME_END = b"\xce"
_METHOD, _HEADER, _BODY = 1, 2, 3
_BASIC = 60
_PUBLISH = 40
# Property flags of the content header, in the spec's order: content-type (bit 15), headers (13), delivery-mode
# (12), message-id (7), type (5).
_FLAGS = (1 << 15) | (1 << 13) | (1 << 12) | (1 << 7) | (1 << 5)
_PERSISTENT = 2


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise BrokerError(f"an AMQP short string holds at most 255 bytes: {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def _table(values: Mapping[str, str]) -> bytes:
    entries = b"".join(_shortstr(k) + b"S" + struct.pack(">I", len(v.encode())) + v.encode() for k, v in values.items())
    return struct.pack(">I", len(entries)) + entries


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + _FRAME_END


def encode_publish(
    channel: int, *, exchange: str, routing_keys: Sequence[str], message: BrokerMessage, max_body: int
) -> list[bytes]:
    """The frames of one persistent message per routing key (the same properties and body for each)."""
    body = message.envelope.encode()
    properties = (
        struct.pack(">H", _FLAGS)
        + _shortstr(CONTENT_TYPE)
        + _table({"ce-sequence": str(message.seq)})
        + bytes((_PERSISTENT,))
        + _shortstr(message.id)
        + _shortstr(message.type)
    )
    content = _frame(_HEADER, channel, struct.pack(">HHQ", _BASIC, 0, len(body)) + properties) + b"".join(
        _frame(_BODY, channel, body[i : i + max_body]) for i in range(0, len(body), max_body)
    )
    exchange_field = _shortstr(exchange)
    return [
        _frame(_METHOD, channel, struct.pack(">HHH", _BASIC, _PUBLISH, 0) + exchange_field + _shortstr(key) + b"\x00")
        + content
        for key in routing_keys
    ]


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    future.set_exception(error)
    # Marked as retrieved: the windows after a failed one are given up without awaiting each of their futures
    # (publishing reads the exception of those it waits for).
    future.exception()


class _Confirms:
    """The publisher confirms of one channel: a future per delivery tag, settled by the broker's ``basic.ack`` /
    ``basic.nack`` frames in tag order (``multiple`` settles every tag up to the one named), all failed when the
    channel closes. Installed as the aiormq channel's confirm handler, which only this publisher uses."""

    def __init__(self, channel: Any) -> None:
        self._pending: deque[tuple[int, asyncio.Future[Any]]] = deque()
        self._error: BaseException | None = None
        self.next_tag = channel.delivery_tag + 1
        channel._on_confirm_frame = self._on_frame  # the channel's reader calls it for every ack and nack
        channel.closing.add_done_callback(self._on_close)

    def expect(self) -> asyncio.Future[Any]:
        """The future of the next published message (its delivery tag is the next number)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._error is not None:
            _fail(future, self._error)
        else:
            self._pending.append((self.next_tag, future))
        self.next_tag += 1
        return future

    async def _on_frame(self, frame: Any) -> None:
        tag, ack = frame.delivery_tag, isinstance(frame, aiormq.spec.Basic.Ack)
        if getattr(frame, "multiple", False):
            while self._pending and self._pending[0][0] <= tag:
                self._settle(self._pending.popleft()[1], frame, ack)
            return
        if self._pending and self._pending[0][0] == tag:
            self._settle(self._pending.popleft()[1], frame, ack)
            return
        for i, (pending_tag, future) in enumerate(self._pending):  # out of order: rare
            if pending_tag == tag:
                del self._pending[i]
                self._settle(future, frame, ack)
                return

    @staticmethod
    def _settle(future: asyncio.Future[Any], frame: Any, ack: bool) -> None:
        if future.done():
            return
        if ack:
            future.set_result(frame)
        else:
            _fail(future, aiormq.exceptions.DeliveryError(None, frame))

    def _on_close(self, closing: asyncio.Future[Any]) -> None:
        error = None if closing.cancelled() else closing.exception()
        self._error = error or aiormq.exceptions.ChannelInvalidStateError("the channel closed")
        while self._pending:
            future = self._pending.popleft()[1]
            if not future.done():
                _fail(future, self._error)


class BrokerPublisher:
    """A confirmed-publishing channel to one exchange (declared durable on connect); used from one thread."""

    def __init__(self, url: str, *, exchange: str, timeout: float = 10, name: str = "one-seal dispatcher") -> None:
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._connection: Any = None
        self._channel: Any = None
        self._confirms: _Confirms | None = None
        self._database: ThreadPoolExecutor | None = None

    def __enter__(self) -> BrokerPublisher:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    async def _open(self) -> Any:
        if (
            self._channel is not None
            and not self._channel.is_closed
            and self._connection is not None
            and not self._connection.is_closed
        ):
            return self._channel
        await self._close()
        try:
            self._connection = await aio_pika.connect(
                self._url, timeout=self._timeout, client_properties={"connection_name": self._name}
            )
            channel = await self._connection.channel(publisher_confirms=True)
            await channel.declare_exchange(self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        except _FAILURES as exc:
            raise BrokerError(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
        # Publishing goes to the underlying aiormq channel (see the module's docstring).
        self._channel = await channel.get_underlay_channel()
        self._confirms = _Confirms(self._channel)
        return self._channel

    async def _send(self, channel: Any, messages: Sequence[BrokerMessage]) -> list[asyncio.Future[Any]]:
        """Write every message to every department in one write; the confirmation futures, in order."""
        confirms: list[asyncio.Future[Any]] = []
        frames: list[bytes] = []
        tracker = self._confirms
        assert tracker is not None
        async with channel.lock:
            for message in messages:
                keys = [routing_key(d, message.type) for d in message.departments]
                frames += encode_publish(
                    channel.number,
                    exchange=self._exchange_name,
                    routing_keys=keys,
                    message=message,
                    max_body=channel.max_content_size,
                )
                for _key in keys:
                    # The broker numbers a confirm-mode channel's publishes 1, 2, 3...: the next future is the
                    # next number's. (aiormq's own counter is kept in step, for anything else it does.)
                    channel.delivery_tag += 1
                    confirms.append(tracker.expect())
            if frames:
                await channel.write_queue.put(ChannelFrame(payload=b"".join(frames), should_close=False))
        return confirms

    async def _confirmed(self, confirms: list[asyncio.Future[Any]], deadline: float) -> None:
        """Return once every future is an ack; :class:`BrokerError` on a nack, a closed channel or the deadline."""
        for confirm in confirms:
            if not confirm.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(confirm), max(0.0, deadline - time.monotonic()))
            if not confirm.done():
                raise BrokerError(f"the broker did not confirm within {self._timeout:g} s")
            if confirm.cancelled():
                raise BrokerError("publishing was cancelled")
            error = confirm.exception()
            if isinstance(error, aiormq.exceptions.DeliveryError):
                raise BrokerError(f"the broker did not confirm a message: {type(error).__name__}: {error}")
            if error is not None:
                # The channel or the connection closed before the confirm came.
                raise BrokerError(f"publishing failed: {type(error).__name__}: {error}")
            if not isinstance(confirm.result(), aiormq.spec.Basic.Ack):
                raise BrokerError(f"the broker did not confirm a message: {type(confirm.result()).__name__}")

    def _deadline(self, messages: int) -> float:
        return time.monotonic() + self._timeout + messages / 100

    async def _publish(self, messages: Sequence[BrokerMessage]) -> None:
        channel = await self._open()
        confirms = await self._send(channel, messages)
        await self._confirmed(confirms, self._deadline(len(confirms)))

    async def _relay(
        self,
        read: Callable[[int], BrokerWindow | None],
        commit: Callable[[BrokerWindow], bool],
        *,
        after: int,
        until: float,
        in_flight: int,
    ) -> int:
        channel = await self._open()
        loop = asyncio.get_running_loop()
        if self._database is None:
            # One thread: the reads and commits run one at a time, in the order they are asked for.
            self._database = ThreadPoolExecutor(1, thread_name_prefix="broker-relay-db")
        database = self._database
        waiting: deque[tuple[BrokerWindow, list[asyncio.Future[Any]], float]] = deque()
        reading: asyncio.Future[BrokerWindow | None] | None = loop.run_in_executor(database, read, after)
        committed = 0
        try:
            while reading is not None or waiting:
                if reading is not None:
                    window = await reading
                    reading = None
                    if window is not None:
                        confirms = await self._send(channel, window.messages)
                        waiting.append((window, confirms, self._deadline(len(confirms))))
                        if time.monotonic() < until:
                            # The next window is read while this one's confirms are on their way.
                            reading = loop.run_in_executor(database, read, window.last_seq)
                # The oldest window is committed once confirmed; it is waited for when enough are in flight or
                # nothing more is being read.
                while waiting and (
                    reading is None or len(waiting) >= in_flight or (not waiting[0][1] or waiting[0][1][-1].done())
                ):
                    window, confirms, deadline = waiting.popleft()
                    await self._confirmed(confirms, deadline)
                    if not await loop.run_in_executor(database, commit, window):
                        return committed  # the lease was lost: another node carries on from the cursor
                    committed += 1
            return committed
        finally:
            if reading is not None:
                # A read already asked for ends before the next database call of this thread starts.
                with contextlib.suppress(Exception):
                    await reading

    def _run(self, work: Any) -> Any:
        try:
            return self._loop.run_until_complete(work)
        except BrokerError:
            self._loop.run_until_complete(self._close())
            raise
        except _FAILURES as exc:
            self._loop.run_until_complete(self._close())
            raise BrokerError(f"publishing failed: {type(exc).__name__}: {exc}") from exc

    def publish(self, messages: Sequence[BrokerMessage]) -> None:
        """Publish every message to every department it is routed to; returns when all are confirmed."""
        self._run(self._publish(messages))

    def relay(
        self,
        read: Callable[[int], BrokerWindow | None],
        commit: Callable[[BrokerWindow], bool],
        *,
        after: int,
        until: float,
        in_flight: int = 3,
    ) -> int:
        """Publish windows from cursor ``after`` on until ``read`` returns None or ``until`` (``time.monotonic``)
        passed; ``commit`` records each confirmed window, in order (False stops: the lease is lost). Returns the
        number of windows committed; :class:`BrokerError` when a window was not confirmed (those after the last
        committed one are published again later, with the same message ids)."""
        return int(self._run(self._relay(read, commit, after=after, until=until, in_flight=max(1, in_flight))))

    async def _close(self) -> None:
        connection, self._connection, self._channel, self._confirms = self._connection, None, None, None
        if connection is not None and not connection.is_closed:
            # Closing a broken connection may fail; there is nothing more to do then.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=self._timeout)

    def close(self) -> None:
        """Close the connection, the loop and the database thread (safe to call twice, and after a failure)."""
        if self._database is not None:
            self._database.shutdown(wait=True)
            self._database = None
        if self._loop.is_closed():
            return
        self._loop.run_until_complete(self._close())
        self._loop.close()
