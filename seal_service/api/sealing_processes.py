"""The sealing processes ``seal-service serve`` runs beside its API workers, shared by all of them.

Sealing is CPU-bound Python (asn1crypto, pyHanko). Sealed in threads of an API worker it shares one GIL with the
worker's event loop, and under concurrent requests a licence cost about 40 % more CPU over HTTP than in-process
(docs/performance.md, "Sign API"). So ``serve`` starts ``signing_processes`` sealing processes (default: one per
core) before its API workers, all listening on one Unix socket. A process calls ``accept`` only when it is idle,
so the kernel hands each sealing request to an idle process and requests queue in the socket's backlog otherwise:
one queue for the whole server, however the HTTP connections happen to be spread over the API workers (an API
worker may hold all of them), and no more sealing processes than cores.

Each process builds its own :class:`~seal_service.instance.Instance` from the server's settings (same database,
same keys, its own PKCS#11 session) and runs :func:`~seal_service.services.sealing.seal_licence` whole: policy,
serial, signature, record and audit in one transaction, exactly as in-process. A supervisor thread replaces a
process that dies; the request it was sealing gets a 503 (``SealingUnavailable``), and since a licence is recorded
in one transaction, its last step, it was recorded whole or not at all.

Wire format, one request per connection: a 4-byte big-endian length and a pickle, each way. Pickle is used only
between processes of the same server and user: the socket lives in a fresh directory of mode 0700 and is itself
0600, so no other local user can connect.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from datetime import datetime
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from seal_service.errors import SealServiceError
from seal_service.ops import metrics
from seal_service.outages import as_outage
from seal_service.settings import Settings

log = logging.getLogger(__name__)
_LENGTH = struct.Struct(">I")


def frame(payload: object) -> bytes:
    """One message: its pickle, prefixed with the length."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class Probe(ConnectionError):
    """A connection closed before sending anything: a readiness probe (``GET /readyz``), answered by closing."""


def _receive(connection: socket.socket) -> Any:
    if not connection.recv(1, socket.MSG_PEEK):
        raise Probe
    header = _read_exactly(connection, _LENGTH.size)
    return pickle.loads(_read_exactly(connection, _LENGTH.unpack(header)[0]))  # noqa: S301  # own server only


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = connection.recv(min(missing, 1 << 20))
        if not chunk:
            raise ConnectionError("the peer closed the connection mid-message")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _watch_parent(parent: int) -> None:
    """Exit when the server that started this process is gone (killed without a chance to stop it)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def seal_and_read_back(
    instance: Any,
    pdf: bytes,
    request: Any,
    actor: str,
    at: datetime,
    for_authority_id: int | None,
    claim: Any = None,
) -> Any:
    """Seal and record (:func:`~seal_service.services.sealing.seal_licence`); the licence record as stored, a
    detached row: what the API answers with, and small to send between processes, unlike the sealed PDF."""
    from seal_service.services.sealing import get_licence, seal_licence

    sealed = seal_licence(instance, pdf, request, actor=actor, at=at, for_authority_id=for_authority_id, claim=claim)
    return get_licence(instance, sealed.licence_id)


def _seal(instance: Any, message: tuple[Any, ...]) -> tuple[str, object]:
    try:
        return "ok", seal_and_read_back(instance, *message)
    except SealServiceError as exc:  # a refusal: the API answers it as a problem, as in-process
        return "error", exc
    except Exception as exc:  # an outage (a 503 there), or a bug: logged here with its traceback, a 500 there
        outage = as_outage(exc)
        if outage is not None:
            log.warning("sealing refused: %s", outage.detail)
            return "error", outage
        log.exception("sealing failed")
        return "error", RuntimeError(f"sealing failed: {exc!r}")


def _sealing_process(listener: socket.socket, settings: Settings, parent: int) -> None:
    """A sealing process: accept a request when idle, seal it, answer, repeat."""
    import logging.config

    from seal_service.instance import Instance
    from seal_service.ops.heap import settle_worker_heap
    from seal_service.ops.logs import LOG_LEVEL_ENV, logging_config

    # Spawned, so nothing of the server's logging is inherited: the same format (JSON in production) and level.
    logging.config.dictConfig(logging_config(settings.env.value, os.environ.get(LOG_LEVEL_ENV, "warning")))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops its sealing processes
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    instance = Instance(settings)
    with instance.sessions() as session:  # warm: database, policy, catalogue
        instance.lifecycle.state(session)
    settle_worker_heap()
    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                answer = _seal(instance, _receive(connection))
                connection.sendall(frame(answer))
            except Probe:
                continue
            except (ConnectionError, OSError, pickle.UnpicklingError, EOFError) as exc:
                log.warning("sealing request dropped: %r", exc)


class SealingProcesses:
    """``count`` sealing processes on one Unix socket, kept at that number until :meth:`stop`."""

    def __init__(self, settings: Settings, count: int) -> None:
        if count < 1:
            raise ValueError("at least one sealing process is needed")
        self.settings = settings
        self.count = count
        self._directory = Path(tempfile.mkdtemp(prefix="seal-sealing-"))  # mode 0700
        self.socket_path = self._directory / "sealing.sock"
        self._context = multiprocessing.get_context("spawn")  # no fork: PKCS#11 and threads do not survive it
        self._listener: socket.socket | None = None
        self._processes: list[BaseProcess] = []
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        """Process ids of the sealing processes now running."""
        return [process.pid for process in self._processes if process.pid is not None and process.is_alive()]

    def start(self) -> SealingProcesses:
        """Bind the socket, start the processes and the supervisor that replaces any that die."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        listener.listen(1024)
        self._listener = listener
        self._processes = [self._spawn() for _ in range(self.count)]
        metrics.SEALING_PROCESSES.set(self.count)
        self._supervisor = threading.Thread(target=self._supervise, daemon=True, name="sealing-supervisor")
        self._supervisor.start()
        return self

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(
            target=_sealing_process, args=(self._listener, self.settings, os.getpid()), daemon=True, name="sealing"
        )
        process.start()
        return process

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            wait([process.sentinel for process in self._processes], timeout=0.5)
            if self._stopping.is_set():
                return
            for index, process in enumerate(self._processes):
                if not process.is_alive():
                    log.warning("sealing process %s exited (code %s); starting another", process.pid, process.exitcode)
                    process.join()
                    metrics.sealing_restarted(process.pid)
                    self._processes[index] = self._spawn()
                    time.sleep(0.5)  # a process that dies at start (bad settings) is not respawned in a tight loop

    def stop(self) -> None:
        """Stop the processes and remove the socket."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.join(timeout=10)
        if self._listener is not None:
            self._listener.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> SealingProcesses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def read_answer(reader: asyncio.StreamReader) -> tuple[str, Any]:
    """A sealing process's answer: ``("ok", licence)`` or ``("error", exception)``. Raises
    :class:`asyncio.IncompleteReadError` if the process went away before answering."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    status, value = pickle.loads(await reader.readexactly(length))  # noqa: S301  # own sealing process only
    return status, value


def sealing_request(
    pdf: bytes, request: object, actor: str, at: datetime, for_authority_id: int | None, claim: object = None
) -> bytes:
    """The framed request a client sends (see :func:`frame`); ``claim``: its Idempotency-Key claim token."""
    return frame((pdf, request, actor, at, for_authority_id, claim))
