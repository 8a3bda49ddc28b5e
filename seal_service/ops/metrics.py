"""Prometheus metrics of the service (``GET /metrics``), with ``prometheus-client``.

Example::

    >>> from seal_service.ops import metrics
    >>> metrics.count_verdicts(["valid", "invalid"])
    >>> body, content_type = metrics.exposition(instance, at=datetime.now(UTC))   # doctest: +SKIP

Under ``seal-service serve`` every process of the server (API workers, sealing processes, the supervisor) counts
into files of one directory (``PROMETHEUS_MULTIPROC_DIR``, set by ``serve`` before this module is imported), and
a scrape on any worker adds them up: prometheus-client's multiprocess mode. An app built in-process (tests) counts
in memory. Values that are facts of the database (CRL freshness, the age of the last audit checkpoint) are read
when scraped, so every node reports the same.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event, func, select

if TYPE_CHECKING:
    from seal_service.instance import Instance

#: The environment variable prometheus-client reads for its multiprocess mode.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "seal_http_requests", "HTTP requests answered, by route template, method and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "seal_http_request_duration_seconds",
    "Time from receiving a request to the end of its answer, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
SEALED = Counter("seal_licences_sealed", "Licences sealed and recorded, by seal and PAdES level.", ["seal", "level"])
VERDICTS = Counter("seal_verifications", "Documents verified (single and batch), by verdict.", ["verdict"])
SEALING_IN_FLIGHT = Gauge(
    "seal_sealing_requests_in_flight",
    "Sealing requests handed to the sealing processes (or threads) and not answered yet: queued or being sealed.",
    multiprocess_mode="livesum",
)
SEALING_PROCESSES = Gauge(
    "seal_sealing_processes", "Sealing processes the server keeps running.", multiprocess_mode="livemax"
)
SEALING_RESTARTS = Counter(
    "seal_sealing_process_restarts", "Sealing processes that died and were replaced by the supervisor."
)
PUBLICATION_ROUND = Gauge(
    "seal_publication_last_round_timestamp_seconds",
    "When this server last pre-produced its CRLs, OCSP responses and trust bundle (Unix time).",
    multiprocess_mode="max",
)
DB_IN_USE = Gauge(
    "seal_db_connections_in_use",
    "Database connections checked out of the API workers' pools now.",
    multiprocess_mode="livesum",
)

_instrumented: set[int] = set()
_instrumented_lock = threading.Lock()


def multiprocess() -> bool:
    """True when the metrics of several processes are added up from files (under ``serve``)."""
    return bool(os.environ.get(MULTIPROCESS_ENV))


#: Labelled children by (route, method, status): a label lookup costs more than the increment, on every request.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered HTTP request."""
    key = (route, method, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
    children[0].inc()
    children[1].observe(seconds)


def count_sealed(seal_id: str, level: str) -> None:
    """One licence sealed and recorded."""
    SEALED.labels(seal_id, level).inc()


def count_verdicts(verdicts: Iterable[str]) -> None:
    """Verdicts of verified documents (valid, invalid, indeterminate, modified)."""
    for verdict in verdicts:
        VERDICTS.labels(verdict).inc()


def sealing_restarted(dead_pid: int | None) -> None:
    """The supervisor replaced a sealing process that died; its live gauges no longer count."""
    SEALING_RESTARTS.inc()
    if dead_pid is not None and multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(dead_pid)


def published(at: datetime) -> None:
    """A publication round (CRLs, OCSP responses, trust bundle) completed at ``at``."""
    PUBLICATION_ROUND.set(at.timestamp())


def instrument_engine(engine: Any) -> None:
    """Count the connections checked out of ``engine``'s pool in :data:`DB_IN_USE` (once per engine)."""
    with _instrumented_lock:
        if id(engine) in _instrumented:
            return
        _instrumented.add(id(engine))
    event.listen(engine, "checkout", lambda *_: DB_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: DB_IN_USE.dec())


class _DatabaseFacts(Collector):
    """Metrics read from the database when scraped: the same on every node."""

    def __init__(self, instance: Instance, at: datetime) -> None:
        self.instance = instance
        self.at = at

    def collect(self) -> Iterator[Metric]:
        from seal_service.storage.keys_models import AuditChainHead, AuditCheckpoint
        from seal_service.storage.lifecycle_models import PublishedCrl

        crl_next = GaugeMetricFamily(
            "seal_crl_next_update_seconds",
            "Seconds until nextUpdate of the newest published CRL, by issuer (negative: relying parties hold an "
            "expired CRL).",
            labels=["issuer"],
        )
        crl_age = GaugeMetricFamily(
            "seal_crl_age_seconds",
            "Seconds since thisUpdate of the newest published CRL, by issuer.",
            labels=["issuer"],
        )
        checkpoint_age = GaugeMetricFamily(
            "seal_audit_checkpoint_age_seconds", "Seconds since the last signed audit checkpoint (absent: none yet)."
        )
        unsigned = GaugeMetricFamily(
            "seal_audit_entries_after_checkpoint", "Audit entries appended after the last signed checkpoint."
        )
        with self.instance.sessions() as session:
            newest = (
                select(PublishedCrl.issuer_role, func.max(PublishedCrl.number).label("number"))
                .group_by(PublishedCrl.issuer_role)
                .subquery()
            )
            crls = session.execute(
                select(PublishedCrl.issuer_role, PublishedCrl.this_update, PublishedCrl.next_update).join(
                    newest,
                    (PublishedCrl.issuer_role == newest.c.issuer_role) & (PublishedCrl.number == newest.c.number),
                )
            ).all()
            last = session.execute(
                select(AuditCheckpoint.at, AuditCheckpoint.seq).order_by(AuditCheckpoint.seq.desc()).limit(1)
            ).first()
            head = session.scalar(select(func.max(AuditChainHead.last_seq)))
        for role, this_update, next_update in crls:
            crl_next.add_metric([role], (next_update - self.at).total_seconds())
            crl_age.add_metric([role], (self.at - this_update).total_seconds())
        if last is not None:
            checkpoint_age.add_metric([], (self.at - last.at).total_seconds())
        unsigned.add_metric([], float(max((head or 0) - (last.seq if last is not None else 0), 0)))
        yield from (crl_next, crl_age, checkpoint_age, unsigned)


class _PoolSize(Collector):
    """The configured size of this process's database pool."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance

    def collect(self) -> Iterator[Metric]:
        pool = self.instance.engine.pool
        size = getattr(pool, "size", None)
        family = GaugeMetricFamily("seal_db_pool_size", "Connections the answering worker's pool keeps open.")
        if callable(size):
            family.add_metric([], float(size()))
            yield family


class _Default(Collector):
    """This process's own metrics (in-process mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(instance: Instance, *, at: datetime) -> tuple[bytes, str]:
    """The text exposition of every metric (blocking: reads the database); returns (body, content type)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    registry.register(_DatabaseFacts(instance, at))
    registry.register(_PoolSize(instance))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def now_seconds() -> float:
    """A monotonic clock for request durations."""
    return time.perf_counter()
