"""The page a licence's QR code opens under load: ``GET /v/{id}``, 64 concurrent connections.

Run: ``.venv/bin/python bench/qr_page.py`` (``--seconds 10``, ``--workers 2``). Starts ``seal-service serve
--workers N`` on a throwaway instance (loopback only), seals one licence, then loads the page from a *separate
process* (httpx, asyncio, 64 keep-alive connections, bounded in time and count) and prints requests/s and
p50/p99 latency, with the machine load before and after. Target: >= 2,000 requests/s, p99 < 25 ms on 2 cores.
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
    parser.add_argument("--python-client", action="store_true", help="use the httpx load generator even with wrk")
    args = parser.parse_args()

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
    served = ServedInstance(settings, port, workers=args.workers)
    try:
        print(f"before: {_load()}")
        if shutil.which("wrk") and not args.python_client:
            figures = _wrk(sealed.verify_url, args.seconds, args.concurrency)
            print("load generator: wrk (Debian package), one thread")
        else:
            result = subprocess.run(
                [sys.executable, "-c", LOAD, sealed.verify_url, str(args.seconds), str(args.concurrency), "1000000"],
                capture_output=True,
                text=True,
                check=True,
                timeout=args.seconds + 120,
            )
            figures = json.loads(result.stdout)
            print("load generator: httpx (Python); install wrk for a lighter one")
        print(f"after: {_load()}")
    finally:
        served.stop()
    rate = figures["requests"] / figures["seconds"]
    print(
        f"GET /v/{{id}}: {rate:.0f} requests/s, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
        f"{figures['errors']} errors ({figures['requests']} requests, {args.concurrency} connections, "
        f"{args.workers} server workers; the load generator shares the same 2 cores)"
    )
    met = rate >= 2000 and figures["p99_ms"] < 25
    print(f"target >= 2,000 requests/s with p99 < 25 ms: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
