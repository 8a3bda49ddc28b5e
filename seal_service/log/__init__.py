"""The issuance log: every licence sealed and every status change, in a Merkle tree (RFC 9162 hashing) whose
signed checkpoints (C2SP tlog-checkpoint) departments cosign, published as static tiles (C2SP tlog-tiles).

Public surface (others import from here):

- entries, one call inside the transaction of the change: :func:`log_licence_sealed`,
  :func:`log_licence_status`, :func:`log_licence_renewed`, :func:`log_seal_retired`;
- the sequencer: :func:`sequence_once`, :func:`sequence_all`, :class:`BackgroundSequencer`;
- set-up: :func:`ensure_log` (called by ``init``);
- proofs: :func:`inclusion_for_licence`, :func:`consistency_between`, :func:`licence_receipt`,
  :func:`latest_checkpoint`; witnesses: :func:`add_witness`, :func:`accept_cosignatures`.

The hashing, proof checks and note formats are the verifier's (``verifier.tlog``, ``verifier.log_entry``).
"""

from __future__ import annotations

from datetime import datetime

from seal_service.instance import Instance
from seal_service.log.keys import ensure_log_key, log_verifiers, rotate_log_key, signing_key
from seal_service.log.leaves import (
    log_licence_renewed,
    log_licence_sealed,
    log_licence_status,
    log_seal_retired,
    log_seals_retired,
)
from seal_service.log.proofs import consistency_between, inclusion_for_licence, latest_checkpoint, licence_receipt
from seal_service.log.sequencer import BackgroundSequencer, ensure_log_state, sequence_all, sequence_once
from seal_service.log.witnesses import accept_cosignatures, add_witness, list_witnesses


def ensure_log(instance: Instance, *, at: datetime) -> list[str]:
    """Create the log key and the empty log's checkpoint when missing (idempotent); returns what was created."""
    created = []
    row, new_key = ensure_log_key(instance, at=at)
    if new_key:
        created.append(f"log key {row.name}")
    if ensure_log_state(instance, at=at):
        created.append("log checkpoint of size 0")
    return created


__all__ = [
    "BackgroundSequencer",
    "accept_cosignatures",
    "add_witness",
    "consistency_between",
    "ensure_log",
    "inclusion_for_licence",
    "latest_checkpoint",
    "licence_receipt",
    "list_witnesses",
    "log_licence_renewed",
    "log_licence_sealed",
    "log_licence_status",
    "log_seal_retired",
    "log_seals_retired",
    "log_verifiers",
    "rotate_log_key",
    "sequence_all",
    "sequence_once",
    "signing_key",
]
