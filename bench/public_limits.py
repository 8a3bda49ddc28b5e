"""What one public rate-limit check costs: the upsert-increment of ``public_rate_counts`` (public.ratelimit).

Run: ``.venv/bin/python bench/public_limits.py`` (``--hits 2000``, ``--addresses 500``,
``--database-url postgresql://postgres@127.0.0.1:5432/test``).

On a fresh PostgreSQL database and a fresh SQLite file (each migrated to the service's schema), ``--hits`` checks
spread over ``--addresses`` client addresses, one at a time as a request would make them: wall-clock p50 / p99 and
this process's CPU time per check (the part that does not move with the machine's load), and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _load() -> float:
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


def _time(url: str, hits: int, addresses: int) -> None:
    from seal_service.public.ratelimit import RateLimiter
    from seal_service.storage.database import make_engine, upgrade

    upgrade(url)
    engine = make_engine(url)
    limiter = RateLimiter(engine, bucket="search", limit=10**9, window_seconds=60)
    rng = random.Random(15)
    clients = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(addresses)]
    for client in clients[:20]:
        limiter.hit(client, at=time.time())  # warm the pool
    wall, cpu = [], []
    for _ in range(hits):
        client = rng.choice(clients)
        c0, t0 = time.process_time(), time.perf_counter()
        limiter.hit(client, at=time.time())
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    p50, p99 = _percentiles(wall)
    cpu50, cpu99 = _percentiles(cpu)
    backend = url.split(":", 1)[0]
    print(f"{backend:<12} {p50:>8.2f} {p99:>8.2f} {cpu50:>11.2f} {cpu99:>11.2f}")
    engine.dispose()


def main() -> int:
    """Time the checks on both databases, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--addresses", type=int, default=500)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    import psycopg

    name = f"seal_bench_limits_{secrets.token_hex(3)}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    loads = [_load()]
    print(f"{'database':<12} {'p50 ms':>8} {'p99 ms':>8} {'CPU p50 ms':>11} {'CPU p99 ms':>11}  (one check each)")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-limits-") as home:
            _time(f"sqlite:///{home}/seal.db", args.hits, args.addresses)
            loads.append(_load())
        _time(f"{args.database_url.rsplit('/', 1)[0]}/{name}", args.hits, args.addresses)
        loads.append(_load())
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
