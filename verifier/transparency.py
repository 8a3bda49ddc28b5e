"""Is this licence in the issuance log? The check ``seal-verify`` runs on every validly sealed licence.

Example::

    >>> policy = bundle.log                                            # from the trust bundle's "log" section
    >>> receipt = parse_tlog_proof(Path("L0123.tlog-proof").read_bytes())
    >>> evidence = check_receipt(receipt, policy=policy, licence_id="L0123...",
    ...                          document_hashes={sha256_hex}, certificate_sha256=None)   # raises if not

The checks, numbered as in :func:`check_receipt`:

1. The checkpoint is a signed note of one of the log's keys (from the trust bundle), for the log's origin.
2. The witness policy: at least ``quorum`` cosignatures of the witnesses the bundle names (k of n).
3. The entry (the receipt's extra data) is the licence's "sealed" entry, for this very document (its SHA-256, or
   that of a revision of it) and, when known, this seal certificate.
4. The RFC 9162 inclusion proof binds the entry to the checkpoint's root.
5. The checkpoint is consistent with the one pinned in the trust bundle (online: a consistency proof is fetched;
   offline only an equal size can be compared, and the witnesses' cosignatures stand for the rest).

A licence with no entry, or whose entry names another document, was sealed outside the record: the seal key
was used without the service's log knowing, which is exactly what the log exists to reveal.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verifier.log_entry import EntryError, EntryKind, LogEntry, decode_entry
from verifier.tlog import (
    SIG_COSIGNATURE_ED25519,
    SIG_ED25519,
    Checkpoint,
    Cosignature,
    NoteError,
    NoteVerifier,
    ProofError,
    SignedCheckpoint,
    TlogError,
    TlogProof,
    leaf_hash,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    verify_consistency,
    verify_inclusion,
)

#: What people read when a validly sealed licence is not in the log.
OUTSIDE_RECORD_ZH = "严重警告：此证照在登记记录之外签章（签发日志中没有此证照）"
OUTSIDE_RECORD_EN = "WARNING: sealed outside the record (the licence is not in the issuance log)"


class SealedOutsideRecord(TlogError):
    """The licence has no entry in the log, or its entry names another document or certificate."""


class LogUnavailable(TlogError):
    """The log could not be asked (network, not yet sequenced); try later."""


@dataclass(frozen=True)
class LogPolicy:
    """What a verifier trusts about the log: its keys, its witnesses and how many must cosign, and a pin."""

    log_keys: tuple[NoteVerifier, ...]
    """Verifier keys of the log (current and retired; any may have signed a checkpoint)."""
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int = 0
    """Cosignatures of distinct known witnesses required on a checkpoint (k of n)."""
    pinned: bytes | None = None
    """A checkpoint note the verifier already trusts (from the trust bundle); later ones must be consistent."""

    def __post_init__(self) -> None:
        if not self.log_keys:
            raise NoteError("a log policy needs at least one log key")
        if self.quorum > len(self.witnesses):
            raise NoteError(f"the policy requires {self.quorum} cosignatures but names {len(self.witnesses)} witnesses")

    def open(self, note: bytes) -> SignedCheckpoint:
        """Steps 1-2: the checkpoint signed by one of the log keys and cosigned per the policy."""
        last: NoteError | None = None
        for key in self.log_keys:
            try:
                return open_checkpoint(note, log_key=key, witnesses=self.witnesses, quorum=self.quorum)
            except NoteError as exc:
                if "not signed by a known key" not in str(exc):
                    raise
                last = exc
        assert last is not None
        raise NoteError(f"the checkpoint is not signed by the log's key ({self.log_keys[0].vkey})")

    @property
    def pinned_checkpoint(self) -> Checkpoint | None:
        """The pinned checkpoint's body (its signature was checked when the policy was built)."""
        return parse_checkpoint(parse_note(self.pinned).text) if self.pinned else None

    @classmethod
    def from_bundle_section(cls, section: Mapping[str, Any]) -> LogPolicy:
        """Parse the trust bundle's ``log`` section (the bundle's signature already checked)."""
        try:
            keys = tuple(parse_vkey(k, sig_type=SIG_ED25519) for k in section["keys"])
            witnesses = tuple(parse_vkey(w["vkey"], sig_type=SIG_COSIGNATURE_ED25519) for w in section["witnesses"])
            quorum = int(section.get("quorum", 0))
            pinned_text = section.get("checkpoint")
            pinned = pinned_text.encode() if isinstance(pinned_text, str) else None
        except (KeyError, TypeError, ValueError) as exc:
            raise NoteError(f"trust bundle: malformed log section ({exc})") from None
        policy = cls(log_keys=keys, witnesses=witnesses, quorum=quorum, pinned=None)
        if pinned is not None:
            # The pin is checked like any checkpoint, without the witness policy (it is signed by the bundle too).
            cls(log_keys=keys).open(pinned)
            policy = cls(log_keys=keys, witnesses=witnesses, quorum=quorum, pinned=pinned)
        return policy


@dataclass(frozen=True)
class LogEvidence:
    """A licence found in the log."""

    index: int
    size: int
    entry: LogEntry
    cosignatures: tuple[Cosignature, ...]
    pin: str
    """``consistent`` (proved), ``same`` (equal size and root), ``not-checked`` (offline, different sizes), ``none``."""


ConsistencySource = Callable[[int, int], Sequence[bytes]]


def check_receipt(
    receipt: TlogProof,
    *,
    policy: LogPolicy,
    licence_id: str,
    document_hashes: Collection[str],
    certificate_sha256: str | None,
    consistency: ConsistencySource | None = None,
) -> LogEvidence:
    """Run checks 1-5 of the module docstring; raises :class:`SealedOutsideRecord`, :class:`ProofError` or
    :class:`NoteError` (a bad signature or too few witnesses) with a sentence naming what failed."""
    # (1) and (2)
    signed = policy.open(receipt.checkpoint)
    checkpoint = signed.checkpoint
    # (3)
    if receipt.extra is None:
        raise NoteError("the log receipt carries no entry (extra line)")
    try:
        entry = decode_entry(receipt.extra)
    except EntryError as exc:
        raise NoteError(f"the log receipt's entry is malformed: {exc}") from None
    if entry.kind is not EntryKind.SEALED or entry.licence != licence_id:
        raise SealedOutsideRecord(
            f"the log entry {receipt.index} is a {entry.kind.value} entry of {entry.licence or entry.seal}, "
            f"not the sealing of licence {licence_id}"
        )
    if entry.document_sha256 not in document_hashes:
        raise SealedOutsideRecord(
            f"licence {licence_id} is in the log with another document (SHA-256 {entry.document_sha256}): this file "
            "was sealed outside the record"
        )
    if certificate_sha256 is not None and entry.certificate_sha256 != certificate_sha256:
        raise SealedOutsideRecord(f"licence {licence_id} is in the log as sealed with another seal certificate")
    # (4)
    verify_inclusion(
        index=receipt.index,
        size=checkpoint.size,
        leaf=leaf_hash(receipt.extra),
        proof=receipt.proof,
        root=checkpoint.root,
    )
    # (5)
    pin = check_pin(policy, checkpoint, consistency)
    return LogEvidence(receipt.index, checkpoint.size, entry, signed.cosignatures, pin)


def check_pin(policy: LogPolicy, checkpoint: Checkpoint, consistency: ConsistencySource | None) -> str:
    """Step 5: ``checkpoint`` against the pinned one; raises :class:`ProofError` on a fork or a shrunken log."""
    pinned = policy.pinned_checkpoint
    if pinned is None or pinned.size == 0:
        return "none"
    if pinned.size == checkpoint.size:
        if pinned.root != checkpoint.root:
            raise ProofError(
                f"the log forked: two different roots for size {pinned.size} (the trust bundle's and this one)"
            )
        return "same"
    if consistency is None:
        return "not-checked"
    old, new = (pinned, checkpoint) if pinned.size < checkpoint.size else (checkpoint, pinned)
    verify_consistency(
        old_size=old.size,
        new_size=new.size,
        old_root=old.root,
        new_root=new.root,
        proof=consistency(old.size, new.size),
    )
    return "consistent"


# ------------------------------------------------------------------------------------------------------ online


def _get(url: str, *, timeout: float) -> bytes | None:
    if not url.startswith(("http://", "https://")):
        raise LogUnavailable(f"{url}: only http and https URLs are asked")
    request = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the operator's URL
            data: bytes = response.read(8 * 1024 * 1024)
            return data
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 409:
            raise LogUnavailable(f"{url}: the entry is not in a checkpoint yet; try again in a few seconds") from None
        raise LogUnavailable(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise LogUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None


class OnlineLog:
    """The service's log over HTTP: inclusion receipts and consistency proofs, fetched on demand."""

    def __init__(self, service_url: str, *, timeout: float = 10.0) -> None:
        self.base = service_url.rstrip("/")
        self.timeout = timeout

    def receipt(self, licence_id: str) -> TlogProof | None:
        """The licence's receipt (None when the log has no entry for it)."""
        query = urllib.parse.urlencode({"licence": licence_id})
        data = _get(f"{self.base}/v1/log/proof/inclusion?{query}", timeout=self.timeout)
        if data is None:
            return None
        try:
            body = json.loads(data)
            return TlogProof(
                index=int(body["index"]),
                proof=tuple(base64.b64decode(h, validate=True) for h in body["proof"]),
                checkpoint=str(body["checkpoint"]).encode(),
                extra=base64.b64decode(body["entry"], validate=True),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LogUnavailable(f"{self.base}: malformed inclusion proof ({exc})") from None

    def consistency(self, old: int, new: int) -> Sequence[bytes]:
        """The consistency proof between two sizes."""
        data = _get(f"{self.base}/v1/log/proof/consistency?from={old}&to={new}", timeout=self.timeout)
        if data is None:
            raise LogUnavailable(f"{self.base}: no consistency proof from {old} to {new}")
        try:
            return [base64.b64decode(h, validate=True) for h in json.loads(data)["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise LogUnavailable(f"{self.base}: malformed consistency proof ({exc})") from None

    def checkpoint(self) -> bytes:
        """The newest checkpoint note."""
        data = _get(f"{self.base}/log/checkpoint", timeout=self.timeout)
        if data is None:
            raise LogUnavailable(f"{self.base}: no checkpoint")
        return data


__all__ = [
    "OUTSIDE_RECORD_EN",
    "OUTSIDE_RECORD_ZH",
    "LogEvidence",
    "LogPolicy",
    "LogUnavailable",
    "OnlineLog",
    "SealedOutsideRecord",
    "check_pin",
    "check_receipt",
]
