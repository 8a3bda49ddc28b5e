"""The public register at scale: 1,000,000 licence rows in PostgreSQL (generated, not sealed).

Run: ``.venv/bin/python bench/register.py`` (``--rows 1000000``, ``--samples 500``, ``--export-rows 100000``,
``--explain-samples 50``, ``--database-url postgresql://postgres@127.0.0.1:5432/test``, ``--keep`` to keep the
database, ``--reuse NAME:HOME`` to time again on a kept one without generating).

Creates a fresh database next to the one named, initialises an instance in it (schema, PKI, demo seals), generates
the rows inside PostgreSQL (``generate_series``: organisations with credit codes, one in ten a natural person, four
items, three authorities, five years of decisions, a fifth suspended or revoked), ANALYZEs, then times what the
register's routes call (:func:`seal_service.public.register.search`: a session, ``SET LOCAL statement_timeout``,
the query, the masking of every row), each ``--samples`` times with random keys:

- search by licence number, by organisation credit code, by holder-name prefix (a prefix matching a few
  companies), the first page with no filter, and the next page from a cursor: p50 / p99 in ms;
- the same searches' CPU time in this process (p50 / p99 ms) and PostgreSQL's execution time (``EXPLAIN ANALYZE``,
  p50 / p99 of ``--explain-samples`` random keys): the figures that do not move with the machine's load;
- the CSV export of ``--export-rows`` rows (``export_rows`` + ``csv_chunks``, server-side cursor): rows/s and the
  process's resident memory after 10% of the rows and at the end (constant memory: the two are about equal).

Targets (issue 14): p99 < 20 ms for number, credit code and name prefix; first page < 10 ms; export at constant
memory.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GENERATE = """
INSERT INTO licences (id, identifier, serial, number, authority_id, seal_id, certificate_id, item_code, licence_type,
  licence_type_code, holder_name, holder_code, holder_code_type, issue_date, valid_from, valid_until, level,
  sealed_at, document_sha256, status)
SELECT 'LB' || lpad(g::text, 18, '0'),
  'bench-' || g,
  lpad(g::text, 11, '0'),
  '140500-B' || lpad(g::text, 10, '0'),
  a.id, a.seal_id, a.certificate_id,
  (ARRAY['JC-001','JC-002','JC-003','JC-004'])[1 + g % 4],
  '食品经营许可证', '11100000MB01432171001',
  CASE WHEN g % 10 = 0 THEN '张' || substr(md5(g::text), 1, 2)
       ELSE '晋城市' || substr(md5(g::text), 1, 8) || '商贸有限公司' END,
  CASE WHEN g % 10 = 0 THEN '110105' || lpad((g % 100000000)::text, 12, '0')
       ELSE '91' || lpad(g::text, 16, '0') END,
  CASE WHEN g % 10 = 0 THEN '111' ELSE '001' END,
  DATE '2021-01-01' + (g % 1800),
  DATE '2021-01-01' + (g % 1800),
  DATE '2026-01-01' + (g % 1800),
  'B-LTA',
  TIMESTAMPTZ '2021-01-01 00:00:00+00' + g * INTERVAL '150 seconds',
  md5(g::text),
  (ARRAY['valid','valid','valid','suspended','revoked'])[1 + g % 5]
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) g
JOIN (SELECT au.id, s.id AS seal_id, c.id AS certificate_id, row_number() OVER (ORDER BY au.id) - 1 AS k
      FROM authorities au JOIN seals s ON s.authority_id = au.id JOIN seal_certificates c ON c.seal_id = s.id
      WHERE au.jurisdiction_code = '140500') a ON a.k = g % 3
"""


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _load() -> float:
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 2**20


def main() -> int:
    """Generate, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--explain-samples", type=int, default=50, help="EXPLAIN ANALYZE runs per kind of query")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the generated database (and its instance home)")
    parser.add_argument(
        "--reuse", metavar="NAME:HOME", help="time again on a database kept by --keep (printed as NAME:HOME)"
    )
    args = parser.parse_args()

    import psycopg
    from sqlalchemy import text

    from seal_service.instance import Instance
    from seal_service.public import register
    from seal_service.services.bootstrap import initialise
    from seal_service.settings import Settings

    base = args.database_url.rsplit("/", 1)[0]
    if args.reuse:
        name, home_text = args.reuse.split(":", 1)
        home = Path(home_text)
    else:
        name = f"seal_bench_register_{secrets.token_hex(3)}"
        home = Path(tempfile.mkdtemp(prefix="bench-register-"))
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        settings = Settings(home=home, database_url=url, key_passphrase="bench-passphrase-not-secret")  # noqa: S106
        instance = Instance(settings)
        if not args.reuse:
            initialise(instance, at=datetime.now(UTC))
            started = time.perf_counter()
            batch = 100_000
            for start in range(1, args.rows + 1, batch):
                stop = min(args.rows, start + batch - 1)
                with instance.writer.begin() as session:
                    session.execute(text(GENERATE), {"start": start, "stop": stop})
            with instance.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE licences"))
            print(f"generated {args.rows:,} licence rows in {time.perf_counter() - started:.1f} s ({name}:{home})")
        loads = [_load()]
        print(f"load average before timing: {loads[0]:.2f} ({os.cpu_count()} cores)")

        rng = random.Random(14)
        orgs = [g for g in (rng.randrange(1, args.rows + 1) for _ in range(args.samples * 3)) if g % 10][: args.samples]
        with instance.sessions() as session:
            names = dict(
                session.execute(
                    text("SELECT id, holder_name FROM licences WHERE id = ANY(:ids)"),
                    {"ids": [f"LB{g:018d}" for g in orgs]},
                ).all()
            )
        cases = {
            "number": [register.RegisterQuery(number=f"140500-B{g:010d}") for g in orgs],
            "credit code": [register.RegisterQuery(credit_code=f"91{g:016d}") for g in orgs],
            "name prefix": [register.RegisterQuery(holder_name=names[f"LB{g:018d}"][:7]) for g in orgs],
            "one box (q=number)": [register.RegisterQuery(q=f"140500-B{g:010d}") for g in orgs],
            "first page": [register.RegisterQuery() for _ in orgs],
        }
        first = register.search(instance, register.RegisterQuery())
        assert first.next_cursor is not None
        cases["next page"] = [register.RegisterQuery(cursor=first.next_cursor) for _ in orgs]
        targets = {"number": 20, "credit code": 20, "name prefix": 20, "first page": 10}
        print(
            f"\n{'query':<20} {'p50 ms':>8} {'p99 ms':>8} {'target p99':>11} {'rows/page':>10}"
            f" {'CPU p50 ms':>11} {'CPU p99 ms':>11}  (wall clock; CPU = this process's CPU time per search)"
        )
        for label, queries in cases.items():
            for query in queries[:20]:
                register.search(instance, query)  # warm the connection pool and caches
            timings, cpu, found = [], [], []
            for query in queries:
                c0, t0 = time.process_time(), time.perf_counter()
                page = register.search(instance, query)
                timings.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                found.append(len(page.records))
            loads.append(_load())
            p50, p99 = _percentiles(timings)
            cpu50, cpu99 = _percentiles(cpu)
            target = f"< {targets[label]} ms" if label in targets else "-"
            verdict = "" if label not in targets else ("  ok" if p99 < targets[label] else "  MISSED")
            print(
                f"{label:<20} {p50:>8.2f} {p99:>8.2f} {target:>11} {statistics.mean(found):>10.1f}"
                f" {cpu50:>11.2f} {cpu99:>11.2f}{verdict}"
            )

        # The database's own share: PostgreSQL's execution time (EXPLAIN ANALYZE) of --explain-samples queries of
        # each kind, with random keys; with the CPU figures above, the part of the latency that is not waiting for a
        # CPU on a loaded machine.
        print(f"\n{'query':<20} {'server p50 ms':>13} {'server p99 ms':>13}  plan")
        with instance.engine.connect() as conn:
            for label, queries in cases.items():
                executions, plan_text = [], ""
                for query in queries[: args.explain_samples]:
                    compiled = register.statement(query, dialect="postgresql").limit(21).compile(dialect=conn.dialect)
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params)
                    top = plan.scalar()[0]
                    executions.append(top["Execution Time"])
                    node = top["Plan"]
                    while node.get("Plans") and node["Node Type"] in ("Limit", "Sort", "Nested Loop", "Hash Join"):
                        node = node["Plans"][0]
                    plan_text = f"{node['Node Type']} {node.get('Index Name', '')}"
                server50, server99 = _percentiles(executions)
                print(f"{label:<20} {server50:>13.3f} {server99:>13.3f}  {plan_text}")
            loads.append(_load())

        rows = 0
        size = 0
        rss_early = 0.0
        rss_start = _rss_mib()
        t0 = time.perf_counter()
        records = register.export_rows(instance, register.RegisterQuery(), max_rows=args.export_rows, timeout_ms=60_000)
        for chunk in register.csv_chunks(records, public_url="https://example.gov.cn"):
            size += len(chunk)
            rows = chunk.count(b"\r\n") + rows
            if not rss_early and rows >= args.export_rows // 10:
                rss_early = _rss_mib()
        elapsed = time.perf_counter() - t0
        rss_end = _rss_mib()
        print(
            f"\nCSV export: {rows - 1:,} rows, {size / 2**20:.1f} MiB in {elapsed:.2f} s ({(rows - 1) / elapsed:,.0f} "
            f"rows/s); resident memory {rss_start:.0f} MiB before, {rss_early:.0f} MiB after 10%, {rss_end:.0f} MiB "
            f"at the end ({'constant' if rss_end - rss_early < 16 else 'GROWING'})"
        )
        loads.append(_load())
        print(f"load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f} on {os.cpu_count()} cores")
        instance.engine.dispose()
    finally:
        if not args.keep and not args.reuse:
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
