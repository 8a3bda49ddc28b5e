"""Benchmark: a mixed load against two nodes over one PostgreSQL, as a province's traffic looks.

    .venv/bin/python bench/load.py [--duration 120] [--nodes 2] [--clients 16] [--workers 1] [--signing-processes 1]
                                   [--mix page=60,read=20,verify=12,seal=8] [--level B-LTA]
                                   [--database-url postgresql://postgres@127.0.0.1:5432/test]

Starts ``--nodes`` real ``seal-service serve`` processes on their own ports over one fresh PostgreSQL database
(the key store shared, every node its own ``SEAL_HOME``), seeds a few licences, and runs ``--clients`` concurrent
keep-alive clients (httpx, asyncio) for ``--duration`` seconds (default 20 for trying; 120 for the figures in
docs/performance.md). Each client is bound to one node, round-robin, as behind a load balancer, and picks each
request from the mix (weights in per cent):

* ``page``: ``GET /v/{id}``, the QR page a citizen opens (most of the traffic);
* ``read``: ``GET /v1/licences/{id}``, an approval system reading a record;
* ``verify``: ``POST /v1/verify`` with a sealed licence (a department checking a document);
* ``seal``: ``POST /v1/licences``, an approval system sealing a licence (the expensive request).

Pages and reads ask for licences sealed before and during the run, on either node. It prints, per route:
requests, throughput, p50/p99 latency and statuses; errors (the target is zero 5xx and zero transport errors);
and the server's CPU per request (user + system seconds of every node's processes, from /proc, divided by the
requests answered), next to the load generator's own CPU, since both share this machine's cores. The servers'
own ``/metrics`` are scraped at the end as a cross-check of the 5xx count. Not a test: it prints figures and
exits 0 (1 if any 5xx or transport error happened).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._serving import process_tree_cpu, wait_until_idle  # noqa: E402
from seal_service.services.apikeys import Role, create_api_key  # noqa: E402
from seal_service.services.sealing import LicenceRequest, seal_licence  # noqa: E402
from tests.conftest import make_instance, make_settings  # noqa: E402
from tests.support.pdfs import sample_licence_pdf  # noqa: E402
from tests.support.processes import ServedInstance  # noqa: E402
from tests.support.server import free_port  # noqa: E402

ROUTES = ("page", "read", "verify", "seal")
TEMPLATES = {
    "page": "/v/{licence_id}",
    "read": "/v1/licences/{licence_id}",
    "verify": "/v1/verify",
    "seal": "/v1/licences",
}
METRICS_TOKEN = "bench-load-metrics-token-0123456789"  # noqa: S105 - a throwaway server's


@dataclass
class Tally:
    """What the clients saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: Counter[str] = field(default_factory=Counter)


def _mix(text: str) -> dict[str, int]:
    weights = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ROUTES or not weight.isdigit():
            raise SystemExit(f"--mix: {part!r}; use e.g. page=60,read=20,verify=12,seal=8")
        weights[name] = int(weight)
    return weights


async def _client(
    number: int,
    url: str,
    *,
    until: float,
    mix: dict[str, int],
    licences: list[str],
    sealed_pdf: bytes,
    pdf: bytes,
    token: str,
    level: str,
    tally: Tally,
) -> None:
    chooser = random.Random(number)
    names, weights = list(mix), list(mix.values())
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=1)) as client:
        while time.monotonic() < until:
            route = chooser.choices(names, weights)[0]
            licence_id = chooser.choice(licences)
            start = time.perf_counter()
            try:
                if route == "page":
                    response = await client.get(f"/v/{licence_id}")
                elif route == "read":
                    response = await client.get(f"/v1/licences/{licence_id}", headers=auth)
                elif route == "verify":
                    response = await client.post("/v1/verify", files={"pdf": ("l.pdf", sealed_pdf, "application/pdf")})
                else:
                    response = await client.post(
                        "/v1/licences",
                        headers=auth,
                        data={"item_code": "JC-001", "holder_name": f"晋城市负载测试企业{number:02d}", "level": level},
                        files={"pdf": ("l.pdf", pdf, "application/pdf")},
                    )
                    if response.status_code == 201:
                        licences.append(response.json()["id"])
            except httpx.HTTPError as exc:
                tally.transport_errors[f"{route}: {type(exc).__name__}"] += 1
                continue
            tally.latencies[route].append(time.perf_counter() - start)
            tally.statuses[route][response.status_code] += 1


async def _run(urls: list[str], args: argparse.Namespace, **shared: object) -> tuple[Tally, float]:
    tally = Tally()
    until = time.monotonic() + args.duration
    started = time.monotonic()
    await asyncio.gather(
        *(
            _client(n, urls[n % len(urls)], until=until, tally=tally, level=args.level, mix=args.mix, **shared)  # type: ignore[arg-type]
            for n in range(args.clients)
        )
    )
    return tally, time.monotonic() - started


def _sealing_cpu(server_pid: int) -> float:
    """CPU seconds of a server's sealing processes: its children started by multiprocessing's spawn."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == server_pid and b"spawn_main" in command and b"resource_tracker" not in command:
            total += process_tree_cpu(int(entry.name))
    return total


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _server_5xx(urls: list[str]) -> int:
    """5xx answers the servers counted themselves (their /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0
    for url in urls:
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=60).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "seal_http_requests_total" and sample.labels.get("status", "").startswith("5"):
                    total += int(sample.value)
    return total


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20; 120 for figures)")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients over all nodes")
    parser.add_argument("--workers", type=int, default=1, help="API workers per node")
    parser.add_argument("--signing-processes", type=int, default=1, help="sealing processes per node")
    parser.add_argument("--mix", type=_mix, default=_mix("page=60,read=20,verify=12,seal=8"))
    parser.add_argument("--level", default="B-LTA", choices=["B-B", "B-T", "B-LT", "B-LTA"])
    parser.add_argument("--seed-licences", type=int, default=20, help="licences sealed before the load starts")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    import psycopg

    base, _, name = args.database_url.rpartition("/")
    database = f"{name}_load_{os.getpid()}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    servers: list[ServedInstance] = []
    try:
        with tempfile.TemporaryDirectory(prefix="seal-load-") as temporary:
            ports = [free_port() for _ in range(args.nodes)]
            public = f"http://127.0.0.1:{ports[0]}"  # the load balancer's URL; node 1 stands in for it
            homes = [Path(temporary) / f"node-{n + 1}" for n in range(args.nodes)]
            for home in homes:
                home.mkdir()
            settings = [make_settings(home, database_url=f"{base}/{database}", public_url=public) for home in homes]
            instance = make_instance(settings[0])
            token = create_api_key(
                instance, name="load", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
            ).secret
            pdf = sample_licence_pdf()
            print(f"seeding {args.seed_licences} licences ...", flush=True)
            licences: list[str] = []
            sealed_pdf = b""
            for n in range(args.seed_licences):
                holder = f"晋城市种子企业{n:02d}"
                request = LicenceRequest(item_code="JC-001", holder_name=holder, seal_id="jc-bureau-approval")
                sealed = seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
                licences.append(sealed.licence_id)
                sealed_pdf = sealed.pdf
            environment = {
                "SEAL_KEYS_DIR": str(settings[0].resolved_keys_dir),
                "SEAL_SIGNING_PROCESSES": str(args.signing_processes),
                "SEAL_METRICS": "bearer",
                "SEAL_METRICS_TOKEN": METRICS_TOKEN,
            }
            print(f"machine before the servers started: {_load()}", flush=True)
            for node_settings, port in zip(settings, ports, strict=True):
                servers.append(ServedInstance(node_settings, port, workers=args.workers, extra_env=environment))
            for server in servers:
                wait_until_idle(server.pid)
            urls = [server.url for server in servers]
            shared = {"licences": licences, "sealed_pdf": sealed_pdf, "pdf": pdf, "token": token}
            # Warm every node (sealing processes' first licence, verifier, pages) before measuring.
            warm_args = argparse.Namespace(**{**vars(args), "duration": 3.0, "clients": 2 * args.nodes})
            asyncio.run(_run(urls, warm_args, **shared))
            cpu_before = sum(process_tree_cpu(server.pid) for server in servers)
            sealing_before = sum(_sealing_cpu(server.pid) for server in servers)
            own_before = resource.getrusage(resource.RUSAGE_SELF)
            print(f"load: {args.duration:.0f} s, {args.clients} clients over {args.nodes} nodes, {_load()}", flush=True)
            tally, elapsed = asyncio.run(_run(urls, args, **shared))
            cpu = sum(process_tree_cpu(server.pid) for server in servers) - cpu_before
            sealing_cpu = sum(_sealing_cpu(server.pid) for server in servers) - sealing_before
            own_after = resource.getrusage(resource.RUSAGE_SELF)
            own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
            server_5xx = _server_5xx(urls)
    finally:
        for server in servers:
            server.stop()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    total = sum(len(v) for v in tally.latencies.values())
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {_load()}")
    print(
        f"{args.nodes} nodes x ({args.workers} API worker + {args.signing_processes} sealing process), PostgreSQL, "
        f"{args.clients} clients, {elapsed:.1f} s, mix {args.mix}, sealing level {args.level}"
    )
    print(f"{'route':<28} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for route in ROUTES:
        values = tally.latencies.get(route, [])
        if not values:
            continue
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(tally.statuses[route].items()))
        print(
            f"{TEMPLATES[route]:<28} {len(values):>9} {len(values) / elapsed:>8.1f} "
            f"{_percentile(values, 0.5) * 1000:>8.1f} {_percentile(values, 0.99) * 1000:>8.1f}  {statuses}"
        )
    everything = [v for values in tally.latencies.values() for v in values]
    print(
        f"{'all':<28} {total:>9} {total / elapsed:>8.1f} {statistics.median(everything) * 1000:>8.1f} "
        f"{_percentile(everything, 0.99) * 1000:>8.1f}"
    )
    client_5xx = sum(c for s in tally.statuses.values() for code, c in s.items() if code >= 500)
    client_4xx = sum(c for s in tally.statuses.values() for code, c in s.items() if 400 <= code < 500)
    print(
        f"errors: {client_5xx} 5xx seen by clients ({server_5xx} counted by the servers' /metrics), "
        f"{client_4xx} 4xx, {sum(tally.transport_errors.values())} transport errors {dict(tally.transport_errors)}"
    )
    print(
        f"server CPU: {cpu:.1f} s over {elapsed:.1f} s ({cpu / elapsed:.2f} cores busy), "
        f"{cpu / max(total, 1) * 1000:.1f} ms per request on average over the mix; "
        f"load generator: {own:.1f} s ({own / elapsed:.2f} cores)"
    )
    sealed = len(tally.latencies.get("seal", []))
    others = total - sealed
    print(
        f"  of which sealing processes {sealing_cpu:.1f} s ({sealing_cpu / max(sealed, 1) * 1000:.0f} ms per licence "
        f"sealed), API workers {cpu - sealing_cpu:.1f} s ({(cpu - sealing_cpu) / max(total, 1) * 1000:.1f} ms per "
        f"request of any route; {others} of the {total} requests were not sealing)"
    )
    sys.exit(1 if client_5xx or server_5xx or tally.transport_errors else 0)


if __name__ == "__main__":
    main()
