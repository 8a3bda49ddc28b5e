"""What ``seal-service serve`` sets up for operations before it starts its processes.

Example::

    >>> with metrics_directory():      # doctest: +SKIP
    ...     run_the_server()
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """The directory where every process of the server writes its metrics (prometheus-client multiprocess mode).

    Must be entered before anything imports :mod:`seal_service.ops.metrics`: prometheus-client picks its mode
    when a metric is created. API workers and sealing processes inherit it through the environment. An operator
    may name one (``PROMETHEUS_MULTIPROC_DIR``); its old files are removed at start, as prometheus-client asks.
    A directory made here is removed at exit.
    """
    named = os.environ.get(MULTIPROCESS_ENV)
    if named:
        directory = Path(named)
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.db"):
            old.unlink(missing_ok=True)
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="seal-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
