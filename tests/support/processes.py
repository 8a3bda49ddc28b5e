"""The real service as a separate process (``seal-service serve --workers N``), for multi-worker tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


class ServedInstance:
    """``seal-service serve`` running in a subprocess with the settings of a test instance."""

    def __init__(  # type: ignore[no-untyped-def]
        self,
        settings,
        port: int,
        *,
        workers: int = 2,
        extra_env: dict[str, str] | None = None,
        log_level: str = "warning",
    ) -> None:
        """Start the server and wait for /healthz; ``extra_env`` adds environment settings (``SEAL_*``); the
        server's output (stdout and stderr) goes to :attr:`log_path`."""
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")}
        env.update(
            {
                "SEAL_HOME": str(settings.resolved_home),
                "SEAL_DATABASE_URL": settings.resolved_database_url,
                "SEAL_PUBLIC_URL": settings.public_url,
                "SEAL_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
            }
        )
        env.update(extra_env or {})
        self._log = Path(settings.resolved_home) / f"serve-{port}.log"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "seal_service.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                log_level,
            ],
            env=env,
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches workers and sealing processes at once
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited: {self._log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start")

    @property
    def log_path(self) -> Path:
        """The file holding everything the server wrote (stdout and stderr)."""
        return self._log

    @property
    def pid(self) -> int:
        """The process id of ``seal-service serve`` (its workers and sealing processes are its descendants)."""
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL the whole server at once (``serve``, its API workers and its sealing processes), as a crash."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=20)

    def stop(self) -> None:
        """Stop the server and its workers."""
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
