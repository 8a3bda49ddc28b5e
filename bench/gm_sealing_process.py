"""CPU per licence of the sealing processes' code path, with the national seal (国密) and without it (a benchmark).

Run from the repository root::

    .venv/bin/python bench/gm_sealing_process.py                  # 100 licences of each kind, interleaved
    .venv/bin/python bench/gm_sealing_process.py --count 200 --profile /tmp/gm   # + cProfile dumps per kind

What ``serve``'s sealing processes run per request (``seal_service/api/sealing_processes.py``): ``seal_and_read_back``
(``seal_licence`` whole: checks, serial, national seal, PAdES B-LTA seal, record, audit, log) and the framed answer.
Here in one process on a throwaway instance (file keys, SQLite), dual and PAdES-only licences alternate (ABBA), and
the CPU time of each (``time.process_time``) is reported with the load average before and after: other jobs share
the cores, and CPU time is the steadier figure. With ``--profile``, a second pass profiles the two kinds with two
cProfile profilers enabled alternately (``PREFIX.gm`` and ``PREFIX.pades``; compare with ``pstats``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seal_service.api.sealing_processes import frame, seal_and_read_back
from seal_service.services.sealing import LicenceRequest
from seal_service.signing.sealer import PadesLevel
from tests.conftest import make_instance, make_settings
from tests.support.pdfs import sample_licence_pdf


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="licences of each kind (default 100)")
    parser.add_argument("--profile", metavar="PREFIX", help="also write cProfile dumps PREFIX.gm and PREFIX.pades")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        instance = make_instance(make_settings(Path(home), key_backend="file"))
        pdf = sample_licence_pdf()

        def one(gm: bool) -> None:
            request = LicenceRequest(
                item_code="JC-001",
                holder_name="晋城市示例餐饮有限公司",
                seal_id="jc-bureau-approval",
                holder_code="11430000006122244L",
                holder_code_type="001",
                level=PadesLevel.B_LTA,
                gm=gm,
            )
            frame(("ok", seal_and_read_back(instance, pdf, request, "bench", datetime.now(UTC), None)))

        for gm in (True, False, True, False):  # warm: caches, appearance, keys
            one(gm)
        print(f"load before: {os.getloadavg()[0]:.2f}")
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for index in range(args.count):
            for gm in (True, False) if index % 2 == 0 else (False, True):
                start = time.process_time()
                one(gm)
                cpu[gm].append((time.process_time() - start) * 1000)
        print(f"load after: {os.getloadavg()[0]:.2f}")
        for gm in (True, False):
            print(
                f"{'dual' if gm else 'PAdES only':>10}: median {statistics.median(cpu[gm]):6.2f} ms CPU, "
                f"mean {statistics.mean(cpu[gm]):6.2f} ms ({args.count} licences)"
            )
        print(
            f"national seal: +{statistics.median(cpu[True]) - statistics.median(cpu[False]):.2f} ms (medians), "
            f"+{statistics.mean(cpu[True]) - statistics.mean(cpu[False]):.2f} ms (means)"
        )
        if args.profile:
            profilers = {True: cProfile.Profile(), False: cProfile.Profile()}
            for index in range(args.count):
                for gm in (True, False) if index % 2 == 0 else (False, True):
                    profilers[gm].enable()
                    one(gm)
                    profilers[gm].disable()
            for gm, profiler in profilers.items():
                profiler.dump_stats(f"{args.profile}.{'gm' if gm else 'pades'}")
        instance.engine.dispose()


if __name__ == "__main__":
    main()
