"""Go's golang.org/x/mod/sumdb/{note,tlog} (Debian golang-golang-x-mod-dev, built offline in GOPATH mode) check
our checkpoint signature, read our exported tiles (authenticated against the signed root), prove every entry, and
verify the inclusion and consistency proofs the service computes, which must equal Go's own byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from seal_service.cli import main as seal_service_main
from seal_service.log import consistency_between, sequence_once, signing_key
from seal_service.log.leaves import append_entry
from seal_service.log.tiles import hash_reader
from seal_service.storage.log_models import LogCheckpoint, LogEntryRecord
from verifier.log_entry import EntryKind, LogEntry, format_time
from verifier.tlog import Note, inclusion_proof, parse_checkpoint, parse_note, sign_note

CHECKER = Path(__file__).parents[2] / "support" / "go" / "tlogcheck" / "main.go"
GOPATH = "/usr/share/gocode"


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built from tests/support/go/tlogcheck without network access."""
    if shutil.which("go") is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/tlog").is_dir():
        pytest.fail("Go and golang.org/x/mod are needed: apt-get install golang-go golang-golang-x-mod-dev")
    out = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    subprocess.run(["go", "build", "-o", str(out / "tlogcheck"), str(CHECKER)], check=True, env=env, timeout=300)
    return out / "tlogcheck"


def _grow(instance, count: int, batch: int) -> None:  # type: ignore[no-untyped-def]
    for start in range(0, count, batch):
        with instance.writer.begin() as session:
            for i in range(start, min(count, start + batch)):
                entry = LogEntry(
                    kind=EntryKind.SEALED,
                    licence=f"LGO{i:06d}",
                    document_sha256=f"{i:064x}",
                    certificate_sha256="ab" * 32,
                    item="JC-001",
                    authority="140500-SPJ",
                    at=format_time(datetime.now(UTC)),
                )
                append_entry(session, entry, licence_id=entry.licence)
        sequence_once(instance, at=datetime.now(UTC))


def _export(instance, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    settings = instance.settings
    monkeypatch.setenv("SEAL_HOME", str(settings.home))
    monkeypatch.setenv("SEAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("SEAL_PUBLIC_URL", settings.public_url)
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    assert seal_service_main(["log", "export", str(directory)]) == 0


def _run(checker: Path, directory: Path, vkey: str, proofs: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker), str(directory), vkey], input=json.dumps(proofs), capture_output=True, text=True, timeout=120
    )


def test_go_sumdb_verifies_our_log(log_instance, tlogcheck: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _grow(log_instance, 700, 233)  # several checkpoints; full level-0 tiles and partial tiles on two levels
    directory = tmp_path / "export"
    _export(log_instance, directory, monkeypatch)
    size = parse_checkpoint(parse_note((directory / "checkpoint").read_bytes()).text).size
    with log_instance.sessions() as session:
        leaves = {r.idx: r.leaf_hash for r in session.execute(select(LogEntryRecord.idx, LogEntryRecord.leaf_hash))}
        checkpoints = session.scalars(select(LogCheckpoint).where(LogCheckpoint.size > 0)).all()
        reader = hash_reader(session, size)
        indexes = sorted({0, 1, 255, 256, 257, size // 2, size - 2, size - 1})
        inclusion = [
            {
                "index": i,
                "leaf_hash": base64.b64encode(leaves[i]).decode(),
                "proof": [base64.b64encode(h).decode() for h in inclusion_proof(i, size, reader.subtree)],
            }
            for i in indexes
        ]
    consistency = []
    for row in checkpoints:
        old = parse_checkpoint(parse_note(row.note).text)
        if old.size < size:
            proof = consistency_between(log_instance, old.size, size)
            consistency.append(
                {
                    "old": old.size,
                    "old_root": base64.b64encode(old.root).decode(),
                    "proof": [base64.b64encode(h).decode() for h in proof],
                }
            )
    assert len(consistency) >= 3
    vkey = signing_key(log_instance).verifier.vkey
    result = _run(tlogcheck, directory, vkey, {"inclusion": inclusion, "consistency": consistency})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["size"] == size == report["entries"]
    assert report["inclusion"] == len(indexes) and report["consistency"] == len(consistency)

    # Go refuses a tile changed after export (the tile no longer hashes to the signed root) ...
    tile = next(directory.glob("tile/0/000"))
    data = bytearray(tile.read_bytes())
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    broken = _run(tlogcheck, directory, vkey, {"inclusion": [], "consistency": []})
    assert broken.returncode == 1 and "error" in json.loads(broken.stdout)
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    # ... and a checkpoint signed by another key under the log's name.
    text = parse_note((directory / "checkpoint").read_bytes()).text
    forged = Note(text, (sign_note(text, signing_key(log_instance).verifier.name, Ed25519PrivateKey.generate()),))
    (directory / "checkpoint").write_bytes(forged.encode())
    refused = _run(tlogcheck, directory, vkey, {"inclusion": [], "consistency": []})
    assert refused.returncode == 1 and "note.Open" in json.loads(refused.stdout)["error"]
