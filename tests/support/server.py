"""A real uvicorn server in a background thread, for tests that need the service's URLs to answer."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn


def free_port() -> int:
    """A TCP port free on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """Runs the app of ``instance`` on 127.0.0.1:``port``."""

    def __init__(self, instance: object, port: int) -> None:
        from seal_service.api.app import create_app

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(instance=instance), host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        """Start and wait until /healthz answers."""
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("test server did not start")

    def stop(self) -> None:
        """Stop the server."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
