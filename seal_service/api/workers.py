"""Where the API seals a licence: in the server's sealing processes, or in a thread pool of the API worker.

Under ``seal-service serve`` the settings name the Unix socket of the server's sealing processes
(``sealing_socket``, set by serve; :mod:`seal_service.api.sealing_processes`): each request is sent there, so that
sealing never shares a GIL with an event loop. Without it (an app built in-process, e.g. by tests) sealing runs
in ``signing_threads`` threads of the worker, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from seal_service.api.sealing_processes import read_answer, seal_and_read_back, sealing_request
from seal_service.errors import SealingUnavailable
from seal_service.instance import Instance
from seal_service.ops import metrics
from seal_service.services.idempotency import ClaimToken
from seal_service.services.sealing import LicenceRequest
from seal_service.storage.models import Licence

_threads: weakref.WeakKeyDictionary[Instance, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
_threads_lock = threading.Lock()


def _thread_pool(instance: Instance) -> ThreadPoolExecutor:
    with _threads_lock:
        pool = _threads.get(instance)
        if pool is None:
            threads = instance.settings.signing_threads or (os.cpu_count() or 2)
            pool = _threads[instance] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sealing")
        return pool


async def _seal_over_socket(path: Path, message: bytes) -> Licence:
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError as exc:
        raise SealingUnavailable(f"the sealing processes cannot be reached ({exc.strerror}); retry") from None
    try:
        writer.write(message)
        await writer.drain()
        status, value = await read_answer(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        # The sealing process died (killed, out of memory) while sealing. A licence is recorded in one
        # transaction, its last step, so it was recorded whole or not at all.
        raise SealingUnavailable("the sealing process stopped unexpectedly; retry the request") from None
    finally:
        writer.close()
    if status == "ok":
        licence: Licence = value
        return licence
    raise value


async def seal_in_pool(
    instance: Instance,
    pdf: bytes,
    request: LicenceRequest,
    *,
    actor: str,
    at: datetime,
    for_authority_id: int | None = None,
    claim: ClaimToken | None = None,
) -> Licence:
    """Seal and record a licence off the event loop and return its record; errors are the service's own, as from
    ``seal_licence`` (which see for ``for_authority_id``)."""
    with metrics.SEALING_IN_FLIGHT.track_inprogress():
        socket_path = instance.settings.sealing_socket
        if socket_path is not None:
            licence = await _seal_over_socket(
                socket_path, sealing_request(pdf, request, actor, at, for_authority_id, claim)
            )
        else:
            loop = asyncio.get_running_loop()
            pool = _thread_pool(instance)
            licence = await loop.run_in_executor(
                pool, seal_and_read_back, instance, pdf, request, actor, at, for_authority_id, claim
            )
    metrics.count_sealed(licence.seal_id, licence.level)
    return licence


@asynccontextmanager
async def sealing_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stop this app's sealing threads (if it made any) with the app."""
    try:
        yield
    finally:
        instance: Instance = app.state.instance
        with _threads_lock:
            pool = _threads.pop(instance, None)
        if pool is not None:
            await run_in_threadpool(pool.shutdown, wait=True)
