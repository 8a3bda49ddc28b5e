"""A real HTTP webhook receiver for tests: verifies Standard Webhooks signatures with the ``standardwebhooks``
package (the reference implementation), records every attempt, and misbehaves on demand (down, slow, 5xx,
garbage, 410)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Attempt:
    """One request the receiver saw."""

    webhook_id: str
    timestamp: int
    event: dict  # type: ignore[type-arg]
    verified: bool
    answered: int | str


#: A behaviour gets the attempt number (1, 2, ...) and the event, and answers a status code, or
#: ("slow", seconds, status), or "garbage" (bytes that are not HTTP), or "drop" (close without answering).
Behaviour = Callable[[int, dict], object]  # type: ignore[type-arg]


class WebhookReceiver:
    """Listens on 127.0.0.1:``port``; ``accepted`` lists the deliveries it answered 2xx, in arrival order."""

    def __init__(self, secret: str, port: int, behaviour: Behaviour | None = None) -> None:
        self.secret = secret
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hook"
        self.behaviour: Behaviour = behaviour or (lambda _n, _e: 204)
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def accepted(self) -> list[Attempt]:
        """Deliveries answered with a 2xx, in arrival order."""
        with self._lock:
            return [a for a in self.attempts if isinstance(a.answered, int) and 200 <= a.answered < 300]

    def start(self) -> WebhookReceiver:
        """Start (or restart, after :meth:`stop`) listening."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                event = json.loads(body)
                with receiver._lock:
                    number = len(receiver.attempts) + 1
                answer = receiver.behaviour(number, event) if verified else 401
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                    answer = answer[2]
                with receiver._lock:
                    receiver.attempts.append(
                        Attempt(
                            headers.get("webhook-id", ""),
                            int(headers.get("webhook-timestamp", "0")),
                            event,
                            verified,
                            answer,  # type: ignore[arg-type]
                        )
                    )
                if answer == "garbage":
                    self.wfile.write(b"\x00\x01 this is not HTTP \r\n\r\n")
                    self.close_connection = True
                    return
                if answer == "drop":
                    self.close_connection = True
                    return
                self.send_response(int(answer))  # type: ignore[call-overload]
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (the receiver is down: connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        """Wait until ``predicate()`` holds (AssertionError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; {len(self.accepted)} accepted of {len(self.attempts)} attempts")


def check_delivery(accepted: list[Attempt], emitted_ids: list[str]) -> None:
    """Every emitted event accepted at least once; first deliveries in emission order per licence (subject);
    duplicates only as redeliveries of the same id with the same content."""
    first: dict[str, Attempt] = {}
    for a in accepted:
        if a.webhook_id in first:
            assert first[a.webhook_id].event == a.event, "a redelivery differs from the first delivery"
        else:
            first[a.webhook_id] = a
        assert a.event["id"] == a.webhook_id
    assert set(first) >= set(emitted_ids), f"{len(set(emitted_ids) - set(first))} events never delivered"
    order = {event_id: i for i, event_id in enumerate(emitted_ids)}
    by_subject: dict[str, list[int]] = {}
    for a in first.values():
        if a.webhook_id in order:
            by_subject.setdefault(a.event.get("subject", ""), []).append(order[a.webhook_id])
    for subject, positions in by_subject.items():
        assert positions == sorted(positions), f"events of {subject} arrived out of order"
