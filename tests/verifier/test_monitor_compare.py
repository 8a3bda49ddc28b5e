"""seal-monitor's comparison of the accepted checkpoint with the one served: rewritten, truncated, forked, grown."""

from __future__ import annotations

from verifier.monitor import _compare
from verifier.tlog import Checkpoint, consistency_proof, leaf_hash, root_of


def _tree(entries: list[bytes]) -> list[bytes]:
    return [leaf_hash(e) for e in entries]


HONEST = _tree([f"entry {i}".encode() for i in range(12)])
REWRITTEN = list(HONEST)
REWRITTEN[3] = leaf_hash(b"entry 3, rewritten")


def _checkpoint(leaves: list[bytes]) -> Checkpoint:
    return Checkpoint("log.example/test", len(leaves), root_of(leaves))


def _proofs(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    return lambda old, new: consistency_proof(old, new, lambda a, b: root_of(leaves[a:b]))


def test_honest_growth_is_accepted() -> None:
    kind, _, _ = _compare(_checkpoint(HONEST[:5]), _checkpoint(HONEST), _proofs(HONEST))
    assert kind is None


def test_a_rewritten_history_fails_the_consistency_proof() -> None:
    kind, message, proof = _compare(_checkpoint(HONEST[:5]), _checkpoint(REWRITTEN), _proofs(REWRITTEN))
    assert kind == "log-inconsistent" and "rewritten" in message and proof


def test_a_truncated_log_and_a_fork_are_named() -> None:
    kind, message, _ = _compare(_checkpoint(HONEST), _checkpoint(HONEST[:7]), _proofs(HONEST))
    assert kind == "log-truncated" and "shrank from size 12 to 7" in message
    kind, message, _ = _compare(_checkpoint(HONEST), _checkpoint(REWRITTEN), _proofs(REWRITTEN))
    assert kind == "log-forked" and "two different signed roots for size 12" in message
