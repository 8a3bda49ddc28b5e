"""Speed of the issuance log (a benchmark, not a test): sequencing, proofs from tiles, sealing with the log on/off.

Run from the repository root::

    .venv/bin/python bench/log.py                         # PostgreSQL at SEAL_TEST_POSTGRES_URL, else SQLite
    .venv/bin/python bench/log.py --leaves 100000 --big 1000000 --proofs 2000 --seal-rounds 6 --seal-docs 10
    .venv/bin/python bench/log.py --big 10000000          # the issue's 10 M-leaf log (slow to generate here)

What it measures, each on a throwaway instance:

1. **Sequencing**: ``--leaves`` pending entries (real canonical entries, written in transactions of 1,000 like
   a busy service would) are sequenced by ``sequence_all`` (batches of 20,000: entries, tiles, root, signed
   checkpoint per batch). Prints leaves/s against the target of 5,000/s.
2. **Proofs from tiles**: a synthetic log of ``--big`` leaves is written straight into the tile table (leaf
   hashes = SHA-256 of the index; every tile level computed), then ``--proofs`` random inclusion proofs and
   consistency proofs are computed the way the service computes them (``TileHashReader`` over the database
   tiles, one short read transaction per proof), each checked. Prints p50/p99 of wall time and of **CPU time per
   proof** (the proving thread's ``time.thread_time``; on PostgreSQL plus the CPU of this database's backends,
   per proof on average), and proof sizes. On a shared machine the wall tail is time spent waiting for a core.
3. **Sealing with the log on and off, same run**: interleaved rounds (on/off, then off/on, ...) on the same
   database. One background sequencer runs through all rounds (as ``serve`` runs it); an "on" round seals, then
   sequences what is still pending, so each round pays for all the log work its licences cause. Measured per round:
   documents/s (wall) and **CPU time per sealed licence**: ``time.process_time`` of this process (all threads:
   sealing, sequencer, and SQLite's work when the database is SQLite) plus, on PostgreSQL, the CPU of the server
   backends connected to this bench's own database (``/proc/<pid>/stat`` of the ``pg_stat_activity`` rows of
   that database; other databases on the server are not counted). CPU time is what the log costs; wall time on a
   loaded machine mostly measures the neighbours. Prints the median and spread of each, the median of the
   per-pair differences, then over all rounds (the totals) the CPU difference and the throughput difference,
   each with a 95 % bootstrap interval over the paired rounds, and the verdict against the target (within 5 %:
   the whole interval below 5 %). Then the same cost decomposed: sealing
   only on vs off, the entry's own cost measured alone (transactions with vs without it), and timed
   sequencing steps of 1 and of
   ``--seal-docs`` leaves, giving the overhead at 1, 2, 5, ... licences per step.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert

from seal_service.instance import Instance
from seal_service.log import BackgroundSequencer, sequence_all
from seal_service.log.tiles import hash_reader
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.storage.log_models import LogCheckpoint, LogPending, LogState, LogTile
from tests.conftest import POSTGRES_URL, make_instance, make_settings
from tests.support.pdfs import sample_licence_pdf
from verifier.log_entry import EntryKind, LogEntry, format_time
from verifier.tlog import (
    HASH_SIZE,
    TILE_WIDTH,
    consistency_proof,
    inclusion_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def _database(kind: str, home: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{home / 'seal.db'}", None
    import psycopg

    name = f"seal_bench_log_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}", name


def _drop(name: str | None) -> None:
    if name is None:
        return
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _instance(kind: str, **settings: object) -> tuple[Instance, str | None]:
    home = Path(tempfile.mkdtemp(prefix="bench-log-"))
    url, name = _database(kind, home)
    return make_instance(make_settings(home, database_url=url, publication_interval_seconds=0, **settings)), name


_TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu(instance: Instance) -> tuple[float, int]:
    """(CPU seconds, count) of the PostgreSQL backends connected to this instance's database; (0, 0) on SQLite or
    when /proc cannot be read (another host)."""
    if instance.engine.dialect.name != "postgresql":
        return 0.0, 0
    with instance.engine.connect() as conn:
        pids = [
            row[0]
            for row in conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ]
    total, counted = 0.0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15 of stat)
        counted += 1
    return total, counted


def _cpu(instance: Instance) -> float:
    """This process's CPU seconds plus those of its database backends (see :func:`_backend_cpu`)."""
    return time.process_time() + _backend_cpu(instance)[0]


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f}, range {min(values):.1f}-{max(values):.1f}"


def _interval(on: list[float], off: list[float], *, draws: int = 4000) -> tuple[float, float, float]:
    """How much larger ``on`` is than ``off``, in %, over paired rounds: sum(on) / sum(off) - 1, and its 95 %
    bootstrap interval (pairs drawn with replacement; fixed seed, so the same rounds give the same interval)."""
    pick = random.Random(0)
    n = len(on)
    point = 100 * (sum(on) / sum(off) - 1)
    draws_pct = []
    for _ in range(draws):
        idx = [pick.randrange(n) for _ in range(n)]
        draws_pct.append(100 * (sum(on[i] for i in idx) / sum(off[i] for i in idx) - 1))
    draws_pct.sort()
    return point, draws_pct[int(0.025 * draws)], draws_pct[int(0.975 * draws) - 1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_sequencing(instance: Instance, leaves: int) -> float:
    """Write ``leaves`` pending entries, then time sequencing them all; returns leaves/s."""
    at = format_time(datetime.now(UTC))
    rows = [
        {
            "entry": LogEntry(
                kind=EntryKind.SEALED,
                licence=f"LB{i:018X}",
                document_sha256=hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
                certificate_sha256="ab" * 32,
                item="JC-001",
                authority="140500-SPJ",
                at=at,
            ).encode(),
            "kind": "sealed",
            "licence_id": f"LB{i:018X}",
            "created_at": datetime.now(UTC),
        }
        for i in range(leaves)
    ]
    started = time.perf_counter()
    for i in range(0, leaves, 1000):
        with instance.writer.begin() as session:
            session.execute(insert(LogPending), rows[i : i + 1000])
    written = time.perf_counter() - started
    started = time.perf_counter()
    result = sequence_all(instance)
    elapsed = time.perf_counter() - started
    assert result.appended == leaves, result
    rate = leaves / elapsed
    print(f"  pending rows written: {leaves:,} in {written:.1f} s (the sealing transactions' share, for scale)")
    print(f"  sequenced: {leaves:,} leaves in {elapsed:.2f} s = {rate:,.0f} leaves/s (target >= 5,000/s)")
    print(f"  log size {result.size:,}; checkpoints signed: {-(-leaves // 20_000)}")
    return rate


def build_synthetic(instance: Instance, size: int) -> bytes:
    """Tiles of a ``size``-leaf log written straight into the database; returns its root."""
    started = time.perf_counter()
    level, hashes_in_level, root = 0, size, b""
    previous: list[bytes] = []
    with instance.writer.begin() as session:
        while hashes_in_level > 0:
            rows, parents = [], []
            for n in range(-(-hashes_in_level // TILE_WIDTH)):
                first = n * TILE_WIDTH
                width = min(TILE_WIDTH, hashes_in_level - first)
                if level == 0:
                    tile = [hashlib.sha256(b"\x00" + (first + i).to_bytes(8, "big")).digest() for i in range(width)]
                else:
                    tile = previous[first : first + width]
                rows.append({"level": level, "n": n, "hashes": b"".join(tile)})
                if width == TILE_WIDTH:
                    parents.append(root_of(tile))
                if len(rows) >= 2000:
                    session.execute(insert(LogTile), rows)
                    rows = []
            if rows:
                session.execute(insert(LogTile), rows)
            previous = parents
            level += 1
            hashes_in_level = len(parents)
        root = hash_reader(session, size).root()
        state = session.get(LogState, 1)
        assert state is not None
        state.size, state.root = size, root
        session.add(LogCheckpoint(size=size, note=b"synthetic", created_at=datetime.now(UTC)))
    print(f"  synthetic log of {size:,} leaves built in {time.perf_counter() - started:.1f} s ({level} tile levels)")
    return root


def bench_proofs(instance: Instance, size: int, root: bytes, count: int) -> None:
    """Random inclusion and consistency proofs from the database tiles, each in its own read transaction."""
    rng = random.Random(7)
    inclusion_ms: list[float] = []
    consistency_ms: list[float] = []
    inclusion_cpu: list[float] = []
    consistency_cpu: list[float] = []
    server_before = _backend_cpu(instance)[0]
    inclusion_sizes: list[int] = []
    consistency_sizes: list[int] = []
    for _ in range(count):
        index = rng.randrange(size)
        started, cpu = time.perf_counter(), time.thread_time()
        with instance.sessions() as session:
            proof = inclusion_proof(index, size, hash_reader(session, size, prefetch=(index,)).subtree)
        inclusion_ms.append((time.perf_counter() - started) * 1000)
        inclusion_cpu.append((time.thread_time() - cpu) * 1000)
        inclusion_sizes.append(len(proof) * HASH_SIZE)
        leaf = hashlib.sha256(b"\x00" + index.to_bytes(8, "big")).digest()
        verify_inclusion(index=index, size=size, leaf=leaf, proof=proof, root=root)
    server_inclusion = _backend_cpu(instance)[0] - server_before
    old_roots: dict[int, bytes] = {}
    server_before = _backend_cpu(instance)[0]
    server_checks = 0.0
    for _ in range(count):
        old = rng.randrange(1, size)
        started, cpu = time.perf_counter(), time.thread_time()
        with instance.sessions() as session:
            proof = consistency_proof(old, size, hash_reader(session, size, prefetch=(old - 1,)).subtree)
        consistency_ms.append((time.perf_counter() - started) * 1000)
        consistency_cpu.append((time.thread_time() - cpu) * 1000)
        consistency_sizes.append(len(proof) * HASH_SIZE)
        if len(old_roots) < 50:
            checked = _backend_cpu(instance)[0]
            with instance.sessions() as session:
                old_roots[old] = hash_reader(session, old).root()
            server_checks += _backend_cpu(instance)[0] - checked
            verify_consistency(old_size=old, new_size=size, old_root=old_roots[old], new_root=root, proof=proof)
    print(
        f"  inclusion proofs ({count}): p50 {statistics.median(inclusion_ms):.2f} ms, "
        f"p99 {_pct(inclusion_ms, 0.99):.2f} ms (target < 5 ms); "
        f"size {min(inclusion_sizes)}-{max(inclusion_sizes)} bytes"
    )
    print(
        f"  consistency proofs ({count}): p50 {statistics.median(consistency_ms):.2f} ms, "
        f"p99 {_pct(consistency_ms, 0.99):.2f} ms (target < 10 ms); "
        f"size {min(consistency_sizes)}-{max(consistency_sizes)} bytes"
    )
    server_consistency = _backend_cpu(instance)[0] - server_before - server_checks
    for label, cpu_ms, server in (
        ("inclusion", inclusion_cpu, server_inclusion),
        ("consistency", consistency_cpu, server_consistency),
    ):
        print(
            f"  {label} proofs, CPU time per proof: p50 {statistics.median(cpu_ms):.2f} ms, "
            f"p99 {_pct(cpu_ms, 0.99):.2f} ms, max {max(cpu_ms):.2f} ms (proving thread); "
            f"database backends {1000 * server / count:.2f} ms per proof on average"
        )


def bench_sealing(kind: str, rounds: int, docs: int) -> None:
    """Sealing with the log on and off in interleaved rounds on one database: wall rate and CPU per licence."""
    on, name = _instance(kind)
    off = Instance(on.settings.model_copy(update={"log_enabled": False}))
    pdf = sample_licence_pdf()
    request = LicenceRequest(item_code="JC-001", holder_name="晋城市示例餐饮有限公司", seal_id="jc-bureau-approval")
    rates: dict[str, list[float]] = {"on": [], "off": []}
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    cpu_ms: dict[str, list[float]] = {"on": [], "off": []}
    pairs: list[float] = []
    for instance in (on, off):  # warm-up: material, caches, pooled connections
        for _ in range(2):
            seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
    sequence_all(on)
    # One background sequencer for the whole run, as `serve` runs one per process (it idles, polling, through the
    # off rounds; a sequencer started and stopped per round would also count a thread and a poll connection per
    # round). An on round ends by sequencing what is still pending: all its log work is counted in it.
    sequencer = BackgroundSequencer(on).start()
    for r in range(rounds):
        this_pair: dict[str, float] = {}
        for label, instance in (("on", on), ("off", off)) if r % 2 == 0 else (("off", off), ("on", on)):
            cpu, started = _cpu(on), time.perf_counter()
            for _ in range(docs):
                seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
            if label == "on":
                sequence_all(on)  # what the sequencer had not done yet: this round's log work, all of it
            seconds[label].append(time.perf_counter() - started)
            rates[label].append(docs / seconds[label][-1])
            this_pair[label] = 1000 * (_cpu(on) - cpu) / docs
            cpu_ms[label].append(this_pair[label])
        pairs.append(100 * (this_pair["on"] - this_pair["off"]) / this_pair["off"])
    sequencer.stop()
    with on.sessions() as session:
        state = session.get(LogState, 1)
        assert state is not None
    backends = _backend_cpu(on)[1]
    on_cpu, off_cpu = statistics.median(cpu_ms["on"]), statistics.median(cpu_ms["off"])
    cpu_diff = 100 * (on_cpu - off_cpu) / off_cpu
    on_rate, off_rate = statistics.median(rates["on"]), statistics.median(rates["off"])
    counted = "this process" + (f" + {backends} PostgreSQL backends of its database" if backends else " (SQLite)")
    print(f"  {rounds} interleaved rounds of {docs} B-LTA licences each way; CPU counted: {counted}")
    print(f"  CPU ms per licence, log on:  {_spread(cpu_ms['on'])}")
    print(f"  CPU ms per licence, log off: {_spread(cpu_ms['off'])}")
    print(
        f"  CPU per licence, on vs off: {cpu_diff:+.1f} % (medians); per-pair differences "
        f"median {statistics.median(pairs):+.1f} %, range {min(pairs):+.1f} to {max(pairs):+.1f} % "
        f"-> {'within' if abs(cpu_diff) <= 5 else 'NOT within'} the 5 % target"
    )
    print(
        f"  wall docs/s (for reference, machine load included): on {_spread(rates['on'])}, "
        f"off {_spread(rates['off'])}; difference of medians {100 * (off_rate - on_rate) / off_rate:+.1f} %"
    )
    # The verdict over all rounds, with its uncertainty: the rounds' totals (every licence counted once), and the
    # 95 % interval of that figure over the paired rounds. Shown within 5 % only when the whole interval is.
    cpu_point, cpu_low, cpu_high = _interval(cpu_ms["on"], cpu_ms["off"])
    # Throughput: documents per second over all rounds of each kind; "lower by" = 1 - (on rate / off rate).
    slow_point, slow_low, slow_high = _interval(seconds["on"], seconds["off"])
    lower = [100 * (1 - 1 / (1 + v / 100)) for v in (slow_point, slow_low, slow_high)]
    for what, (point, low, high) in (
        ("CPU per licence, log on vs off (all rounds)", (cpu_point, cpu_low, cpu_high)),
        ("throughput (docs/s, wall, all rounds), lower with the log on by", tuple(lower)),
    ):
        verdict = "within the 5 % target" if high <= 5 else "NOT shown within 5 %"
        print(f"  {what}: {point:+.1f} %, 95 % interval {low:+.1f} to {high:+.1f} % -> {verdict}")
    print(f"  log size after: {state.size} (every log-on licence sequenced)")
    _sealing_decomposed(on, off, rounds, docs)
    on.engine.dispose()
    off.engine.dispose()
    _drop(name)


def _sealing_decomposed(on: Instance, off: Instance, rounds: int, docs: int) -> None:
    """The log's CPU cost in its two parts, interleaved like the rounds above: the entry written in each sealing
    transaction (per licence), and a sequencing step (per step, whatever the batch). The overhead at a given
    batch size follows from the two; the background sequencer batches what arrives within half its delay bound."""
    pdf = sample_licence_pdf()
    request = LicenceRequest(item_code="JC-001", holder_name="晋城市示例餐饮有限公司", seal_id="jc-bureau-approval")
    per_licence: dict[str, list[float]] = {"on": [], "off": []}
    step_batch: list[float] = []
    step_one: list[float] = []
    for r in range(rounds):
        for label, instance in (("on", on), ("off", off)) if r % 2 == 0 else (("off", off), ("on", on)):
            cpu = _cpu(on)
            for _ in range(docs):
                seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
            per_licence[label].append(1000 * (_cpu(on) - cpu) / docs)
        cpu = _cpu(on)
        sequence_all(on)  # this round's log-on licences in one step
        step_batch.append(1000 * (_cpu(on) - cpu))
        seal_licence(on, pdf, request, actor="bench", at=datetime.now(UTC))
        cpu = _cpu(on)
        sequence_all(on)  # a step of one licence
        step_one.append(1000 * (_cpu(on) - cpu))
    on_ms, off_ms = statistics.median(per_licence["on"]), statistics.median(per_licence["off"])
    sealing_diff_ms = on_ms - off_ms
    entry_ms = _entry_cost(on)
    one_ms, batch_ms = statistics.median(step_one), statistics.median(step_batch)
    print("  decomposed (sealing without the sequencer, then timed sequencing steps, interleaved):")
    print(
        f"    CPU ms per licence, sealing only: log on {_spread(per_licence['on'])}, "
        f"off {_spread(per_licence['off'])}; difference {sealing_diff_ms:+.1f} ms "
        f"({100 * sealing_diff_ms / off_ms:+.1f} %: the spread of whole sealings, not the entry's cost)"
    )
    print(
        f"    the entry in the transaction, measured alone (transactions with vs without it, interleaved): "
        f"{entry_ms:+.2f} ms ({100 * entry_ms / off_ms:+.2f} % of a licence)"
    )
    print(f"    CPU ms per sequencing step: 1 leaf {_spread(step_one)}; {docs} leaves {_spread(step_batch)}")
    for batch in sorted({1, 2, 5, docs, 50}):
        step = (
            one_ms
            if batch == 1
            else batch_ms
            if batch == docs
            else one_ms + (batch_ms - one_ms) * (batch - 1) / (docs - 1)
        )
        overhead = 100 * (entry_ms + step / batch) / off_ms
        print(
            f"    overhead with {batch:>2} licences per step: {overhead:+.1f} % "
            f"({'within' if overhead <= 5 else 'NOT within'} 5 %)"
        )


def _entry_cost(instance: Instance, count: int = 300, blocks: int = 4) -> float:
    """CPU ms that one pending entry adds to a write transaction: ``count`` transactions with a small write and
    the entry against as many with the small write alone, in interleaved blocks (median of the per-block
    differences). A whole sealing varies by +-10 ms between rounds on a shared machine; this does not."""
    from sqlalchemy import text

    from seal_service.log.leaves import append_entry

    entry = LogEntry(
        kind=EntryKind.SEALED,
        licence="LBENCHENTRY0000000000",
        document_sha256="cd" * 32,
        certificate_sha256="ab" * 32,
        item="JC-001",
        authority="140500-SPJ",
        at=format_time(datetime.now(UTC)),
    )
    diffs = []
    for b in range(blocks):
        cost = {}
        for with_entry in (True, False) if b % 2 == 0 else (False, True):
            cpu = _cpu(instance)
            for _ in range(count):
                with instance.writer.begin() as session:
                    session.execute(text("UPDATE log_state SET updated_at = updated_at WHERE id = 1"))
                    if with_entry:
                        append_entry(session, entry, licence_id=entry.licence)
            cost[with_entry] = 1000 * (_cpu(instance) - cpu) / count
        diffs.append(cost[True] - cost[False])
    with instance.writer.begin() as session:
        session.execute(text("DELETE FROM log_pending WHERE licence_id = 'LBENCHENTRY0000000000'"))
    return statistics.median(diffs)


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="leaves of the synthetic log (issue: 10 M)")
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--seal-rounds", type=int, default=6)
    parser.add_argument("--seal-docs", type=int, default=10)
    parser.add_argument("--only", default="sequencing,proofs,sealing", help="comma-separated parts to run")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    print(f"bench/log.py on {os.cpu_count()} CPUs, database {args.database}, {datetime.now(UTC).isoformat()}")
    if "sequencing" in parts:
        print("1. sequencing")
        instance, name = _instance(args.database)
        try:
            bench_sequencing(instance, args.leaves)
        finally:
            instance.engine.dispose()
            _drop(name)
    if "proofs" in parts:
        bench_big(args)
    if "sealing" in parts:
        print("3. sealing with the log on and off")
        bench_sealing(args.database, args.seal_rounds, args.seal_docs)
    return 0


def bench_big(args: argparse.Namespace) -> None:
    """Part 2 on a synthetic log of ``args.big`` leaves."""
    print("2. proofs from tiles")
    instance, name = _instance(args.database)
    try:
        root = build_synthetic(instance, args.big)
        print("  first pass (tiles read from the database: cold process cache):")
        bench_proofs(instance, args.big, root, args.proofs)
        print("  second pass (tiles this process has read stay cached; a tile prefix never changes):")
        bench_proofs(instance, args.big, root, args.proofs)
    finally:
        instance.engine.dispose()
        _drop(name)


if __name__ == "__main__":
    raise SystemExit(main())
