"""The cyclic garbage collector tuned for the service's own worker processes (sealing, renewal).

Sealing a licence allocates tens of thousands of short-lived objects (PDF objects, ASN.1 values), almost none in
reference cycles. With Python's default thresholds (700, 10, 10) a sealing process ran about two young
collections per licence and, every couple of hundred licences, a full collection over everything it had imported
and cached (about 220,000 objects): 115-146 ms in one go, felt by the request it fell in, and about 4 % of the
process's CPU in all (docs/performance.md, "Garbage collection in the sealing processes"). A worker process is
ours alone, so once it is warm it leaves what it holds out of every later collection (``gc.freeze``) and collects
the young generation less often. Memory: a few more young objects at a time; what is frozen was going to live as
long as the process anyway.
"""

from __future__ import annotations

import gc

WORKER_GC_THRESHOLD = (10_000, 10, 10)
"""Collection thresholds of a warm worker process (generation 0, 1, 2)."""


def settle_worker_heap() -> None:
    """Call once in a worker process after its warm-up: collect, freeze what survived, raise the thresholds.

    Never in a process we do not own (a library's caller, a test runner): it changes process-wide settings.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLD)
