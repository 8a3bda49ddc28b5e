"""A private RabbitMQ node for tests that must stop and restart the broker without touching the shared one.

Example::

    >>> with PrivateRabbitMQ(tmp_path) as node:                 # doctest: +SKIP
    ...     url = node.url                                      # amqp://guest:guest@127.0.0.1:<random port>/%2F
    ...     node.stop(); node.start()                           # same mnesia dir: durable state survives

The node has its own name (``sealtest-<random>@localhost``), random AMQP and distribution ports, its own mnesia and
log directories, no plugins, and its own config and env files (the system ones name the shared node and port 5672),
and its own ``HOME`` (so its own Erlang cookie). ``rabbitmqctl`` is run with the same environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.support.server import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def available() -> str | None:
    """None when a private node can be started here, else why not."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        return f"{RABBITMQ_BIN}/rabbitmq-server is missing (Debian package rabbitmq-server)"
    return None


class PrivateRabbitMQ:
    """A RabbitMQ node of this test alone; :meth:`close` always stops it and removes its files."""

    def __init__(self, base: Path) -> None:
        self.base = base / f"rabbitmq-{secrets.token_hex(3)}"
        self.node = f"sealtest-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self._process: subprocess.Popen[bytes] | None = None
        for sub in ("home", "mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("")
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def __enter__(self) -> PrivateRabbitMQ:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``rabbitmqctl -n <node> ...`` (or another CLI tool) against this node."""
        return subprocess.run(
            [str(RABBITMQ_BIN / tool), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, timeout: float = 90) -> None:
        """Start the node (same mnesia dir as before) and wait until it accepts AMQP connections."""
        log = (self.base / "log" / "server.out").open("ab")
        self._process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self._process.returncode}: {self._tail()}")
            if self.ctl("ping", tool="rabbitmq-diagnostics", timeout=30).returncode == 0 and self._accepts():
                return
            time.sleep(0.5)
        raise RuntimeError(f"the private RabbitMQ node did not start within {timeout} s: {self._tail()}")

    def _accepts(self) -> bool:
        """The AMQP listener answers (the node pings before its listener is up)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"AMQP\x00\x00\x09\x01")
                return bool(conn.recv(8))
        except OSError:
            return False

    @property
    def running(self) -> bool:
        """The node's OS process is alive (it may still be starting)."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 60) -> None:
        """``rabbitmqctl -n <node> stop``; then wait for the OS process (killed if it does not end)."""
        if self._process is None:
            return
        self.ctl("stop", timeout=timeout)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None

    def close(self) -> None:
        """Stop the node if it runs (always kills its process group in the end) and remove its files."""
        process = self._process
        try:
            if process is not None and process.poll() is None:
                self.stop(timeout=30)
        finally:
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            self._process = None
            shutil.rmtree(self.base, ignore_errors=True)

    def _tail(self) -> str:
        path = self.base / "log" / "server.out"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
