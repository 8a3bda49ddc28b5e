"""Helpers for benchmarks of the served app: the server's CPU time, and waiting until it has finished starting."""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants (Linux /proc; 0 elsewhere)."""
    total = 0.0
    pending = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return total


def wait_until_idle(pid: int, *, timeout: float = 120.0) -> float:
    """Wait until the server's processes stop starting up: ``serve`` answers /healthz before each worker's sealing
    processes have imported and warmed up, seconds of CPU that would otherwise land in the first measurement.
    Returns the seconds waited."""
    started = time.monotonic()
    quiet = 0
    last = process_tree_cpu(pid)
    while quiet < 3 and time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = process_tree_cpu(pid)
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return time.monotonic() - started
