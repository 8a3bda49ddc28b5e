"""``seal-witness``: a department cosigns the issuance log's checkpoints (C2SP tlog-cosignature, Ed25519 0x04).

Example::

    $ seal-witness keygen --name scj.jc.example/witness --key witness.pem
    scj.jc.example/witness+1a2b3c4d+BM...          # give this to the bureau: seal-service witnesses add ...
    $ seal-witness cosign --service https://seal.example.gov.cn --key witness.pem \\
          --name scj.jc.example/witness --log-key 'seal.example.gov.cn/log+...' --state witness-state.json

``cosign`` fetches the newest checkpoint, checks the log's signature, and checks that it is consistent with the
last checkpoint this witness cosigned (a consistency proof from the service, verified here). Only then does it
record the new checkpoint in its state file (atomically, before anything is sent: a witness never cosigns two
inconsistent checkpoints, even if it crashes) and post its cosignature back. A fork or a shrinking log is refused
with exit status 4 and the contradicting checkpoints written next to the state file.

Exit status: 0 cosigned (or nothing new), 2 usage or input error, 3 the service cannot be reached, 4 the log is
inconsistent with what this witness cosigned before.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifier.tlog import (
    SIG_COSIGNATURE_ED25519,
    SIG_ED25519,
    Checkpoint,
    NoteError,
    NoteSignature,
    NoteVerifier,
    ProofError,
    TlogError,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign_cosignature,
    verifier_for,
    verify_consistency,
)
from verifier.transparency import LogUnavailable, OnlineLog

EXIT_OK, EXIT_INPUT, EXIT_UNREACHABLE, EXIT_INCONSISTENT = 0, 2, 3, 4


class WitnessRefusal(TlogError):
    """The new checkpoint contradicts what this witness cosigned before."""


@dataclass(frozen=True)
class WitnessState:
    """The last checkpoint this witness cosigned."""

    origin: str
    size: int
    root: bytes

    def to_json(self) -> str:
        """The state file's text."""
        return json.dumps({"origin": self.origin, "size": self.size, "root": base64.b64encode(self.root).decode()})

    @classmethod
    def from_json(cls, text: str) -> WitnessState:
        """Parse the state file."""
        data = json.loads(text)
        return cls(origin=str(data["origin"]), size=int(data["size"]), root=base64.b64decode(data["root"]))


def cosign(
    note: bytes,
    *,
    log_key: NoteVerifier,
    name: str,
    key: Ed25519PrivateKey,
    state: WitnessState | None,
    consistency: Callable[[int, int], Sequence[bytes]],
    at: datetime,
) -> tuple[NoteSignature, WitnessState]:
    """Check ``note`` against the log key and ``state``; return the cosignature line and the new state."""
    # (1) the log's signature and origin.
    checkpoint: Checkpoint = open_checkpoint(note, log_key=log_key).checkpoint
    # (2) consistent with what this witness cosigned before.
    if state is not None:
        if state.origin != checkpoint.origin:
            raise WitnessRefusal(f"the state file is for log {state.origin}, not {checkpoint.origin}")
        if checkpoint.size < state.size:
            raise WitnessRefusal(f"the log shrank from size {state.size} (cosigned) to {checkpoint.size}")
        try:
            if checkpoint.size == state.size:
                verify_consistency(
                    old_size=state.size,
                    new_size=checkpoint.size,
                    old_root=state.root,
                    new_root=checkpoint.root,
                    proof=[],
                )
            elif state.size > 0:
                verify_consistency(
                    old_size=state.size,
                    new_size=checkpoint.size,
                    old_root=state.root,
                    new_root=checkpoint.root,
                    proof=consistency(state.size, checkpoint.size),
                )
        except ProofError as exc:
            raise WitnessRefusal(f"the new checkpoint is not consistent with the one cosigned before: {exc}") from None
    # (3) the cosignature over the checkpoint body at this time.
    line = sign_cosignature(checkpoint.text, name, key, timestamp=int(at.timestamp()))
    return line, WitnessState(origin=checkpoint.origin, size=checkpoint.size, root=checkpoint.root)


@dataclass(frozen=True)
class WitnessAnswer:
    """An answer to a C2SP tlog-witness ``add-checkpoint`` request."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    state: WitnessState | None = None
    """The new state to persist (only with status 200)."""


def add_checkpoint(
    body: bytes, *, log_key: NoteVerifier, name: str, key: Ed25519PrivateKey, state: WitnessState | None, at: datetime
) -> WitnessAnswer:
    """Answer ``POST <prefix>/add-checkpoint`` (C2SP tlog-witness): ``old <size>``, consistency proof lines, a
    blank line, the checkpoint. 200 with the cosignature line; 403 bad log signature; 404 unknown origin; 400 old
    size above the checkpoint's; 409 with the stored size when ``old`` is not it; 422 bad proof."""
    head, sep, note = body.partition(b"\n\n")
    try:
        lines = head.decode("ascii").split("\n")
        if not sep or not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            return WitnessAnswer(400, b"malformed request\n")
        old = int(lines[0][4:])
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except (UnicodeDecodeError, ValueError):
        return WitnessAnswer(400, b"malformed request\n")
    try:
        checkpoint = parse_checkpoint(parse_note(note).text)
    except NoteError:
        return WitnessAnswer(400, b"malformed checkpoint\n")
    if checkpoint.origin != log_key.name:
        return WitnessAnswer(404, b"unknown log origin\n")
    try:
        open_checkpoint(note, log_key=log_key)
    except NoteError:
        return WitnessAnswer(403, b"no valid signature of the log\n")
    if old > checkpoint.size:
        return WitnessAnswer(400, b"old size is larger than the checkpoint\n")
    stored = state.size if state is not None else 0
    if old != stored:
        return WitnessAnswer(409, f"{stored}\n".encode(), content_type="text/x.tlog.size")
    try:
        if state is not None and old > 0:
            verify_consistency(
                old_size=old, new_size=checkpoint.size, old_root=state.root, new_root=checkpoint.root, proof=proof
            )
        elif proof:
            raise ProofError("a proof from the empty tree must be empty")
    except ProofError as exc:
        return WitnessAnswer(422, f"{exc}\n".encode())
    line = sign_cosignature(checkpoint.text, name, key, timestamp=int(at.timestamp()))
    new_state = WitnessState(origin=checkpoint.origin, size=checkpoint.size, root=checkpoint.root)
    return WitnessAnswer(200, line.line.encode(), state=new_state)


def serve_witness(
    *, host: str, port: int, log_key: NoteVerifier, name: str, key: Ed25519PrivateKey, state_path: Path
) -> ThreadingHTTPServer:
    """An HTTP server answering ``POST /add-checkpoint``; the check and the new state are one step under a lock
    (the state file is replaced atomically before the cosignature is sent)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/").split("/")[-1] != "add-checkpoint":
                self._answer(WitnessAnswer(404, b"not found\n"))
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1 << 20))
            with lock:
                state = WitnessState.from_json(state_path.read_text()) if state_path.exists() else None
                answer = add_checkpoint(body, log_key=log_key, name=name, key=key, state=state, at=datetime.now(UTC))
                if answer.state is not None:
                    _save_state(state_path, answer.state)
            self._answer(answer)

        def _answer(self, answer: WitnessAnswer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


def _serve(args: argparse.Namespace) -> int:
    server = serve_witness(
        host=args.host,
        port=args.port,
        log_key=parse_vkey(args.log_key, sig_type=SIG_ED25519),
        name=args.name,
        key=_load_key(Path(args.key)),
        state_path=Path(args.state),
    )
    print(f"seal-witness: add-checkpoint on http://{args.host}:{server.server_address[1]}/add-checkpoint", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return EXIT_OK


def _save_state(path: Path, state: WitnessState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(state.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _load_key(path: Path) -> Ed25519PrivateKey:
    passphrase = os.environ.get("SEAL_WITNESS_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=passphrase.encode() if passphrase else None
        )
    except (OSError, ValueError, TypeError) as exc:
        raise NoteError(f"{path}: cannot load the witness key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"{path}: not an Ed25519 key")
    return key


def _keygen(args: argparse.Namespace) -> int:
    path = Path(args.key)
    if path.exists():
        raise NoteError(f"{path} exists; refusing to overwrite a witness key")
    key = Ed25519PrivateKey.generate()
    passphrase = os.environ.get("SEAL_WITNESS_PASSPHRASE")
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    print(verifier_for(args.name, key, sig_type=SIG_COSIGNATURE_ED25519).vkey)
    return EXIT_OK


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 - the operator's URL, http(s) checked by OnlineLog
        url, data=body, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        raise LogUnavailable(f"{url}: HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LogUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None


def _cosign(args: argparse.Namespace) -> int:
    log = OnlineLog(args.service)
    log_key = parse_vkey(args.log_key, sig_type=SIG_ED25519)
    key = _load_key(Path(args.key))
    state_path = Path(args.state)
    state = WitnessState.from_json(state_path.read_text()) if state_path.exists() else None
    note = log.checkpoint()
    try:
        line, new_state = cosign(
            note,
            log_key=log_key,
            name=args.name,
            key=key,
            state=state,
            consistency=log.consistency,
            at=datetime.now(UTC),
        )
    except WitnessRefusal as exc:
        evidence = state_path.with_name(state_path.name + f".refused-{int(datetime.now(UTC).timestamp())}")
        evidence.write_bytes(note)
        print(f"seal-witness: REFUSED: {exc}; the checkpoint served is kept in {evidence}", file=sys.stderr)
        return EXIT_INCONSISTENT
    if state is not None and state.size == new_state.size and not args.again:
        print(f"nothing new: size {new_state.size} already cosigned")
        return EXIT_OK
    _save_state(state_path, new_state)  # before sending: the promise is recorded first
    _post(f"{log.base}/v1/log/cosignatures", note + line.line.encode())
    print(f"cosigned {new_state.origin} size {new_state.size}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seal-witness", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="create a witness key and print its verifier key (name+id+key)")
    p.add_argument("--name", required=True, help="the witness's key name, e.g. scj.jc.example/witness")
    p.add_argument("--key", required=True, metavar="FILE", help="where to write the private key (PEM, mode 0600)")
    p.set_defaults(func=_keygen)
    p = sub.add_parser("cosign", help="check the newest checkpoint and post this witness's cosignature")
    p.add_argument("--service", required=True, metavar="URL")
    p.add_argument("--key", required=True, metavar="FILE")
    p.add_argument("--name", required=True, help="the witness's key name (as registered)")
    p.add_argument("--log-key", required=True, metavar="VKEY", help="the log's verifier key (GET /log/key)")
    p.add_argument("--state", required=True, metavar="FILE", help="state file: the last checkpoint cosigned")
    p.add_argument("--again", action="store_true", help="post a cosignature even when the size is not new")
    p.set_defaults(func=_cosign)
    p = sub.add_parser("serve", help="answer C2SP tlog-witness add-checkpoint requests (the service pushes)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--key", required=True, metavar="FILE")
    p.add_argument("--name", required=True, help="the witness's key name (as registered)")
    p.add_argument("--log-key", required=True, metavar="VKEY", help="the log's verifier key (GET /log/key)")
    p.add_argument("--state", required=True, metavar="FILE", help="state file: the last checkpoint cosigned")
    p.set_defaults(func=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seal-witness``."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except LogUnavailable as exc:
        print(f"seal-witness: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (TlogError, ValueError, OSError) as exc:
        print(f"seal-witness: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
