"""``seal-monitor``: follow the issuance log, prove it only grows, and alert on entries nobody should have made.

Example::

    $ seal-monitor --service https://seal.example.gov.cn --trust-bundle bundle.json --trust-root root.pem \\
          --state /var/lib/seal-monitor --department 140500-SCJ --once

Each pass (numbered as in :func:`monitor_pass`):

1. fetch the newest checkpoint and check the log's signature (keys from the trust bundle);
2. check it against the last checkpoint this monitor accepted: same size means same root, a larger size needs a
   consistency proof that verifies, a smaller size is a truncated log. A contradiction is kept as evidence (both
   signed checkpoints, and the proof) in ``STATE/evidence/`` and reported; the monitor's state does not move;
3. read the new entries from the tiles, check the tiles against the signed root and the entries against the tile
   hashes, and decode each entry;
4. alert on entries whose seal certificate the trust bundle does not know (``sealed``, ``renewed`` and
   ``seal-retired`` entries: a key used outside the service's control, or a certificate issued in secret), and on
   entries that change a licence (``revoked``, ``suspended``, ``reinstated``, ``cancelled``, ``renewed``) the log
   never recorded as sealed (``STATE/licences.sqlite`` remembers every sealed licence); restricted with
   ``--department`` to entries of that authority or of items it supervises;
5. with ``--department CODE --supervisor-key-file F`` (the department's supervisor API key): follow the
   department's supervision feed and alert on every entry of the log that concerns the department but whose event
   never reached it within ``--grace`` seconds of the entry's time: licences of the items it supervises (per
   ``GET /v1/catalogue``) sealed, renewed, revoked, suspended, reinstated or cancelled, and seals retired that it
   would be told of (see :mod:`verifier.delivery`).

Alerts are JSON lines on standard output. Exit status: 0 nothing to report, 1 alerts about entries (also
``unlogged-licence``, ``undelivered-licence``, ``undelivered-event``), 2 usage or input error (also: the service
refused the supervisor key), 3 the service cannot be reached, 4 the log is inconsistent (forked, rewritten,
truncated, badly signed).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from verifier.bundle import TrustBundle, load_trust_bundle
from verifier.delivery import DEFAULT_GRACE, DeliveryCheck, DeliveryLedger, FeedClient, supervised_items
from verifier.errors import VerifierError
from verifier.log_entry import EntryError, EntryKind, LogEntry, decode_entry
from verifier.tlog import (
    TILE_WIDTH,
    Checkpoint,
    NoteError,
    ProofError,
    TileHashReader,
    TlogError,
    decode_entry_bundle,
    entries_path,
    leaf_hash,
    parse_checkpoint,
    parse_note,
    tile_path,
    verify_consistency,
)
from verifier.transparency import LogPolicy, LogUnavailable, OnlineLog
from verifier.trust import load_trust_roots

EXIT_OK, EXIT_ALERT, EXIT_INPUT, EXIT_UNREACHABLE, EXIT_INCONSISTENT = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Alert:
    """One finding, printed as a JSON line."""

    kind: str
    """``unknown-seal-certificate``, ``unlogged-licence`` (a status change or renewal of a licence the log never
    recorded as sealed), ``undelivered-licence`` (a sealed licence), ``undelivered-event`` (a status
    change or retired seal), ``log-forked``, ``log-truncated``, ``log-inconsistent``, ``bad-checkpoint``,
    ``bad-tiles`` or ``bad-entry``."""
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The JSON line."""
        return json.dumps({"alert": self.kind, "message": self.message, **self.details}, ensure_ascii=False)

    @property
    def integrity(self) -> bool:
        """True for alerts about the log itself (exit status 4)."""
        return self.kind not in (
            "unknown-seal-certificate",
            "unlogged-licence",
            "undelivered-licence",
            "undelivered-event",
        )


@dataclass(frozen=True)
class PassResult:
    """What one pass saw."""

    size: int
    new_entries: int
    alerts: tuple[Alert, ...]


class EntryObserver(Protocol):
    """Sees each new authenticated entry of a pass; ``commit`` runs before the monitor accepts the checkpoint."""

    def observe(self, index: int, entry: LogEntry) -> None:
        """One new entry."""

    def commit(self) -> None:
        """Persist what was observed."""


class HttpTiles:
    """Tiles fetched from ``{service}/log/`` (any static copy of the tiles works the same)."""

    def __init__(self, base: str, *, timeout: float = 10.0) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout

    def get(self, path: str) -> bytes:
        """The bytes at ``{base}/log/{path}``."""
        url = f"{self.base}/log/{path}"
        if not url.startswith(("http://", "https://")):
            raise LogUnavailable(f"{url}: only http and https URLs are asked")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310 - checked above
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            raise LogUnavailable(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise LogUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None

    def fetch(self, level: int, n: int, width: int) -> bytes:
        """A hash tile, for :class:`verifier.tlog.TileHashReader`."""
        return self.get(tile_path(level, n, width))


class MonitorState:
    """The monitor's directory: the last accepted checkpoint and the evidence of contradictions."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "evidence").mkdir(exist_ok=True)

    @property
    def checkpoint(self) -> bytes | None:
        """The last checkpoint note accepted."""
        path = self.directory / "checkpoint"
        return path.read_bytes() if path.exists() else None

    def accept(self, note: bytes) -> None:
        """Move to ``note`` (atomically)."""
        tmp = self.directory / "checkpoint.tmp"
        tmp.write_bytes(note)
        tmp.replace(self.directory / "checkpoint")

    def keep_evidence(self, kind: str, **files: bytes) -> Path:
        """Write the contradicting material under ``evidence/<time>-<kind>/``; returns the directory."""
        folder = self.directory / "evidence" / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}-{kind}"
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder


class LicenceIndex:
    """``STATE/licences.sqlite``: every licence the log recorded as sealed (item, authority, entry index), so that
    an entry changing a licence (revoked, suspended, reinstated, cancelled, renewed) can be checked against the
    licence's own ``sealed`` entry. SQLite (standard library) because a whole log's licences outgrow memory."""

    def __init__(self, directory: Path) -> None:
        self._db = sqlite3.connect(directory / "licences.sqlite")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sealed (licence TEXT PRIMARY KEY, item TEXT, authority TEXT, idx INTEGER)"
        )

    def add(self, index: int, entry: LogEntry) -> None:
        """A ``sealed`` entry (a re-read one is ignored: the first index stays)."""
        self._db.execute(
            "INSERT OR IGNORE INTO sealed VALUES (?, ?, ?, ?)", (entry.licence, entry.item, entry.authority, index)
        )

    def get(self, licence: str) -> tuple[str, str, int] | None:
        """(item, authority, index) of the licence's ``sealed`` entry, None when the log never recorded one."""
        row = self._db.execute("SELECT item, authority, idx FROM sealed WHERE licence = ?", (licence,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), int(row[2]))

    def commit(self) -> None:
        """Persist (before the monitor accepts the checkpoint, like the delivery ledger)."""
        self._db.commit()

    def close(self) -> None:
        """Close the database."""
        self._db.close()


#: Entries that change a licence the log must have recorded as sealed first.
_CHANGES = (EntryKind.REVOKED, EntryKind.SUSPENDED, EntryKind.REINSTATED, EntryKind.CANCELLED, EntryKind.RENEWED)


def _entries(tiles: HttpTiles, reader: TileHashReader, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """Entries ``start..end-1``, each checked against the level-0 tile hashes of the authenticated tree."""
    n = start // TILE_WIDTH
    while n * TILE_WIDTH < end:
        width = min(TILE_WIDTH, reader.size - n * TILE_WIDTH)
        bundle = decode_entry_bundle(tiles.get(entries_path(n, width)))
        if len(bundle) != width:
            raise ProofError(f"entry bundle {entries_path(n, width)} holds {len(bundle)} entries, not {width}")
        for i, entry in enumerate(bundle):
            index = n * TILE_WIDTH + i
            if start <= index < end:
                if leaf_hash(entry) != reader.node(0, index):
                    raise ProofError(f"entry {index} does not hash to the tree's leaf {index}")
                yield index, entry
        n += 1


def monitor_pass(
    *,
    log: OnlineLog,
    tiles: HttpTiles,
    policy: LogPolicy,
    state: MonitorState,
    known_certificates: set[str],
    department: str | None = None,
    supervised_items: set[str] | None = None,
    observer: EntryObserver | None = None,
    licences: LicenceIndex | None = None,
) -> PassResult:
    """One pass (steps 1-4 of the module docstring; with ``licences``, also the changes of unlogged licences)."""
    alerts: list[Alert] = []
    # (1)
    note = log.checkpoint()
    try:
        checkpoint = policy.open(note).checkpoint
    except NoteError as exc:
        folder = state.keep_evidence("bad-checkpoint", checkpoint=note)
        return PassResult(0, 0, (Alert("bad-checkpoint", str(exc), {"evidence": str(folder)}),))
    # (2)
    previous_note = state.checkpoint
    previous: Checkpoint | None = parse_checkpoint(parse_note(previous_note).text) if previous_note else None
    if previous is not None and previous_note is not None:
        kind, message, proof_text = _compare(previous, checkpoint, log.consistency)
        if kind is not None:
            folder = state.keep_evidence(kind, accepted=previous_note, served=note, proof=proof_text)
            return PassResult(checkpoint.size, 0, (Alert(kind, message, {"evidence": str(folder)}),))
    # (3) the tiles must give the signed root; the entries must give the tiles' leaf hashes.
    start = previous.size if previous is not None else 0
    reader = TileHashReader(checkpoint.size, tiles.fetch)
    count = 0
    try:
        if reader.root() != checkpoint.root:
            raise ProofError("the tiles do not hash to the checkpoint's root")
        for index, data in _entries(tiles, reader, start, checkpoint.size):
            count += 1
            try:
                entry = decode_entry(data)
            except EntryError as exc:
                alerts.append(Alert("bad-entry", f"entry {index} is malformed: {exc}", {"index": index}))
                continue
            if observer is not None:
                observer.observe(index, entry)
            # (4)
            in_scope = department is None or entry.authority == department
            if licences is not None and entry.licence:
                if entry.kind is EntryKind.SEALED:
                    licences.add(index, entry)
                elif entry.kind in _CHANGES:
                    sealed = licences.get(entry.licence)
                    in_scope = in_scope or (sealed is not None and sealed[0] in (supervised_items or ()))
                    if sealed is None and in_scope:
                        alerts.append(
                            Alert(
                                "unlogged-licence",
                                f"entry {index} ({entry.kind.value} {entry.licence} by {entry.authority}) changes a "
                                "licence the log never recorded as sealed: sealed outside the record, or before "
                                "the log began",
                                {"index": index, "licence": entry.licence, "entry": data.decode()},
                            )
                        )
            if entry.kind not in (EntryKind.SEALED, EntryKind.RENEWED, EntryKind.SEAL_RETIRED):
                continue
            if not in_scope and entry.item not in (supervised_items or ()):
                continue
            if entry.certificate_sha256 not in known_certificates:
                alerts.append(
                    Alert(
                        "unknown-seal-certificate",
                        f"entry {index} ({entry.kind.value} {entry.licence or entry.seal}) was made with a seal "
                        "certificate the trust bundle does not know",
                        {"index": index, "entry": data.decode()},
                    )
                )
    except (ProofError, LogUnavailable) as exc:
        if isinstance(exc, LogUnavailable):
            raise
        folder = state.keep_evidence("bad-tiles", served=note)
        return PassResult(checkpoint.size, count, (*alerts, Alert("bad-tiles", str(exc), {"evidence": str(folder)})))
    if observer is not None:
        observer.commit()
    if licences is not None:
        licences.commit()
    state.accept(note)
    return PassResult(checkpoint.size, count, tuple(alerts))


def _compare(
    previous: Checkpoint, checkpoint: Checkpoint, consistency: Callable[[int, int], Any]
) -> tuple[str | None, str, bytes]:
    if checkpoint.size < previous.size:
        return "log-truncated", f"the log shrank from size {previous.size} to {checkpoint.size}", b""
    if checkpoint.size == previous.size:
        if checkpoint.root != previous.root:
            return "log-forked", f"two different signed roots for size {checkpoint.size}: the log forked", b""
        return None, "", b""
    if previous.size == 0:
        return None, "", b""
    proof = list(consistency(previous.size, checkpoint.size))
    proof_text = "".join(p.hex() + "\n" for p in proof).encode()
    try:
        verify_consistency(
            old_size=previous.size,
            new_size=checkpoint.size,
            old_root=previous.root,
            new_root=checkpoint.root,
            proof=proof,
        )
    except ProofError as exc:
        return "log-inconsistent", f"the log was rewritten: {exc}", proof_text
    return None, "", b""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seal-monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, metavar="URL", help="the issuing service's base URL")
    parser.add_argument("--trust-bundle", required=True, metavar="FILE", help="the service's signed trust bundle")
    parser.add_argument("--trust-root", required=True, action="append", metavar="PEM", help="root certificate(s)")
    parser.add_argument("--state", required=True, metavar="DIR", help="state directory (checkpoint, evidence)")
    parser.add_argument("--department", metavar="CODE", help="alert only on entries of this authority or its items")
    parser.add_argument(
        "--supervisor-key-file",
        metavar="FILE",
        help="the department's supervisor API key: also alert on licences of its items the feed never delivered",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"how long after sealing a licence may be missing from the feed (default {DEFAULT_GRACE:g})",
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes (default 10)")
    return parser


def _bundle(args: argparse.Namespace) -> TrustBundle:
    roots = load_trust_roots(args.trust_root)
    bundle = load_trust_bundle(Path(args.trust_bundle).read_bytes(), trust_roots=roots, at=datetime.now(UTC))
    if bundle.log is None:
        raise VerifierError("the trust bundle names no issuance log")
    return bundle


def _delivery_check(args: argparse.Namespace, state: Path, seal_authorities: set[str]) -> DeliveryCheck | None:
    if args.supervisor_key_file is None:
        return None
    if not args.department:
        raise VerifierError("--supervisor-key-file needs --department (the department the key belongs to)")
    try:
        key = Path(args.supervisor_key_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise VerifierError(f"cannot read the supervisor key file {args.supervisor_key_file}: {exc.strerror}") from None
    if not key:
        raise VerifierError(f"the supervisor key file {args.supervisor_key_file} is empty")
    supervised = supervised_items(args.service, args.department)
    return DeliveryCheck(
        DeliveryLedger(state),
        FeedClient(args.service, key),
        supervised=supervised,
        grace=args.grace,
        department=args.department,
        seal_authorities=seal_authorities,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seal-monitor``."""
    args = _parser().parse_args(argv)
    if args.grace < 0:
        print("seal-monitor: --grace must be >= 0", file=sys.stderr)
        return EXIT_INPUT
    try:
        bundle = _bundle(args)
        assert bundle.log is not None
        known = {c.sha256.lower() for seal in bundle.seals.values() for c in seal.certificates}
        supervised = {
            code for code, item in bundle.items.items() if args.department and item.supervisor == args.department
        }
        log, tiles, state = OnlineLog(args.service), HttpTiles(args.service), MonitorState(Path(args.state))
        licences = LicenceIndex(state.directory)
        # seal.retired reaches the department for its own seals and those of any authority sealing its items.
        sealers = {
            p.authority for item in bundle.items.values() if item.supervisor == args.department for p in item.sealed_by
        }
        delivery = _delivery_check(args, state.directory, sealers)
        if delivery is not None:
            delivery.follow_feed()  # a wrong key fails here, before any pass
        status = EXIT_OK
        while True:
            result = monitor_pass(
                log=log,
                tiles=tiles,
                policy=bundle.log,
                state=state,
                known_certificates=known,
                department=args.department,
                supervised_items=supervised,
                observer=delivery,
                licences=licences,
            )
            alerts = list(result.alerts)
            if delivery is not None and not any(a.integrity for a in alerts):
                alerts += [
                    Alert("undelivered-licence" if d["entry_kind"] == "sealed" else "undelivered-event", m, d)
                    for m, d in delivery.alerts(at=datetime.now(UTC))
                ]
            for alert in alerts:
                print(alert.to_json(), flush=True)
                status = max(status, EXIT_INCONSISTENT if alert.integrity else EXIT_ALERT)
            if args.once:
                return status
            time.sleep(args.interval)
    except LogUnavailable as exc:
        print(f"seal-monitor: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (VerifierError, TlogError, OSError) as exc:
        print(f"seal-monitor: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return EXIT_OK


__all__ = ["Alert", "EntryObserver", "HttpTiles", "LicenceIndex", "MonitorState", "PassResult", "main", "monitor_pass"]

if __name__ == "__main__":
    raise SystemExit(main())
