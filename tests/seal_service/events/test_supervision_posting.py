"""The dispatcher's webhook poster against real local servers: keep-alive reuse, a connection the receiver closed while
idle is reopened (no failed delivery), redirects are not followed, a refused port and an untrusted TLS certificate
are failures (never a delivery to an impostor)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from seal_service.events.posting import PostError, WebhookPoster
from tests.support.server import free_port


class _Server:
    def __init__(self, status: int = 204, close_after_each: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.bodies: list[bytes] = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                outer.connections += 1

            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("location", "http://127.0.0.1:9/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()
                if close_after_each:
                    # Answered with keep-alive, then closed: what an idle timeout on the receiver's side does.
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def poster() -> Iterator[WebhookPoster]:
    p = WebhookPoster(timeout=2)
    yield p
    p.close()


def test_deliveries_reuse_one_keep_alive_connection(poster: WebhookPoster) -> None:
    server = _Server()
    try:
        for i in range(5):
            assert poster.post(server.url, f"event {i}".encode(), {"webhook-id": f"msg_{i}"}).status == 204
        assert server.bodies == [f"event {i}".encode() for i in range(5)]
        assert server.connections == 1
    finally:
        server.close()


def test_a_connection_closed_by_the_receiver_while_idle_is_reopened(poster: WebhookPoster) -> None:
    server = _Server(close_after_each=True)
    try:
        for i in range(3):
            assert poster.post(server.url, f"event {i}".encode(), {}).status == 204
        assert len(server.bodies) == 3 and server.connections == 3
    finally:
        server.close()


def test_redirects_are_answers_not_followed(poster: WebhookPoster) -> None:
    server = _Server(status=302)
    try:
        assert poster.post(server.url, b"x", {}).status == 302
        assert server.bodies == [b"x"]
    finally:
        server.close()


def test_a_refused_port_and_a_bad_url_are_failures(poster: WebhookPoster) -> None:
    with pytest.raises(PostError, match=r"Connect|refused"):
        poster.post(f"http://127.0.0.1:{free_port()}/hook", b"x", {})
    with pytest.raises(PostError, match="not an http"):
        poster.post("ftp://127.0.0.1/hook", b"x", {})


def test_an_untrusted_tls_certificate_is_refused(poster: WebhookPoster, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = _Server(tls=tls)
    try:
        with pytest.raises(PostError, match="CERTIFICATE_VERIFY_FAILED"):
            poster.post(server.url, b"secret event", {})
        assert server.bodies == []
    finally:
        server.close()
