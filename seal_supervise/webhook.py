"""Receiving webhooks: Standard Webhooks verification (v1, HMAC-SHA256) and a small HTTP server.

A delivery is taken only with a valid signature over ``{webhook-id}.{webhook-timestamp}.{body}`` and a timestamp
within the tolerance (default 5 minutes, as the reference libraries). An id already stored is never stored again:
an attacker replaying a captured delivery inside the window, and the service redelivering one whose answer was
lost, are both answered ``200`` without effect (a refusal would make the service retry a legitimate redelivery
until it gave up). Stale timestamps get ``400``, bad signatures ``401``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from seal_supervise.store import EventStore, InvalidEvent, check_event

DEFAULT_TOLERANCE = 300


class SignatureError(Exception):
    """Missing headers, a stale timestamp or no valid signature."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def _key(secret: str) -> bytes:
    raw = secret.strip().removeprefix("whsec_")
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def verify_signature(
    secret: str, headers: dict[str, str], body: bytes, *, now: float, tolerance: int = DEFAULT_TOLERANCE
) -> str:
    """The delivery's ``webhook-id`` if it is authentic and fresh; :class:`SignatureError` otherwise."""
    msg_id, stamp, signatures = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not stamp or not signatures:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required", status=400)
    try:
        sent = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer", status=400) from None
    if abs(now - sent) > tolerance:
        raise SignatureError(f"stale timestamp ({int(now - sent)} s off; tolerance {tolerance} s)", status=400)
    expected = hmac.new(_key(secret), f"{msg_id}.{sent}.".encode() + body, hashlib.sha256).digest()
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            presented = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(presented, expected):
            return msg_id
    raise SignatureError("no valid v1 signature")


class WebhookServer:
    """Receives deliveries on 127.0.0.1 (or ``host``) and stores them in ``out``."""

    def __init__(
        self, secret: str, port: int, out: Path, *, host: str = "127.0.0.1", tolerance: int = DEFAULT_TOLERANCE
    ) -> None:
        self.secret = secret
        self.store = EventStore(out)
        self.tolerance = tolerance
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, status: int, text: str) -> None:
                body = (text + "\n").encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("content-length", "0"))
                except ValueError:
                    self._answer(400, "bad content-length")
                    return
                if length > 1024 * 1024:
                    self._answer(413, "too large")
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, text = server.receive(headers, body, now=time.time())
                self._answer(status, text)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]

    def receive(self, headers: dict[str, str], body: bytes, *, now: float) -> tuple[int, str]:
        """Handle one delivery; the HTTP status and a short answer."""
        try:
            verify_signature(self.secret, headers, body, now=now, tolerance=self.tolerance)
            event = check_event(json.loads(body))
        except SignatureError as exc:
            return exc.status, str(exc)
        except (InvalidEvent, ValueError) as exc:
            return 400, f"not a valid event: {exc}"
        if event.id != headers.get("webhook-id"):
            return 400, "webhook-id differs from the event id"
        with self._lock:
            stored = self.store.add(event)
        return (200, "stored") if stored else (200, "already received; not stored again")

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown`."""
        self._httpd.serve_forever()

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
