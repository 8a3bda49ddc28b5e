"""Posting webhook deliveries: keep-alive HTTP/1.1 connections of the standard library, one per thread and origin.

Example::

    >>> poster = WebhookPoster(timeout=10)
    >>> poster.post("https://dept.example/hook", body, headers).status      # doctest: +SKIP
    204
    >>> poster.close()

Why not httpx: a delivery is one small POST on a kept-alive connection, and httpx spends about 0.5 ms of CPU on it
where ``http.client`` spends about 0.1 ms (bench/supervision.py); at thousands of events per second that is the
dispatcher's main cost. No redirects are followed (a 3xx is a failure, as before), the timeout applies to the
connect and to every read and write, TLS uses the system's trust store with hostname checks, and a connection the
receiver closed while idle is reopened once (the delivery may then arrive twice, with the same ``webhook-id``:
receivers dedupe, as for any retry).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

#: At most this much of an answer's body is read (a receiver's body is ignored); more closes the connection.
MAX_ANSWER = 64 * 1024

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class PostError(Exception):
    """The request could not be made or no answer was read (refused, timed out, garbage, closed)."""


@dataclass(frozen=True)
class Answer:
    """The receiver's status code."""

    status: int


class WebhookPoster:
    """Thread-safe poster: each thread keeps its own connection per origin (scheme, host, port)."""

    def __init__(self, *, timeout: float, user_agent: str = "one-seal-dispatcher") -> None:
        self._timeout = timeout
        self._user_agent = user_agent
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def _connections(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        found: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(self._local, "conns", None)
        if found is None:
            found = self._local.conns = {}
        return found

    def _open(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            conn = http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._timeout)
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self, key: tuple[str, str, int]) -> None:
        conn = self._connections().pop(key, None)
        if conn is not None:
            conn.close()
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body``; the answer's status, or :class:`PostError`."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:  # a malformed host or a port out of range
            raise PostError(f"not a usable URL: {url!r}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise PostError(f"not an http(s) URL: {url!r}")
        key = (scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {"user-agent": self._user_agent, "content-length": str(len(body)), **headers}
        for attempt in (1, 2):
            conns = self._connections()
            reused = key in conns
            conn = conns.get(key) or conns.setdefault(key, self._open(*key))
            try:
                conn.request("POST", target, body=body, headers=sent)
                response = conn.getresponse()
                rest = response.read(MAX_ANSWER + 1)
                if len(rest) > MAX_ANSWER or response.will_close:
                    self._drop(key)
                return Answer(response.status)
            except _STALE as exc:
                self._drop(key)
                if reused and attempt == 1:
                    continue  # the receiver closed the idle connection: once more on a new one
                raise PostError(f"{type(exc).__name__}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key)
                raise PostError(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every connection of every thread."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
