"""The worker processes' collector settings (seal_service/ops/heap.py), checked in a process of their own: the
settings are process-wide and must never touch the test runner's."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import gc, weakref
from seal_service.ops.heap import WORKER_GC_THRESHOLD, settle_worker_heap

warm = [[i] for i in range(50_000)]            # what a warm worker holds (imports, caches)
settle_worker_heap()
assert gc.get_threshold() == WORKER_GC_THRESHOLD, gc.get_threshold()
assert gc.get_freeze_count() >= 50_000, gc.get_freeze_count()

class Node:
    pass

# Garbage in reference cycles made after the freeze is still collected.
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None
print("ok")
"""


def test_a_settled_worker_freezes_its_warm_heap_and_still_collects_new_cycles() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
