"""Witnesses: departments whose keys cosign the log's checkpoints (C2SP tlog-cosignature, Ed25519 type 0x04).

Example::

    >>> add_witness(instance, department="140500-SCJ", public_key="scj.jc.gov.cn/witness+ab12cd34+BA...", at=now)
    ...                                                                                   # doctest: +SKIP
    >>> accept_cosignatures(instance, cosigned_note_bytes, at=now)                       # doctest: +SKIP

A department runs ``seal-witness`` (``verifier.witness``): it fetches the newest checkpoint, checks it is
consistent with the last one it cosigned, cosigns and posts the cosigned note back here. The service keeps only
cosignatures that verify against a registered witness key and a checkpoint it really signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from seal_service.errors import InvalidInput, NotFound, StateConflict
from seal_service.instance import Instance
from seal_service.log.keys import log_verifiers
from seal_service.storage.log_models import LogCheckpoint, LogCosignature, LogWitness
from verifier.tlog import (
    SIG_COSIGNATURE_ED25519,
    CosignatureError,
    NoteError,
    NoteVerifier,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    verify_cosignatures,
)


@dataclass(frozen=True)
class Witness:
    """A registered witness."""

    name: str
    department: str
    vkey: str


def add_witness(instance: Instance, *, department: str, public_key: str, at: datetime) -> Witness:
    """Register a department's witness verifier key (``name+hexid+base64(0x04 || key)``)."""
    department = department.strip()
    if not department or len(department) > 64:
        raise InvalidInput("a department code of 1 to 64 characters is required", field="department")
    try:
        verifier = parse_vkey(public_key, sig_type=SIG_COSIGNATURE_ED25519)
    except NoteError as exc:
        raise InvalidInput(f"not a witness verifier key: {exc}", field="public_key") from None
    with instance.writer.begin() as session:
        existing = session.get(LogWitness, verifier.name)
        if existing is not None:
            if existing.vkey == verifier.vkey and existing.department == department:
                return Witness(existing.name, existing.department, existing.vkey)
            raise StateConflict(f"a witness named {verifier.name} is already registered", field="public_key")
        session.add(LogWitness(name=verifier.name, department=department, vkey=verifier.vkey, added_at=at))
    return Witness(verifier.name, department, verifier.vkey)


def list_witnesses(instance: Instance) -> list[Witness]:
    """Registered witnesses, by name."""
    with instance.sessions() as session:
        rows = session.scalars(select(LogWitness).order_by(LogWitness.name)).all()
        return [Witness(r.name, r.department, r.vkey) for r in rows]


def witness_verifiers(instance: Instance) -> list[NoteVerifier]:
    """Verifier keys of the registered witnesses."""
    return [parse_vkey(w.vkey) for w in list_witnesses(instance)]


def accept_cosignatures(instance: Instance, data: bytes, *, at: datetime) -> tuple[str, ...]:
    """Store the cosignatures of registered witnesses found on a checkpoint note; returns the witnesses stored.

    The note's text must be exactly a checkpoint the log signed; cosignatures by unknown keys are refused.
    """
    try:
        note = parse_note(data)
        checkpoint = parse_checkpoint(note.text)
    except NoteError as exc:
        raise InvalidInput(f"not a checkpoint note: {exc}", field="body") from None
    witnesses = witness_verifiers(instance)
    with instance.sessions() as session:
        signed = session.scalar(select(LogCheckpoint.note).where(LogCheckpoint.size == checkpoint.size))
    if signed is None or parse_note(signed).text != note.text:
        raise NotFound(f"the log signed no such checkpoint of size {checkpoint.size}", field="body")
    known = {(w.name, w.key_id) for w in witnesses}
    with instance.sessions() as session:
        log_keys = {(v.name, v.key_id) for v in log_verifiers(session)}
    strangers = sorted({s.name for s in note.signatures if (s.name, s.key_id) not in known | log_keys})
    if strangers:
        raise InvalidInput(f"cosignature(s) by unknown witness key(s): {', '.join(strangers)}", field="body")
    lines = [s for s in note.signatures if (s.name, s.key_id) in known]
    if not lines:
        raise InvalidInput("the note carries no cosignature of a registered witness", field="body")
    try:
        verify_cosignatures(note, witnesses, quorum=len({s.name for s in lines}))
    except CosignatureError as exc:
        raise InvalidInput(str(exc), field="body") from None
    stored = []
    with instance.writer.begin() as session:
        for sig in lines:
            if session.get(LogCosignature, (checkpoint.size, sig.name)) is None:
                session.add(LogCosignature(size=checkpoint.size, witness=sig.name, line=sig.line, created_at=at))
                stored.append(sig.name)
    return tuple(stored)


def push_to_witness(instance: Instance, url: str, *, at: datetime, timeout: float = 10.0) -> tuple[str, ...]:
    """Ask a witness's C2SP tlog-witness endpoint (``url`` ends in ``/add-checkpoint``) to cosign the newest
    checkpoint; store the cosignatures it returns. Starts from ``old 0`` and, on 409, retries once from the size
    the witness says it holds, with the consistency proof from there."""
    import base64
    import urllib.error
    import urllib.request

    from seal_service.log.proofs import consistency_between, current_size

    if not url.startswith(("http://", "https://")):
        raise InvalidInput("the witness URL must be http or https", field="url")
    with instance.sessions() as session:
        size = current_size(session)
        note = session.scalar(select(LogCheckpoint.note).where(LogCheckpoint.size == size))
    assert note is not None
    old = 0
    for _ in range(2):
        proof = consistency_between(instance, old, size) if 0 < old < size else ()
        body = f"old {old}\n".encode() + b"".join(base64.b64encode(h) + b"\n" for h in proof) + b"\n" + note
        request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - checked above
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                lines = response.read(65536)
        except urllib.error.HTTPError as exc:
            answer = exc.read(1024)
            if exc.code == 409 and answer.strip().isdigit() and int(answer) <= size:
                old = int(answer)
                continue
            reason = answer.decode(errors="replace").strip()
            raise StateConflict(
                f"witness {url} refused the checkpoint of size {size}: HTTP {exc.code} {reason}", field="url"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise StateConflict(f"witness {url} cannot be reached: {exc}", field="url") from None
        return accept_cosignatures(instance, note + lines, at=at)
    raise StateConflict(f"witness {url} keeps answering 409 for size {size}", field="url")
