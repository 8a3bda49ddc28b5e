"""The page a licence's QR code opens under load: ``GET /v/{id}``, 64 concurrent connections.

Run: ``.venv/bin/python bench/qr_page.py`` (``--seconds 10``, ``--workers 2``, ``--runs 3``). Starts
``seal-service serve --workers N`` on a throwaway instance (loopback only), seals one licence, warms the server up
(it waits until the server's processes, sealing processes included, have finished starting, then runs
``--warmup 2`` seconds of the same load, not counted: each worker's first page render, database connection and
thread pool start there), then loads the page from a *separate process* (``wrk -t1 -c64 -d10s --latency URL``;
without wrk, httpx on asyncio) and prints, per run, requests/s, p50/p99 latency, the machine load before the run,
and the CPU time the server's processes spent per request (from /proc; a figure that other work on the machine
changes much less than the latency). Target: >= 2,000 requests/s, p99 < 25 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LOAD = r"""
import asyncio, json, sys, time
import httpx

url, seconds, concurrency, cap = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
latencies, errors = [], 0

async def worker(client, deadline):
    global errors
    while time.monotonic() < deadline and len(latencies) < cap:
        started = time.perf_counter()
        try:
            response = await client.get(url)
            if response.status_code != 200:
                errors += 1
        except httpx.HTTPError:
            errors += 1
        latencies.append(time.perf_counter() - started)

async def main():
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        await asyncio.gather(*(client.get(url) for _ in range(concurrency)))  # warm up every connection
        started = time.monotonic()
        await asyncio.gather(*(worker(client, started + seconds) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    latencies.sort()
    print(json.dumps({
        "requests": len(latencies), "errors": errors, "seconds": elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }))

asyncio.run(main())
"""


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _wrk(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Run wrk (C, so the load generator costs the shared cores little) and read its figures."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def millis(label: str) -> float:
        value = next(line.split()[1] for line in out.splitlines() if line.strip().startswith(label))
        for unit, factor in (("ms", 1.0), ("us", 0.001), ("s", 1000.0)):
            if value.endswith(unit):
                return float(value[: -len(unit)]) * factor
        return float(value)

    total = next(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
    errors = sum(int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line)
    return {
        "requests": total,
        "seconds": max(1, int(seconds)),
        "p50_ms": millis("50%"),
        "p99_ms": millis("99%"),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (not counted)")
    parser.add_argument("--runs", type=int, default=1, help="measured runs against the same server")
    parser.add_argument("--python-client", action="store_true", help="use the httpx load generator even with wrk")
    args = parser.parse_args()

    from bench._serving import process_tree_cpu, wait_until_idle
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from tests.conftest import make_instance, make_settings
    from tests.support.pdfs import sample_licence_pdf
    from tests.support.processes import ServedInstance
    from tests.support.server import free_port

    port = free_port()
    settings = make_settings(Path(tempfile.mkdtemp(prefix="bench-qr-")), public_url=f"http://127.0.0.1:{port}")
    instance = make_instance(settings)
    request = LicenceRequest(item_code="JC-001", holder_name="张三明", seal_id="jc-bureau-approval")
    sealed = seal_licence(instance, sample_licence_pdf(), request, actor="bench", at=datetime.now(UTC))
    use_wrk = shutil.which("wrk") is not None and not args.python_client

    def load(seconds: float) -> dict[str, float]:
        if use_wrk:
            return _wrk(sealed.verify_url, seconds, args.concurrency)
        result = subprocess.run(
            [sys.executable, "-c", LOAD, sealed.verify_url, str(seconds), str(args.concurrency), "1000000"],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
        return dict(json.loads(result.stdout))

    print(f"machine before the server started: {_load()}")
    served = ServedInstance(settings, port, workers=args.workers)
    server_pid = served.pid
    print(
        f"load generator: {'wrk (Debian package), one thread' if use_wrk else 'httpx (Python); install wrk'}; "
        f"{args.concurrency} connections, {args.workers} server workers, same 2 cores"
    )
    met_all = True
    try:
        print(f"server idle {wait_until_idle(server_pid):.1f} s after it first answered /healthz")
        if args.warmup > 0:
            load(args.warmup)
        for run in range(1, args.runs + 1):
            before = _load()
            cpu_before = process_tree_cpu(server_pid)
            figures = load(args.seconds)
            cpu = process_tree_cpu(server_pid) - cpu_before
            rate = figures["requests"] / figures["seconds"]
            met = rate >= 2000 and figures["p99_ms"] < 25 and figures["errors"] == 0
            met_all = met_all and met
            print(
                f"run {run}: GET /v/{{id}}: {rate:.0f} requests/s, p50 {figures['p50_ms']:.1f} ms, "
                f"p99 {figures['p99_ms']:.1f} ms, {figures['errors']} errors ({figures['requests']} requests); "
                f"server CPU {1e6 * cpu / max(figures['requests'], 1):.0f} us/request; before: {before}; "
                f"{'met' if met else 'NOT met'}"
            )
    finally:
        served.stop()
    print(f"target >= 2,000 requests/s with p99 < 25 ms: {'met' if met_all else 'NOT met'} in every run")


if __name__ == "__main__":
    main()
