"""Benchmark: sealing through the HTTP API versus in-process, on the same machine, in the same run.

    .venv/bin/python bench/api_sign.py [--requests 300] [--rounds 3] [--clients 16] [--workers 2] [--level B-LTA]
                                       [--signing-processes N]
                                       [--database-url postgresql://postgres@127.0.0.1:5432/test]

HTTP: ``seal-service serve --workers N`` (a real uvicorn: API worker processes, and the sealing processes serve
starts, one per core, shared by the workers), ``--clients`` concurrent keep-alive connections POSTing multipart
licences with an API key (a raw HTTP/1.1 client, cheap on the shared cores), until ``--requests`` licences exist;
licences/s, p50/p99 latency, and the CPU the server's processes used per licence. In-process: as many processes as
API workers, each calling ``seal_licence`` in a loop on the same instance (same database, same keys); licences/s
and CPU per licence. The two legs alternate for ``--rounds`` rounds and the medians are compared. The HTTP
overhead is ``in-process rate / HTTP rate - 1``; the target is at most 15 %. Not a test: it prints figures and
exits 0.

``--gm-compare``: instead, HTTP legs with the national seal and without it (``gm=false``) against the same server,
interleaved round after round (ABBA), with server CPU per licence; the national seal's throughput cost (issue 16:
at most 20 %).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._serving import process_tree_cpu, wait_until_idle  # noqa: E402
from seal_service.services.apikeys import Role, create_api_key  # noqa: E402
from seal_service.services.sealing import LicenceRequest, seal_licence  # noqa: E402
from seal_service.signing.sealer import PadesLevel  # noqa: E402
from tests.conftest import make_instance, make_settings  # noqa: E402
from tests.support.pdfs import sample_licence_pdf  # noqa: E402
from tests.support.processes import ServedInstance  # noqa: E402
from tests.support.server import free_port  # noqa: E402


def _multipart(fields: dict[str, str], pdf: bytes, boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="pdf"; filename="l.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + pdf
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def http_load(
    url: str, token: str, pdf: bytes, *, total: int, clients: int, level: str, gm: str | None = None
) -> tuple[float, list[float]]:
    """Run ``total`` sign requests from ``clients`` concurrent keep-alive connections; wall time and latencies.

    The load generator shares the server's two cores, so it is kept cheap: each connection sends the same
    pre-encoded multipart request (a raw HTTP/1.1 client; httpx cost about 3x more CPU per request).
    """
    latencies: list[float] = []
    remaining = total
    host, port = url.removeprefix("http://").split(":")

    async def one_client(number: int) -> None:
        nonlocal remaining
        boundary = f"bench{number:04d}"
        body = _multipart(
            {"item_code": "JC-001", "holder_name": f"基准测试企业{number}", "level": level, "gm": gm or _gm()},
            pdf,
            boundary,
        )
        request = (
            f"POST /v1/licences HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                writer.write(request)
                status, answer = await _read_response(reader)
                latencies.append(time.perf_counter() - start)
                if status != 201:
                    raise RuntimeError(f"sign failed: {status} {answer[:500]!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    return time.perf_counter() - start, latencies


def _gm() -> str:
    """``true`` unless ``--no-gm`` (environment ``BENCH_GM=false``, inherited by the in-process workers)."""
    return "false" if os.environ.get("BENCH_GM") == "false" else "true"


def _in_process_worker(args: tuple[dict[str, str], int, str, bytes]) -> tuple[float, float]:
    environment, count, level, pdf = args
    os.environ.update(environment)
    from seal_service.instance import Instance
    from seal_service.settings import Settings

    instance = Instance(Settings())
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="基准测试企业",
        seal_id="jc-bureau-approval",
        level=PadesLevel(level),
        gm=_gm() == "true",
    )
    seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))  # warm: load keys, build appearance
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
    return time.perf_counter() - start, time.process_time() - cpu


def in_process(settings, *, total: int, workers: int, level: str, pdf: bytes) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall time and CPU seconds for ``total`` licences sealed by ``workers`` processes calling the service code
    directly."""
    environment = {
        "SEAL_HOME": str(settings.resolved_home),
        "SEAL_DATABASE_URL": settings.resolved_database_url,
        "SEAL_PUBLIC_URL": settings.public_url,
        "SEAL_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
    }
    per_worker = total // workers
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        # Each worker times its own loop after start-up and warm-up; the slowest one bounds the wall time.
        results = pool.map(_in_process_worker, [(environment, per_worker, level, pdf)] * workers)
    return max(wall for wall, _ in results), sum(cpu for _, cpu in results)


def main() -> None:
    """Run both legs and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--signing-processes",
        type=int,
        default=None,
        help="sealing processes of the server (default: serve's, one per core)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating HTTP / in-process rounds (median)")
    parser.add_argument("--level", default="B-LTA", choices=[lv.value for lv in PadesLevel])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary instance")
    parser.add_argument("--no-gm", action="store_true", help="PAdES only: no national (SM2) seal (docs/gm-crypto.md)")
    parser.add_argument(
        "--gm-compare",
        action="store_true",
        help="instead: HTTP rounds with the national seal (gm=true) and without (gm=false), interleaved against the "
        "same server; the throughput drop and server CPU per licence (issue 16 target: at most 20 %% lower)",
    )
    args = parser.parse_args()
    if args.no_gm:
        os.environ["BENCH_GM"] = "false"

    pdf = sample_licence_pdf()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = make_settings(Path(tmp), database_url=args.database_url, public_url=f"http://127.0.0.1:{port}")
        instance = make_instance(settings)
        token = create_api_key(
            instance, name="bench", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
        ).secret
        print(f"machine before the server started: {_load()}", flush=True)
        extra = {"SEAL_SIGNING_PROCESSES": str(args.signing_processes)} if args.signing_processes is not None else {}
        served = ServedInstance(settings, port, workers=args.workers, extra_env=extra)
        try:
            # serve answers /healthz before its sealing processes have imported and warmed up: wait for that,
            # then seal a few licences per process (keys loaded, appearance built) before measuring.
            print(f"server idle {wait_until_idle(served.pid):.1f} s after it first answered /healthz", flush=True)
            asyncio.run(
                http_load(served.url, token, pdf, total=8 * args.workers, clients=args.clients, level=args.level)
            )
            if args.gm_compare:
                gm_compare(args, served, token, pdf)
                return
            # The legs alternate, round after round, so that the neighbours' load on this shared machine hits both.
            for number in range(1, args.rounds + 1):
                rounds.append(_round(args, served, settings, token, pdf))
                figures = rounds[-1]
                print(
                    f"round {number}: HTTP {figures['http_rate']:.1f}/s, in-process {figures['process_rate']:.1f}/s, "
                    f"overhead {figures['overhead'] * 100:.1f} % (CPU per licence "
                    f"{figures['cpu_overhead'] * 100:.1f} %), {_load()}",
                    flush=True,
                )
        finally:
            served.stop()

    def median(key: str) -> float:
        return statistics.median(figures[key] for figures in rounds)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"level {args.level}, {args.requests} licences per leg and round, {args.rounds} rounds, {args.workers} API "
        f"workers, {args.clients} HTTP clients, database {'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(
        f"medians over the rounds:\n{'leg':<22} {'licences/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/licence':>15}"
    )
    print(
        f"{'HTTP API':<22} {median('http_rate'):>11.1f} {median('p50'):>8.1f} {median('p99'):>8.1f} "
        f"{median('http_cpu_each'):>15.1f}"
    )
    print(f"{'in-process':<22} {median('process_rate'):>11.1f} {'-':>8} {'-':>8} {median('process_cpu_each'):>15.1f}")
    print(f"load generator CPU: {100 * median('client_share'):.1f} % of the cores, taken from the server's share")
    overhead = median("overhead")
    print(
        f"HTTP + bookkeeping overhead, throughput (median of rounds): {overhead * 100:.1f} % of in-process cost "
        f"(target <= 15 %): {'met' if overhead <= 0.15 else 'missed'}"
    )
    print(
        "HTTP + bookkeeping overhead, CPU per licence (all serve processes vs the in-process workers, median): "
        f"{median('cpu_overhead') * 100:.1f} %"
    )


def _round(args: argparse.Namespace, served: ServedInstance, settings, token: str, pdf: bytes) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """One HTTP leg and one in-process leg; their figures."""
    cpu_before, server_before = resource.getrusage(resource.RUSAGE_SELF), process_tree_cpu(served.pid)
    http_wall, latencies = asyncio.run(
        http_load(served.url, token, pdf, total=args.requests, clients=args.clients, level=args.level)
    )
    cpu_after, server_cpu = resource.getrusage(resource.RUSAGE_SELF), process_tree_cpu(served.pid)
    server_cpu -= server_before
    client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    process_wall, process_cpu = in_process(
        settings, total=args.requests, workers=args.workers, level=args.level, pdf=pdf
    )
    in_process_count = args.requests // args.workers * args.workers
    http_rate = args.requests / http_wall
    process_rate = in_process_count / process_wall
    http_cpu_each = 1000 * server_cpu / args.requests
    process_cpu_each = 1000 * process_cpu / in_process_count
    latencies.sort()
    return {
        "http_rate": http_rate,
        "process_rate": process_rate,
        "overhead": process_rate / http_rate - 1,
        "http_cpu_each": http_cpu_each,
        "process_cpu_each": process_cpu_each,
        "cpu_overhead": http_cpu_each / process_cpu_each - 1,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "client_share": client_cpu / (http_wall * (os.cpu_count() or 2)),
    }


def _gm_leg(args: argparse.Namespace, served: ServedInstance, token: str, pdf: bytes, gm: str) -> dict[str, float]:
    """One HTTP leg of ``--requests`` licences with ``gm`` (``true``/``false``): rate, server CPU per licence, p50."""
    before = process_tree_cpu(served.pid)
    wall, latencies = asyncio.run(
        http_load(served.url, token, pdf, total=args.requests, clients=args.clients, level=args.level, gm=gm)
    )
    cpu = process_tree_cpu(served.pid) - before
    return {
        "rate": args.requests / wall,
        "cpu_each": 1000 * cpu / args.requests,
        "p50": statistics.median(latencies) * 1000,
        "load": os.getloadavg()[0],
    }


def gm_compare(args: argparse.Namespace, served: ServedInstance, token: str, pdf: bytes) -> None:
    """Dual seal against PAdES only through the same server, legs interleaved (ABBA order) round after round, so
    that the neighbours' load on this shared machine hits both; medians and the per-round ratio."""
    asyncio.run(
        http_load(served.url, token, pdf, total=8 * args.workers, clients=args.clients, level=args.level, gm="false")
    )
    legs: dict[str, list[dict[str, float]]] = {"true": [], "false": []}
    ratios: list[float] = []
    for number in range(1, args.rounds + 1):
        order = ("true", "false") if number % 2 else ("false", "true")
        got = {gm: _gm_leg(args, served, token, pdf, gm) for gm in order}
        for gm, figures in got.items():
            legs[gm].append(figures)
        ratio = got["true"]["rate"] / got["false"]["rate"]
        ratios.append(ratio)
        print(
            f"round {number} ({'/'.join('dual' if g == 'true' else 'PAdES' for g in order)}): "
            f"dual {got['true']['rate']:.1f}/s {got['true']['cpu_each']:.1f} ms CPU/licence, "
            f"PAdES only {got['false']['rate']:.1f}/s {got['false']['cpu_each']:.1f} ms CPU/licence, "
            f"throughput {100 * (ratio - 1):+.1f} %, {_load()}",
            flush=True,
        )

    def med(gm: str, key: str) -> float:
        return statistics.median(figures[key] for figures in legs[gm])

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"level {args.level}, {args.requests} licences per leg, {args.rounds} rounds, {args.workers} API workers, "
        f"{args.clients} HTTP clients, database {'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(f"{'leg':<14} {'licences/s':>11} {'p50 ms':>8} {'server CPU ms/licence':>22}")
    for gm, name in (("false", "PAdES only"), ("true", "dual seal")):
        print(f"{name:<14} {med(gm, 'rate'):>11.1f} {med(gm, 'p50'):>8.1f} {med(gm, 'cpu_each'):>22.1f}")
    drop = 1 - statistics.median(ratios)
    cpu_extra = med("true", "cpu_each") - med("false", "cpu_each")
    print(
        f"throughput drop with the national seal (median of per-round ratios): {100 * drop:.1f} % "
        f"(target <= 20 %): {'met' if drop <= 0.20 else 'missed'}; server CPU per licence {cpu_extra:+.1f} ms "
        f"({100 * cpu_extra / med('false', 'cpu_each'):+.1f} %)"
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


if __name__ == "__main__":
    main()
