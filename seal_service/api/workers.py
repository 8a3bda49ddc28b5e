"""A small, dedicated pool for CPU-bound sealing, so the event loop and light routes stay responsive.

Sealing is mostly Python under the GIL: more threads than cores add no throughput, they only starve the event
loop and the shared thread pool that FastAPI uses for plain ``def`` routes such as ``/healthz``. Scale-out is
by uvicorn workers (processes), each with this pool.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None


def signing_pool() -> ThreadPoolExecutor:
    """The process-wide sealing pool (``SEAL_SIGNING_THREADS``, default the number of cores)."""
    global _pool
    if _pool is None:
        threads = int(os.environ.get("SEAL_SIGNING_THREADS", "0")) or (os.cpu_count() or 2)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sealing")
    return _pool


async def run_sealing(func: Callable[[], T]) -> T:
    """Run ``func`` in the sealing pool and await its result."""
    return await asyncio.get_running_loop().run_in_executor(signing_pool(), func)
