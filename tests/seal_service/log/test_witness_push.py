"""C2SP tlog-witness: the service pushes its checkpoint to a department's ``seal-witness serve`` endpoint, which
checks consistency with what it cosigned before and returns its cosignature (409 with its size, 422 on a fork)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from seal_service.errors import StateConflict
from seal_service.log import add_witness, sequence_all, signing_key
from seal_service.log.leaves import append_entry
from seal_service.log.proofs import latest_checkpoint
from seal_service.log.witnesses import push_to_witness
from verifier.log_entry import EntryKind, LogEntry, format_time
from verifier.tlog import SIG_COSIGNATURE_ED25519, open_checkpoint, verifier_for
from verifier.witness import WitnessState, add_checkpoint, serve_witness


def _grow(instance, n: int) -> None:  # type: ignore[no-untyped-def]
    with instance.writer.begin() as session:
        for i in range(n):
            entry = LogEntry(
                kind=EntryKind.REVOKED, licence=f"LPUSH{i}", authority="X", at=format_time(datetime.now(UTC))
            )
            append_entry(session, entry, licence_id=entry.licence)
    sequence_all(instance)


def test_push_to_a_tlog_witness(log_instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"push-{tmp_path.name}.example/witness"
    key = Ed25519PrivateKey.generate()
    witness = verifier_for(name, key, sig_type=SIG_COSIGNATURE_ED25519)
    add_witness(log_instance, department="140500-SCJ", public_key=witness.vkey, at=datetime.now(UTC))
    state = tmp_path / "state.json"
    server = serve_witness(
        host="127.0.0.1", port=0, log_key=signing_key(log_instance).verifier, name=name, key=key, state_path=state
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint"
    try:
        _grow(log_instance, 3)
        assert push_to_witness(log_instance, url, at=datetime.now(UTC)) == (name,)
        note = latest_checkpoint(log_instance)
        opened = open_checkpoint(note, log_key=signing_key(log_instance).verifier, witnesses=[witness], quorum=1)
        assert WitnessState.from_json(state.read_text()).size == opened.checkpoint.size
        # Growth: the witness answers 409 with its size to "old 0"; the service retries with the proof.
        _grow(log_instance, 5)
        assert push_to_witness(log_instance, url, at=datetime.now(UTC)) == (name,)
        # A witness state with another root at its size: the proof fails, 422, nothing stored.
        forked = WitnessState.from_json(state.read_text())
        state.write_text(WitnessState(forked.origin, forked.size, bytes(32)).to_json())
        _grow(log_instance, 2)
        with pytest.raises(StateConflict, match="HTTP 422"):
            push_to_witness(log_instance, url, at=datetime.now(UTC))
    finally:
        server.shutdown()
        server.server_close()


def test_add_checkpoint_answers_per_the_spec(log_instance) -> None:  # type: ignore[no-untyped-def]
    _grow(log_instance, 1)
    log_key = signing_key(log_instance).verifier
    note = latest_checkpoint(log_instance)
    key = Ed25519PrivateKey.generate()
    at = datetime.now(UTC)

    def ask(body: bytes, state: WitnessState | None = None, **changes: object) -> int:
        kwargs: dict[str, object] = {"log_key": log_key, "name": "w.example", "key": key, "state": state, "at": at}
        kwargs.update(changes)
        return add_checkpoint(body, **kwargs).status  # type: ignore[arg-type]

    assert ask(b"old 0\n\n" + note) == 200
    assert ask(b"old 999999999\n\n" + note) == 400
    assert ask(b"nonsense") == 400
    other = verifier_for(log_key.name, Ed25519PrivateKey.generate())
    assert ask(b"old 0\n\n" + note, log_key=other) == 403  # not signed by the log key it knows
    stranger = verifier_for("other.example/log", Ed25519PrivateKey.generate())
    assert ask(b"old 0\n\n" + note, log_key=stranger) == 404
    answer = add_checkpoint(
        b"old 0\n\n" + note,
        log_key=log_key,
        name="w.example",
        key=key,
        state=WitnessState(log_key.name, 1, b"x" * 32),
        at=at,
    )
    assert (answer.status, answer.body, answer.content_type) == (409, b"1\n", "text/x.tlog.size")
