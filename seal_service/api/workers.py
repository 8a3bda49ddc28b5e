"""Where the API seals: in sealing processes beside each API worker, or in a small thread pool inside it.

Sealing is CPU-bound Python (asn1crypto, pyHanko). In threads of the API worker it shares one GIL with the event
loop: under concurrent requests the two take turns, and a licence costs about 40 % more CPU over HTTP than the
same call made in-process (docs/performance.md, "Sign API"). So ``seal-service serve`` gives each API worker
``signing_processes`` processes of its own (``SEAL_SIGNING_PROCESSES``; serve's default is cores / workers):
each builds its own :class:`~seal_service.instance.Instance` from the same settings (same database, same keys,
its own PKCS#11 session) and runs :func:`~seal_service.services.sealing.seal_licence` whole — policy, serial,
signature, record and audit in one place, exactly as in-process. The API worker keeps HTTP, authentication,
idempotency and the read-back. With ``signing_processes = 0`` (the library default, used by in-process test
clients) sealing runs in ``signing_threads`` threads of the worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from seal_service.errors import SealingUnavailable
from seal_service.instance import Instance
from seal_service.services.sealing import LicenceRequest, get_licence, seal_licence
from seal_service.settings import Settings
from seal_service.storage.models import Licence

_pools: weakref.WeakKeyDictionary[Instance, Executor] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()

# In a sealing process: the instance it seals with.
_process_instance: Instance | None = None


def _watch_parent(parent: int) -> None:
    """Exit when the API worker that owns this process is gone (killed without a chance to stop its pool)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _start_sealing_process(settings: Settings, parent: int) -> None:
    """Initializer of a sealing process: the instance, and a watch on the parent."""
    global _process_instance
    _process_instance = Instance(settings)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _warm_process() -> None:
    """Open the database and load the policy once, so that the first licence does not pay for it."""
    assert _process_instance is not None, "sealing process not initialised"
    with _process_instance.sessions() as session:
        _process_instance.lifecycle.state(session)


def _seal_and_read_back(
    instance: Instance, pdf: bytes, request: LicenceRequest, actor: str, at: datetime, for_authority_id: int | None
) -> Licence:
    """Seal and record; the licence record as stored (a detached row: small to send back, unlike the PDF)."""
    sealed = seal_licence(instance, pdf, request, actor=actor, at=at, for_authority_id=for_authority_id)
    return get_licence(instance, sealed.licence_id)


def _seal_in_process(
    pdf: bytes, request: LicenceRequest, actor: str, at: datetime, for_authority_id: int | None
) -> Licence:
    assert _process_instance is not None, "sealing process not initialised"
    return _seal_and_read_back(_process_instance, pdf, request, actor, at, for_authority_id)


def sealing_pool(instance: Instance) -> Executor:
    """The executor that seals for ``instance`` in this API worker (created on first use)."""
    with _pools_lock:
        pool = _pools.get(instance)
        if pool is None:
            settings = instance.settings
            if settings.signing_processes > 0:
                pool = ProcessPoolExecutor(
                    max_workers=settings.signing_processes,
                    mp_context=multiprocessing.get_context("spawn"),  # no fork: PKCS#11 and threads do not survive it
                    initializer=_start_sealing_process,
                    initargs=(settings, os.getpid()),
                )
            else:
                threads = settings.signing_threads or (os.cpu_count() or 2)
                pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sealing")
            _pools[instance] = pool
        return pool


def _forget(instance: Instance, pool: Executor) -> None:
    with _pools_lock:
        if _pools.get(instance) is pool:
            del _pools[instance]
    pool.shutdown(wait=False, cancel_futures=True)


async def seal_in_pool(
    instance: Instance,
    pdf: bytes,
    request: LicenceRequest,
    *,
    actor: str,
    at: datetime,
    for_authority_id: int | None = None,
) -> Licence:
    """Seal and record a licence off the event loop and return its record; errors are the service's own, as from
    ``seal_licence`` (which see for ``for_authority_id``)."""
    loop = asyncio.get_running_loop()
    pool = sealing_pool(instance)
    if isinstance(pool, ProcessPoolExecutor):
        try:
            return await loop.run_in_executor(pool, _seal_in_process, pdf, request, actor, at, for_authority_id)
        except BrokenProcessPool:
            # A sealing process died (killed, out of memory). seal_licence records a licence in one transaction,
            # its last step, so the licence was recorded whole or not at all; the next request gets a fresh pool.
            _forget(instance, pool)
            raise SealingUnavailable("the sealing process stopped unexpectedly; retry the request") from None
    return await loop.run_in_executor(pool, _seal_and_read_back, instance, pdf, request, actor, at, for_authority_id)


@asynccontextmanager
async def sealing_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start this worker's sealing processes with the app (warmed, so the first licences do not wait for a
    process to start) and stop them with it."""
    instance: Instance = app.state.instance
    pool = sealing_pool(instance)
    if isinstance(pool, ProcessPoolExecutor):
        for _ in range(instance.settings.signing_processes):
            pool.submit(_warm_process)
    try:
        yield
    finally:
        with _pools_lock:
            if _pools.get(instance) is pool:
                del _pools[instance]
        await run_in_threadpool(pool.shutdown, wait=True, cancel_futures=True)
