"""Benchmark: the supervision link beside sealing — sealed-to-delivered latency and dispatcher throughput.

    .venv/bin/python bench/supervision.py [--licences 500] [--clients 8] [--workers 2] [--level B-B]
                                          [--backlog 10000] [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                          [--broker amqp://guest:guest@127.0.0.1:5672/%2F | --no-broker]

Leg 1, live: ``seal-service serve --workers N`` (the dispatcher runs inside each worker) with one webhook
subscription (a real HTTP receiver in this process that checks every signature) and the RabbitMQ broker on; the
licences are sealed through ``POST /v1/licences``. For each licence: the time from the client receiving its 201
(the licence committed) to the webhook delivery arriving, and to the broker message arriving at a bound queue;
p50 / p99 (a delivery that arrives before the client read its 201 counts as 0). Target p99 < 2 s. Beside it, the
sealing rate of the same run.

Leg 2, backlog: ``--backlog`` events written to the outbox while no dispatcher runs, then one dispatcher (this
process) delivers them to the webhook receiver and the broker; events/s per channel. Target >= 1,000 events/s.
Beside the wall clock: the load average before and after each channel, the dispatcher's CPU per event (this
process's, less the webhook receiver's threads), the broker consumer's (a process of its own, as a department's
would be: in this process it took the GIL from the dispatcher) and RabbitMQ's (its ``beam.smp`` from /proc, when
readable). Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pika  # noqa: E402

from bench.api_sign import _multipart, _read_response  # noqa: E402
from seal_service.events import emit  # noqa: E402
from seal_service.events.dispatcher import Dispatcher  # noqa: E402
from seal_service.events.receivers import create_subscription, ensure_broker_receiver, receiver_status  # noqa: E402
from seal_service.services.apikeys import Role, create_api_key  # noqa: E402
from seal_service.storage.events_models import EventReceiver  # noqa: E402
from tests.conftest import make_instance, make_settings  # noqa: E402
from tests.support.pdfs import sample_licence_pdf  # noqa: E402
from tests.support.processes import ServedInstance  # noqa: E402
from tests.support.server import free_port  # noqa: E402

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


class Receiver:
    """A webhook endpoint that verifies each delivery's HMAC and notes when each event id first arrived."""

    def __init__(self, secret: str) -> None:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        self.arrived: dict[str, float] = {}
        self.subjects: dict[str, str] = {}
        self.bad = 0
        self.cpu = 0.0  # CPU seconds spent in the request handlers (their threads)
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                cpu = time.thread_time()
                body = self.rfile.read(int(self.headers["content-length"]))
                msg_id, stamp = self.headers["webhook-id"], self.headers["webhook-timestamp"]
                mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
                good = hmac.compare_digest(self.headers["webhook-signature"], "v1," + base64.b64encode(mac).decode())
                now = time.time()
                with lock:
                    if not good:
                        receiver.bad += 1
                    elif msg_id not in receiver.arrived:
                        receiver.arrived[msg_id] = now
                        receiver.subjects[msg_id] = json.loads(body).get("subject", "")
                self.send_response(204 if good else 401)
                self.send_header("content-length", "0")
                self.end_headers()
                with lock:
                    receiver.cpu += time.thread_time() - cpu

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _consume(url: str, exchange: str, ready, stop, count, cpu, out) -> None:  # type: ignore[no-untyped-def]
    """The consumer process: counts distinct message ids and notes their first arrival; sends them back at stop."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare(queue="", exclusive=True).method.queue
    channel.queue_bind(queue=queue, exchange=exchange, routing_key="jc-market.#")
    arrived: dict[str, float] = {}
    subjects: dict[str, str] = {}

    def on_message(channel, method, properties, body) -> None:  # type: ignore[no-untyped-def]
        if properties.message_id not in arrived:
            arrived[properties.message_id] = time.time()
            subjects[properties.message_id] = json.loads(body).get("subject", "")
            count.value = len(arrived)

    channel.basic_consume(queue, on_message, auto_ack=True)
    ready.set()
    while not stop.is_set():
        connection.process_data_events(0.05)
        cpu.value = time.process_time()
    connection.close()
    out.send((arrived, subjects))


class BrokerConsumer:
    """A queue bound to every ``jc-market`` event, read by a process of its own (as a department's consumer would
    be: in this process its CPU and the GIL would be taken from the dispatcher); notes when each message id first
    arrived."""

    def __init__(self, url: str, exchange: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._count, self._cpu = context.Value("q", 0), context.Value("d", 0.0)
        self._out, child_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_consume,
            args=(url, exchange, self._ready, self._stop, self._count, self._cpu, child_end),
            daemon=True,
        )
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the broker consumer did not start")
        self.arrived: dict[str, float] = {}
        self.subjects: dict[str, str] = {}

    @property
    def received(self) -> int:
        """Distinct message ids received so far."""
        return int(self._count.value)

    @property
    def cpu(self) -> float:
        """CPU seconds of the consumer process so far."""
        return float(self._cpu.value)

    def stop(self) -> None:
        """Stop the process; ``arrived`` and ``subjects`` are filled then."""
        self._stop.set()
        if self._out.poll(10):
            self.arrived, self.subjects = self._out.recv()
        self._process.join(timeout=5)


async def seal_many(
    url: str, token: str, pdf: bytes, *, total: int, clients: int, level: str
) -> tuple[float, dict[str, float]]:
    """Seal ``total`` licences from ``clients`` keep-alive connections; wall time and each licence's 201 time."""
    answered: dict[str, float] = {}
    remaining = total
    host, port = url.removeprefix("http://").split(":")

    async def one_client(number: int) -> None:
        nonlocal remaining
        boundary = f"bench{number:04d}"
        body = _multipart(
            {"item_code": "JC-001", "holder_name": f"基准测试企业{number}", "level": level}, pdf, boundary
        )
        request = (
            f"POST /v1/licences HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(request)
                status, answer = await _read_response(reader)
                if status != 201:
                    raise RuntimeError(f"sign failed: {status} {answer[:300]!r}")
                answered[json.loads(answer)["id"]] = time.time()
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    return time.perf_counter() - start, answered


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _latencies(answered: dict[str, float], arrived: dict[str, float], subjects: dict[str, str]) -> list[float]:
    by_licence = {subjects[i]: t for i, t in arrived.items()}
    return [max(0.0, by_licence[lid] - t) for lid, t in answered.items() if lid in by_licence]


def live_leg(args: argparse.Namespace, pdf: bytes, tmp: Path) -> None:
    port = free_port()
    exchange = f"bench-supervision-{secrets.token_hex(3)}"
    settings = make_settings(
        tmp / "instance",
        database_url=args.database_url,
        public_url=f"http://127.0.0.1:{port}",
        publication_interval_seconds=0,
    )
    instance = make_instance(settings)
    token = create_api_key(
        instance, name="bench", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
    ).secret
    issued = create_subscription(
        instance, department="jc-market", url="http://127.0.0.1:9/", at=datetime.now(UTC), actor="bench"
    )
    receiver = Receiver(issued.secret)
    with instance.writer.begin() as session:
        session.get(EventReceiver, issued.id).url = receiver.url
    extra = {"SEAL_PUBLICATION_INTERVAL_SECONDS": "0", "SEAL_DISPATCHER_POLL_SECONDS": "0.5"}
    consumer = None
    if args.broker:
        extra.update({"SEAL_BROKER_URL": args.broker, "SEAL_BROKER_EXCHANGE": exchange})
        consumer = BrokerConsumer(args.broker, exchange)
    served = ServedInstance(settings, port, workers=args.workers, extra_env=extra)
    try:
        time.sleep(3)  # let the sealing processes warm up
        asyncio.run(seal_many(served.url, token, pdf, total=4 * args.workers, clients=args.clients, level=args.level))
        time.sleep(2)
        wall, answered = asyncio.run(
            seal_many(served.url, token, pdf, total=args.licences, clients=args.clients, level=args.level)
        )
        deadline = time.time() + 30
        while time.time() < deadline and (
            len(receiver.arrived) < len(answered) + 4 * args.workers
            or (consumer and consumer.received < len(answered) + 4 * args.workers)
        ):
            time.sleep(0.1)
    finally:
        served.stop()
        if consumer:
            consumer.stop()
    rate = len(answered) / wall
    print(f"sealing: {len(answered)} licences in {wall:.1f} s = {rate:.1f} licences/s ({args.level})")
    hook = _latencies(answered, receiver.arrived, receiver.subjects)
    p50, p99 = _percentiles(hook)
    print(f"webhook: {len(hook)}/{len(answered)} delivered, bad signatures {receiver.bad}")
    print(f"  sealed-to-delivered p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    if consumer:
        broker = _latencies(answered, consumer.arrived, consumer.subjects)
        p50, p99 = _percentiles(broker)
        print(f"broker:  {len(broker)}/{len(answered)} delivered")
        print(f"  sealed-to-delivered p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")


def backlog_leg(args: argparse.Namespace, tmp: Path) -> None:
    exchange = f"bench-backlog-{secrets.token_hex(3)}"
    extra: dict[str, object] = {"publication_interval_seconds": 0, "dispatcher": False}
    if args.broker:
        extra.update(broker_url=args.broker, broker_exchange=exchange)
    # One home for both legs: on PostgreSQL they share the database, whose PKI rows name the home's key files.
    settings = make_settings(tmp / "instance", database_url=args.database_url, **extra)
    instance = make_instance(settings)
    issued = create_subscription(
        instance, department="jc-market", url="http://127.0.0.1:9/", at=datetime.now(UTC), actor="bench"
    )
    receiver = Receiver(issued.secret)
    with instance.writer.begin() as session:
        session.get(EventReceiver, issued.id).url = receiver.url
    ensure_broker_receiver(instance, at=datetime.now(UTC))
    consumer = BrokerConsumer(args.broker, exchange) if args.broker else None
    start = time.perf_counter()
    for first in range(0, args.backlog, 500):
        with instance.writer.begin() as session:
            for i in range(first, min(args.backlog, first + 500)):
                emit(
                    session,
                    type="cn.gov.approval.licence.sealed",
                    subject=f"L{i % 500:04d}",
                    data={"licence_id": f"L{i % 500:04d}", "n": i},
                    departments=("jc-market", "jc-bureau"),
                    at=datetime.now(UTC),
                    source="bench",
                )
    print(f"backlog: {args.backlog} events written in {time.perf_counter() - start:.1f} s")
    for kind in ["webhook"] + (["broker"] if args.broker else []):
        # One channel at a time: the other receiver is parked meanwhile.
        with instance.writer.begin() as session:
            for row in session.query(EventReceiver):
                ours = row.id == issued.id if kind == "webhook" else row.kind == "broker"
                row.status = "active" if ours else "disabled"
        dispatcher = Dispatcher(instance)
        received = (lambda: len(receiver.arrived)) if kind == "webhook" else (lambda: consumer.received)  # type: ignore[union-attr]
        side = receiver if kind == "webhook" else consumer
        side_cpu, broker_cpu = side.cpu, rabbitmq_cpu()  # type: ignore[union-attr]
        print(f"  load before: {load()}")
        start, cpu = time.perf_counter(), time.process_time()
        while True:
            report = dispatcher.run_once()
            if not report.receivers:
                break
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        dispatcher.close()
        deadline = time.time() + 10
        while received() < args.backlog and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        side_cpu = side.cpu - side_cpu  # type: ignore[union-attr]
        broker_cpu = None if broker_cpu is None else rabbitmq_cpu() - broker_cpu  # type: ignore[operator]
        # This leg's own receiver (the live leg's subscription, parked, shares the database).
        status = receiver_status(instance, issued.id if kind == "webhook" else "broker")[0]
        n = args.backlog
        if kind == "webhook":
            # The receiver runs in this process: its threads' CPU is subtracted.
            own, side_text = cpu - side_cpu, f"receiver (threads of this process) {side_cpu / n * 1000:.2f} ms/event"
        else:
            own, side_text = cpu, f"consumer (a process of its own) {side_cpu / n * 1000:.2f} ms/event"
        rabbit = "" if broker_cpu is None else f"; RabbitMQ (beam.smp) {broker_cpu / n * 1000:.2f} ms/event"
        print(
            f"dispatcher to {kind}: {n} events in {seconds:.2f} s = {n / seconds:.0f} events/s "
            f"(received {received()}, backlog left {status.backlog}); dispatcher CPU {own / n * 1000:.2f} ms/event "
            f"= {n / max(own, 1e-9):.0f} events per CPU-second; {side_text}{rabbit}"
        )
        print(f"  load after: {load()}")
    if consumer:
        consumer.stop()


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rabbitmq_cpu() -> float | None:
    """CPU seconds used so far by the local RabbitMQ node (beam.smp), when /proc shows it; else None."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        name, _, rest = stat.partition(" (")[2].partition(") ")
        if name == "beam.smp":
            fields = rest.split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--licences", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--level", default="B-B")
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary instance")
    parser.add_argument("--broker", default=DEFAULT_BROKER)
    parser.add_argument("--no-broker", dest="broker", action="store_const", const=None)
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"database {'PostgreSQL' if args.database_url else 'SQLite'}; broker {'on' if args.broker else 'off'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_live:
            live_leg(args, sample_licence_pdf(), Path(tmp))
        backlog_leg(args, Path(tmp))


if __name__ == "__main__":
    main()
