"""The log over HTTP and in ``seal-verify``: endpoints, online and offline inclusion, "sealed outside the record",
and the attacks a verifier must catch (a forged checkpoint, a proof for another licence, a forked log).

A real server (uvicorn in a thread, its own SQLite instance) runs the sequencer as ``serve`` does.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from seal_service.instance import PkiRole
from seal_service.log import licence_receipt, signing_key
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.services.trust_bundle import current_trust_bundle
from tests.conftest import make_instance, make_settings
from tests.support.server import LiveServer, free_port
from verifier.cli import main as seal_verify
from verifier.tlog import (
    Checkpoint,
    Note,
    TlogProof,
    decode_entry_bundle,
    leaf_hash,
    parse_checkpoint,
    parse_note,
    parse_tlog_proof,
    parse_vkey,
    sign_note,
    verify_consistency,
    verify_inclusion,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, LiveServer]]:
    port = free_port()
    home = tmp_path_factory.mktemp("logserved")
    instance = make_instance(make_settings(home, public_url=f"http://127.0.0.1:{port}", log_sequence_delay_seconds=0.2))
    server = LiveServer(instance, port)
    server.start()
    try:
        yield instance, server
    finally:
        server.stop()


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _seal(instance, pdf: bytes, **settings_changes: object):  # type: ignore[no-untyped-def]
    request = LicenceRequest(item_code="JC-001", holder_name="晋城市示例餐饮有限公司", seal_id="jc-bureau-approval")
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC))


def _wait_in_log(server: LiveServer, licence_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body, _ = _get(f"{server.url}/v1/log/proof/inclusion?licence={licence_id}")
        if status == 200:
            return json.loads(body)  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"licence {licence_id} not sequenced within 10 s")


def _files(instance, tmp_path: Path) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path / "root.pem"
    root.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(current_trust_bundle(instance, at=datetime.now(UTC), fresh=True).document)
    return root, bundle


def _verify(capsys, *args: object) -> tuple[int, dict[str, object]]:  # type: ignore[no-untyped-def]
    code = seal_verify([str(a) for a in args] + ["--json"])
    [report] = json.loads(capsys.readouterr().out)
    return code, report


def test_endpoints_serve_checkpoint_key_tiles_and_proofs(served, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, server = served
    started = time.monotonic()
    sealed = _seal(instance, licence_pdf)
    body = _wait_in_log(server, sealed.licence_id)
    assert time.monotonic() - started < 10
    status, key_text, _ = _get(f"{server.url}/log/key")
    vkey = parse_vkey(key_text.decode().splitlines()[0])
    assert vkey == signing_key(instance).verifier and vkey.name == f"127.0.0.1:{server.port}/log"
    status, note, headers = _get(f"{server.url}/log/checkpoint")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    checkpoint = parse_checkpoint(parse_note(note).text)
    proof_checkpoint = parse_checkpoint(parse_note(str(body["checkpoint"]).encode()).text)
    verify_inclusion(
        index=int(body["index"]),  # type: ignore[call-overload]
        size=proof_checkpoint.size,
        leaf=leaf_hash(base64.b64decode(str(body["entry"]))),
        proof=[base64.b64decode(h) for h in body["proof"]],  # type: ignore[attr-defined]
        root=proof_checkpoint.root,
    )
    # Tiles: immutable, and the level-0 tile holds the leaf hashes.
    size = checkpoint.size
    status, tile, headers = _get(
        f"{server.url}/log/tile/0/000.p/{size}" if size < 256 else f"{server.url}/log/tile/0/000"
    )
    assert status == 200 and "immutable" in headers["cache-control"] and len(tile) == 32 * min(size, 256)
    status, bundle, _ = _get(f"{server.url}/log/tile/entries/000.p/{size}" if size < 256 else "")
    assert status == 200 and len(bundle) > 0
    # Consistency between two sizes the log has.
    status, consistency, _ = _get(f"{server.url}/v1/log/proof/consistency?from=1&to={size}")
    assert status == 200
    first_entry = decode_entry_bundle(bundle)[0]
    verify_consistency(
        old_size=1,
        new_size=size,
        old_root=leaf_hash(first_entry),
        new_root=checkpoint.root,
        proof=[base64.b64decode(h) for h in json.loads(consistency)["proof"]],
    )
    # Bad input: a problem naming the field; unknown licence or tile: 404.
    for url, field in (
        ("/v1/log/proof/consistency?from=x&to=1", "from"),
        ("/v1/log/proof/consistency?from=1", "to"),
        (f"/v1/log/proof/consistency?from={size + 1}&to={size}", "to"),
        ("/v1/log/proof/consistency?from=2&to=1", "from"),
    ):
        status, problem, headers = _get(server.url + url)
        assert 400 <= status < 500 and headers["content-type"] == "application/problem+json", url
        assert field in json.loads(problem)["detail"] or json.loads(problem).get("field") == field, (url, problem)
    assert _get(f"{server.url}/v1/log/proof/inclusion?licence=LNOSUCH")[0] == 404
    assert _get(f"{server.url}/log/tile/0/001")[0] == 404
    assert _get(f"{server.url}/log/tile/0/x000/001")[0] == 404


def test_seal_verify_online_and_offline(served, licence_pdf, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    instance, server = served
    sealed = _seal(instance, licence_pdf)
    _wait_in_log(server, sealed.licence_id)
    root, bundle = _files(instance, tmp_path)
    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(sealed.pdf)
    code, report = _verify(capsys, pdf, "--trust-root", root, "--trust-bundle", bundle, "--service", server.url)
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[union-attr]
    assert code == 0 and report["verdict"] == "valid", report
    assert checks["licence-log"]["outcome"] == "passed"
    assert report["licence"]["log"] == "included"  # type: ignore[index]
    # Offline: the receipt file.
    receipt = tmp_path / "licence.tlog-proof"
    assert _cli(["log", "proof", "--licence", sealed.licence_id, "-o", str(receipt)], instance) == 0
    assert _cli(["log", "proof", "--licence", "LNOSUCH", "-o", str(tmp_path / "x")], instance) == 2
    assert _cli(["log", "sequence", "--once"], instance) == 0
    capsys.readouterr()
    assert receipt.read_bytes().startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    code, report = _verify(capsys, pdf, "--trust-root", root, "--trust-bundle", bundle, "--log-proof", receipt)
    assert code == 0 and {c["name"]: c["outcome"] for c in report["checks"]}["licence-log"] == "passed"  # type: ignore[union-attr]

    # Attack: the receipt of another licence (its entry names another licence and document).
    other = _seal(instance, licence_pdf)
    _wait_in_log(server, other.licence_id)
    stolen = licence_receipt(instance, other.licence_id)
    forged = TlogProof(index=stolen.index, proof=stolen.proof, checkpoint=stolen.checkpoint, extra=stolen.extra)
    wrong = tmp_path / "wrong.tlog-proof"
    wrong.write_bytes(forged.encode())
    code, report = _verify(capsys, pdf, "--trust-root", root, "--trust-bundle", bundle, "--log-proof", wrong)
    assert code == 0 and {c["name"]: c["outcome"] for c in report["checks"]}["licence-log"] == "skipped"  # type: ignore[union-attr]
    # ... and relabelled as this licence's receipt, with this document's hash, it no longer proves inclusion.
    own = parse_tlog_proof(receipt.read_bytes())
    relabelled = TlogProof(index=stolen.index, proof=stolen.proof, checkpoint=stolen.checkpoint, extra=own.extra)
    wrong.write_bytes(relabelled.encode())
    code, report = _verify(capsys, pdf, "--trust-root", root, "--trust-bundle", bundle, "--log-proof", wrong)
    assert code == 1 and report["verdict"] == "invalid"
    assert "inclusion proof fails" in json.dumps(report), report

    # Attack: a checkpoint signed by another key under the log's name.
    text = parse_note(own.checkpoint).text
    impostor = Note(text, (sign_note(text, signing_key(instance).verifier.name, Ed25519PrivateKey.generate()),))
    wrong.write_bytes(TlogProof(own.index, own.proof, impostor.encode(), own.extra).encode())
    code, report = _verify(capsys, pdf, "--trust-root", root, "--trust-bundle", bundle, "--log-proof", wrong)
    assert code == 1 and "not signed by the log's key" in json.dumps(report, ensure_ascii=False)


def test_a_licence_sealed_outside_the_record_is_a_loud_failure(served, licence_pdf, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    instance, server = served
    # Someone with the seal key and database access seals and records a licence without the log (log off).
    from seal_service.instance import Instance

    secret = Instance(instance.settings.model_copy(update={"log_enabled": False}))
    sealed = _seal(secret, licence_pdf)
    root, bundle = _files(instance, tmp_path)
    pdf = tmp_path / "secret.pdf"
    pdf.write_bytes(sealed.pdf)
    time.sleep(0.5)  # more than the sequencing delay: nothing to wait for
    code, report = _verify(capsys, pdf, "--trust-root", root, "--trust-bundle", bundle, "--service", server.url)
    assert code == 1 and report["verdict"] == "invalid"
    assert "WARNING: sealed outside the record" in report["messages"][0]  # type: ignore[index]
    assert report["licence"]["log"] == "outside-record"  # type: ignore[index]
    # The QR page says it too, once the sequencing delay is long past.
    from datetime import timedelta

    from seal_service.api.licence_page import render_licence_page

    later = datetime.now(UTC) + timedelta(minutes=2)
    _, page = render_licence_page(instance, sealed.licence_id, lang="en", at=later)
    assert 'data-log="outside-record"' in page and "sealed outside the record" in page
    honest = _seal(instance, licence_pdf)
    _wait_in_log(server, honest.licence_id)
    _, page = render_licence_page(instance, honest.licence_id, lang="en", at=later)
    assert 'data-log="included"' in page and "In the issuance log (entry " in page


def test_a_forked_log_is_detected_against_the_pinned_checkpoint(served, licence_pdf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from verifier.tlog import ProofError
    from verifier.transparency import LogPolicy, OnlineLog, check_pin

    instance, server = served
    sealed = _seal(instance, licence_pdf)
    _wait_in_log(server, sealed.licence_id)
    key = signing_key(instance)
    honest = OnlineLog(server.url).checkpoint()
    policy = LogPolicy(log_keys=(key.verifier,), pinned=honest)
    current = parse_checkpoint(parse_note(honest).text)
    # The same size with another root, signed by the real key (a log that rewrote its history): a fork.
    fork = Checkpoint(current.origin, current.size, bytes(32))
    with pytest.raises(ProofError, match="forked"):
        check_pin(policy, fork, OnlineLog(server.url).consistency)
    # A smaller, truncated tree whose root is not a prefix of the pin.
    truncated = Checkpoint(current.origin, current.size - 1, bytes(32))
    with pytest.raises(ProofError, match="not a prefix"):
        check_pin(policy, truncated, OnlineLog(server.url).consistency)
    # The honest growth verifies.
    later = _seal(instance, licence_pdf)
    body = _wait_in_log(server, later.licence_id)
    grown = parse_checkpoint(parse_note(str(body["checkpoint"]).encode()).text)
    assert check_pin(policy, grown, OnlineLog(server.url).consistency) == "consistent"


def _cli(argv: list[str], instance) -> int:  # type: ignore[no-untyped-def]
    import os

    from seal_service.cli import main as seal_service_main

    saved = dict(os.environ)
    os.environ.update(
        SEAL_HOME=str(instance.settings.home),
        SEAL_DATABASE_URL=instance.settings.resolved_database_url,
        SEAL_PUBLIC_URL=instance.settings.public_url,
        SEAL_KEY_PASSPHRASE="test-passphrase-not-secret",
    )
    try:
        return seal_service_main(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_witness_cosigns_and_refuses_a_fork(served, licence_pdf, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from verifier.tlog import CosignatureError, open_checkpoint, sign_cosignature
    from verifier.witness import main as seal_witness

    instance, server = served
    key_file = tmp_path / "witness.pem"
    assert seal_witness(["keygen", "--name", "scj.example/witness", "--key", str(key_file)]) == 0
    vkey = capsys.readouterr().out.strip()
    assert _cli(["witnesses", "add", "--department", "140500-SCJ", "--public-key", vkey], instance) == 0
    assert _cli(["witnesses", "add", "--department", "140500-SCJ", "--public-key", "not-a-key"], instance) == 2
    sealed = _seal(instance, licence_pdf)
    _wait_in_log(server, sealed.licence_id)
    log_vkey = signing_key(instance).verifier.vkey
    state = tmp_path / "witness-state.json"
    args = ["cosign", "--service", server.url, "--key", str(key_file), "--name", "scj.example/witness"]
    args += ["--log-key", log_vkey, "--state", str(state)]
    assert seal_witness(args) == 0, capsys.readouterr().err
    # The service publishes the cosigned checkpoint; a k-of-n policy of 1 of 1 accepts it.
    _, note, _ = _get(f"{server.url}/log/checkpoint")
    witness = parse_vkey(vkey)
    opened = open_checkpoint(note, log_key=signing_key(instance).verifier, witnesses=[witness], quorum=1)
    assert [c.witness for c in opened.cosignatures] == ["scj.example/witness"]
    # seal-verify with a k-of-n policy: 1 of the bundle's 1 witness is met; 2 of 1 is a usage error.
    root, bundle = _files(instance, tmp_path)
    pdf = tmp_path / "cosigned.pdf"
    pdf.write_bytes(sealed.pdf)
    common = [pdf, "--trust-root", root, "--trust-bundle", bundle, "--service", server.url]
    capsys.readouterr()
    code, report = _verify(capsys, *common, "--log-quorum", "1")
    assert code == 0 and "cosigned by scj.example/witness" in json.dumps(report), report
    assert seal_verify([str(a) for a in common] + ["--log-quorum", "2"]) == 2
    capsys.readouterr()
    # A later, consistent checkpoint is cosigned again.
    later = _seal(instance, licence_pdf)
    _wait_in_log(server, later.licence_id)
    assert seal_witness(args) == 0
    # A state that says it cosigned another root at this size: the witness refuses (fork), exit 4, evidence kept.
    data = json.loads(state.read_text())
    data["root"] = base64.b64encode(bytes(32)).decode()
    state.write_text(json.dumps(data))
    _seal(instance, licence_pdf)
    time.sleep(0.6)
    assert seal_witness(args) == 4
    assert "REFUSED" in capsys.readouterr().err and list(tmp_path.glob("witness-state.json.refused-*"))
    # A cosignature by a witness the service does not know is refused, and a verifier requiring one ignores it.
    stranger = Ed25519PrivateKey.generate()
    text = parse_note(note).text
    line = sign_cosignature(text, "stranger.example/witness", stranger, timestamp=int(time.time()))
    request = urllib.request.Request(f"{server.url}/v1/log/cosignatures", data=note + line.line.encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422 or refused.value.code == 400
    stranger_only = Note(text, (parse_note(note).signatures[0], line))
    with pytest.raises(CosignatureError, match=r"requires 1; signatures by unknown keys ignored: stranger\.example"):
        open_checkpoint(stranger_only.encode(), log_key=signing_key(instance).verifier, witnesses=[witness], quorum=1)


def test_monitor_follows_the_log_and_keeps_evidence(served, licence_pdf, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select, update

    from seal_service.log.leaves import append_entry
    from seal_service.storage.log_models import LogEntryRecord
    from verifier.log_entry import EntryKind, LogEntry, format_time
    from verifier.monitor import main as seal_monitor

    instance, server = served
    sealed = _seal(instance, licence_pdf)
    _wait_in_log(server, sealed.licence_id)
    root, bundle = _files(instance, tmp_path)
    state = tmp_path / "monitor"
    args = ["--service", server.url, "--trust-bundle", str(bundle), "--trust-root", str(root), "--state", str(state)]
    assert seal_monitor([*args, "--once"]) == 0, capsys.readouterr()
    # An entry made with a certificate nobody knows: a JSONL alert, exit 1.
    with instance.writer.begin() as session:
        entry = LogEntry(
            kind=EntryKind.SEALED,
            licence="LSECRET",
            document_sha256="0" * 64,
            certificate_sha256="f" * 64,
            item="JC-001",
            authority="140500-SPJ",
            at=format_time(datetime.now(UTC)),
        )
        append_entry(session, entry, licence_id="LSECRET")
    time.sleep(0.6)
    capsys.readouterr()
    assert seal_monitor([*args, "--once"]) == 1
    [alert] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alert["alert"] == "unknown-seal-certificate" and "LSECRET" in alert["message"]
    # Watching one department only: the bureau's entry is not its business.
    _seal(instance, licence_pdf)
    time.sleep(0.6)
    assert seal_monitor([*args, "--once", "--department", "140500-SCJ"]) == 0
    # A forked log: the state holds a checkpoint of the current size with another root, signed by the log key.
    accepted = (state / "checkpoint").read_bytes()
    current = parse_checkpoint(parse_note(accepted).text)
    fork = Checkpoint(current.origin, current.size, bytes(32))
    key = signing_key(instance)
    (state / "checkpoint").write_bytes(Note(fork.text, (sign_note(fork.text, fork.origin, key.private_key),)).encode())
    capsys.readouterr()
    assert seal_monitor([*args, "--once"]) == 4
    [alert] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alert["alert"] == "log-forked" and Path(alert["evidence"], "served").exists()
    (state / "checkpoint").write_bytes(accepted)
    # A leaf altered in the database: the entry no longer matches the tree the tiles and checkpoint commit to.
    (state / "checkpoint").unlink()
    with instance.writer.begin() as session:
        idx = session.scalar(select(LogEntryRecord.idx).where(LogEntryRecord.licence_id == sealed.licence_id))
        original = session.scalar(select(LogEntryRecord.entry).where(LogEntryRecord.idx == idx))
        session.execute(
            update(LogEntryRecord).where(LogEntryRecord.idx == idx).values(entry=original.replace(b"JC-001", b"JC-002"))
        )
    try:
        capsys.readouterr()
        assert seal_monitor([*args, "--once"]) == 4
        [alert] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert alert["alert"] == "bad-tiles" and f"entry {idx} does not hash" in alert["message"]
    finally:
        with instance.writer.begin() as session:
            session.execute(update(LogEntryRecord).where(LogEntryRecord.idx == idx).values(entry=original))
