"""``seal-supervise``, the departments' reference consumer: pull into JSONL + CSV per day and resume after a crash;
receive webhooks from the real dispatcher, refusing forged, stale and replayed deliveries; never import the
service."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from seal_service.events.dispatcher import Dispatcher
from seal_service.events.receivers import create_subscription
from seal_service.events.signing import webhook_headers
from seal_service.services.apikeys import Role, create_api_key
from seal_supervise.cli import main
from seal_supervise.webhook import WebhookServer
from tests.conftest import make_instance, make_settings
from tests.seal_service.events.conftest import write_events
from tests.support.server import LiveServer, free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    port = free_port()
    settings = make_settings(
        tmp_path_factory.mktemp("supervise"),
        public_url=f"http://127.0.0.1:{port}",
        dispatcher=False,
        publication_interval_seconds=0,
    )
    instance = make_instance(settings)
    server = LiveServer(instance, port)
    server.start()
    yield instance, server
    server.stop()


def _key_file(instance, tmp_path: Path, department: str = "jc-market") -> Path:  # type: ignore[no-untyped-def]
    issued = create_api_key(
        instance, name="监管系统", role=Role.SUPERVISOR, authority_code=department, at=datetime.now(UTC)
    )
    path = tmp_path / "key"
    path.write_text(issued.secret + "\n")
    return path


def _jsonl(out: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for p in sorted(out.glob("*.jsonl")) for line in p.read_text().splitlines()]


def _csv(out: Path) -> list[list[str]]:
    return [row for p in sorted(out.glob("*.csv")) for row in csv.reader(p.open(encoding="utf-8"))][1:]


def test_pull_writes_each_event_once_and_resumes_after_a_crash(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    instance, server = served
    key, out = _key_file(instance, tmp_path), tmp_path / "out"
    ids = write_events(instance, ["A", "B", "C"])
    write_events(instance, ["H"], departments=("jc-housing",))
    args = ["pull", "--service", server.url, "--key-file", str(key), "--out", str(out), "--once", "--limit", "2"]
    assert main(args) == 0
    assert [e["id"] for e in _jsonl(out)] == ids
    rows = _csv(out)
    assert [r[1] for r in rows] == ids and rows[0][4] == "A"
    # A crash in the middle of writing: a torn JSONL line, and a CSV row whose JSONL line never got written.
    [jsonl] = list(out.glob("*.jsonl"))
    with jsonl.open("ab") as f:
        f.write(b'{"specversion":"1.0","id":"torn')
    with jsonl.with_suffix(".csv").open("a") as f:
        f.write("999999,ghost,,,,,,,,,\n")
    more = write_events(instance, ["A", "D"])
    assert main(args) == 0
    assert [e["id"] for e in _jsonl(out)] == ids + more
    assert [r[1] for r in _csv(out)] == ids + more
    assert main(args) == 0  # caught up: nothing new, nothing repeated
    assert len(_jsonl(out)) == 5


def test_pull_refuses_bad_keys_and_files(served, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    _instance, server = served
    bad = tmp_path / "bad"
    bad.write_text("sk_nope_nope")
    out = str(tmp_path / "o")
    assert main(["pull", "--service", server.url, "--key-file", str(bad), "--out", out, "--once"]) == 1
    assert "401" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        main(["pull", "--service", server.url, "--key-file", str(tmp_path / "none"), "--out", out, "--once"])
    assert missing.value.code == 2
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["pull", "--service", dead, "--key-file", str(bad), "--out", out, "--once"]) == 3


def test_serve_webhook_takes_real_deliveries_and_refuses_forged_stale_and_replayed(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    instance, _server = served
    issued = create_subscription(
        instance, department="jc-market", url="http://127.0.0.1:9/", at=datetime.now(UTC), actor="t"
    )
    receiver = WebhookServer(issued.secret, free_port(), tmp_path / "hooks")
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{receiver.port}/hook"
    try:
        from seal_service.storage.events_models import EventReceiver

        with instance.writer.begin() as session:
            session.get(EventReceiver, issued.id).url = url
        ids = write_events(instance, ["A", "B"])
        dispatcher = Dispatcher(instance)
        for _ in range(10):
            if not dispatcher.run_once().receivers:
                break
        dispatcher.close()
        # Two licences: delivered in parallel, so in either order.
        assert sorted(e["id"] for e in _jsonl(tmp_path / "hooks")) == sorted(ids)
        # A replay of a delivery, correctly signed and fresh: answered, never stored twice.
        event = _jsonl(tmp_path / "hooks")[0]
        body = json.dumps(event).encode()
        headers = webhook_headers(issued.secret, event["id"], timestamp=int(time.time()), body=body)
        replayed = httpx.post(url, content=body, headers=headers)
        assert replayed.status_code == 200 and "already" in replayed.text
        # Stale: a valid signature over a timestamp ten minutes old.
        stale = webhook_headers(issued.secret, event["id"], timestamp=int(time.time()) - 600, body=body)
        assert httpx.post(url, content=body, headers=stale).status_code == 400
        # Forged: another secret, or the body changed after signing.
        forged = webhook_headers(
            "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
            event["id"],
            timestamp=int(time.time()),
            body=body,
        )
        assert httpx.post(url, content=body, headers=forged).status_code == 401
        assert httpx.post(url, content=body + b" ", headers=headers).status_code == 401
        assert httpx.post(url, content=body).status_code == 400
        # Signed but not an event of the service.
        junk = b'{"hello":"world"}'
        assert (
            httpx.post(
                url, content=junk, headers=webhook_headers(issued.secret, "x1", timestamp=int(time.time()), body=junk)
            ).status_code
            == 400
        )
        assert len(_jsonl(tmp_path / "hooks")) == 2
    finally:
        receiver.shutdown()


def test_the_consumer_never_imports_the_service() -> None:
    code = (
        "import sys, seal_supervise.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('seal_service', 'fastapi', 'sqlalchemy', 'verifier')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    for path in Path("seal_supervise").glob("*.py"):
        assert "seal_service" not in path.read_text().replace("seal_service's", "")
