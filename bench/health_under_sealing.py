"""Benchmark: how fast ``/healthz`` answers while a burst of sealing requests runs, against the same server idle.

    .venv/bin/python bench/health_under_sealing.py [--requests 50] [--workers 2] [--level B-T] [--rounds 3]

``seal-service serve --workers N`` (its sealing processes: one per core); per round, /healthz probed back to back
for 2 s on the idle server, then 50 sealing requests at once with the probes running until the last is answered.
Prints the probes' p50/p99/max latency idle and under the burst, and their ratio. Moved here from
tests/e2e/test_concurrent_sealing.py, which now checks only the order (the probes are answered while sealing
requests are outstanding). Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._serving import wait_until_idle  # noqa: E402
from seal_service.services.apikeys import Role, create_api_key  # noqa: E402
from tests.conftest import make_instance, make_settings  # noqa: E402
from tests.support.pdfs import sample_licence_pdf  # noqa: E402
from tests.support.processes import ServedInstance  # noqa: E402
from tests.support.server import free_port  # noqa: E402


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _probe(client: httpx.AsyncClient, running) -> list[float]:  # type: ignore[no-untyped-def]
    latencies = []
    while running():
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        latencies.append(time.perf_counter() - started)
    return latencies


async def _round(url: str, token: str, pdf: bytes, requests: int, level: str) -> tuple[list[float], list[float], float]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        idle_until = time.monotonic() + 2.0
        idle = await _probe(client, lambda: time.monotonic() < idle_until)
        outstanding = requests

        async def seal(i: int) -> None:
            nonlocal outstanding
            try:
                response = await client.post(
                    "/v1/licences",
                    headers={"Authorization": f"Bearer {token}"},
                    data={"item_code": "JC-001", "holder_name": f"示例企业{i:03d}", "level": level},
                    files={"pdf": ("l.pdf", pdf, "application/pdf")},
                )
                assert response.status_code == 201, response.text
            finally:
                outstanding -= 1

        started = time.monotonic()
        results = await asyncio.gather(_probe(client, lambda: outstanding > 0), *(seal(i) for i in range(requests)))
        return idle, results[0], time.monotonic() - started


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--level", default="B-T")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        settings = make_settings(Path(home), public_url=f"http://127.0.0.1:{port}")
        instance = make_instance(settings)
        token = create_api_key(
            instance, name="bench", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
        ).secret
        served = ServedInstance(settings, port, workers=args.workers)
        try:
            wait_until_idle(served.pid)
            pdf = sample_licence_pdf()
            for number in range(1, args.rounds + 1):
                idle, busy, burst = asyncio.run(_round(served.url, token, pdf, args.requests, args.level))
                idle_p50, busy_p50 = statistics.median(idle), statistics.median(busy)
                print(
                    f"round {number}: {args.requests} {args.level} licences in {burst:.1f} s; /healthz idle "
                    f"p50 {idle_p50 * 1000:.1f} ms p99 {_quantile(idle, 0.99) * 1000:.1f} ms ({len(idle)} probes); "
                    f"during the burst p50 {busy_p50 * 1000:.1f} ms p99 {_quantile(busy, 0.99) * 1000:.1f} ms "
                    f"max {max(busy) * 1000:.1f} ms ({len(busy)} probes); p50 ratio {busy_p50 / idle_p50:.1f}x",
                    flush=True,
                )
        finally:
            served.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
