"""The log's Ed25519 signing key: created by ``init``, stored encrypted like the other service keys (or generated in
the PKCS#11 token, never extractable, when ``log_key_backend`` - by default ``key_backend`` - is ``pkcs11``), rotated.

Example::

    >>> key = ensure_log_key(instance, at=now)        # doctest: +SKIP
    >>> key.verifier.vkey                              # doctest: +SKIP
    '127.0.0.1:8000/log+1a2b3c4d+AZ...'

The key's name is the log's origin (C2SP tlog-checkpoint: the key name SHOULD equal the origin). Keys are never
deleted: a rotated (retired) key's verifier key stays published so old checkpoints keep verifying.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from seal_service.errors import ConfigurationError, KeyUnavailable
from seal_service.instance import Instance
from seal_service.settings import KeyBackend
from seal_service.storage.log_models import LogKey
from verifier.tlog import NoteSignature, NoteVerifier, verifier_for


@dataclass(frozen=True)
class LogSigningKey:
    """The log key that signs now: its verifier and the loaded private key."""

    verifier: NoteVerifier
    private_key: Ed25519PrivateKey

    def sign_note(self, text: str) -> NoteSignature:
        """The log's signature line over a note text this service wrote (a checkpoint)."""
        return NoteSignature(self.verifier.name, self.verifier.key_id, self.private_key.sign(text.encode()))


def default_origin(instance: Instance) -> str:
    """The configured origin, else the public URL without its scheme plus ``/log``."""
    if instance.settings.log_origin:
        return instance.settings.log_origin
    parts = urlsplit(instance.settings.public_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/log"


def _write_key(instance: Instance, name: str, key: Ed25519PrivateKey) -> str:
    ref = f"file:{name}"
    store = instance.key_store
    path = store.path_of(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.BestAvailableEncryption(instance.settings.passphrase()),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"key file {path.name} already exists; refusing to overwrite") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return ref


def _load_key(instance: Instance, ref: str) -> Ed25519PrivateKey:
    if ref.startswith("pkcs11:"):
        return instance.keys.pkcs11.load_ed25519(ref)
    path = instance.key_store.path_of(ref)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=instance.settings.passphrase())
    except OSError as exc:
        raise KeyUnavailable(f"log key {ref} cannot be read: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise KeyUnavailable(f"log key {ref} cannot be decrypted (wrong passphrase?)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyUnavailable(f"log key {ref} is not an Ed25519 key")
    return key


def create_log_key(instance: Instance, session: Session, *, at: datetime) -> LogKey:
    """Generate a new log key (named after the origin of the current key, else the default origin)."""
    current = session.scalars(select(LogKey).where(LogKey.retired_at.is_(None)).order_by(LogKey.id.desc())).first()
    name = current.name if current is not None else default_origin(instance)
    suffix = f"{int(at.timestamp() * 1000)}-{os.urandom(3).hex()}"
    key: Ed25519PrivateKey
    if instance.settings.resolved_log_key_backend is KeyBackend.PKCS11:
        # Generated in the token, sensitive and never extractable, like seal keys on that backend.
        ref, key = instance.keys.pkcs11.generate_ed25519(f"log-{suffix}")
    else:
        key = Ed25519PrivateKey.generate()
        # "pki-" like the other service keys (seal keys are "seal-..."): the key store's naming of service keys.
        ref = _write_key(instance, f"pki-log-{suffix}", key)
    row = LogKey(name=name, public_key=verifier_for(name, key).public_key, key_ref=ref, created_at=at)
    session.add(row)
    session.flush()
    return row


def ensure_log_key(instance: Instance, *, at: datetime) -> tuple[LogKey, bool]:
    """The current log key row, creating one when there is none; returns (row, created)."""
    with instance.writer.begin() as session:
        current = session.scalars(select(LogKey).where(LogKey.retired_at.is_(None)).order_by(LogKey.id.desc())).first()
        if current is not None:
            return current, False
        return create_log_key(instance, session, at=at), True


def rotate_log_key(instance: Instance, *, at: datetime) -> LogKey:
    """Retire the current key and create its successor (same name); the next checkpoint is signed by the new one."""
    with instance.writer.begin() as session:
        for row in session.scalars(select(LogKey).where(LogKey.retired_at.is_(None))):
            row.retired_at = at
        row = create_log_key(instance, session, at=at)
    _SIGNERS.pop(instance, None)
    return row


def log_verifiers(session: Session) -> list[NoteVerifier]:
    """Verifier keys of every log key, newest first (retired ones too: old checkpoints stay checkable)."""
    rows = session.scalars(select(LogKey).order_by(LogKey.id.desc())).all()
    return [NoteVerifier(name=r.name, sig_type=0x01, public_key=r.public_key) for r in rows]


_SIGNERS: WeakKeyDictionary[Instance, tuple[int, LogSigningKey]] = WeakKeyDictionary()
_LOCK = threading.Lock()


def signing_key(instance: Instance, *, key_id: int | None = None) -> LogSigningKey:
    """The current log key, loaded once per process and reloaded when another process rotated it.

    ``key_id``: the id of the current key when the caller has just read it (the sequencer reads it with its lock):
    the loaded key is then returned without a read of its own.
    """
    if key_id is not None:
        with _LOCK:
            cached = _SIGNERS.get(instance)
        if cached is not None and cached[0] == key_id:
            return cached[1]
    with instance.sessions() as session:
        row = session.scalars(select(LogKey).where(LogKey.retired_at.is_(None)).order_by(LogKey.id.desc())).first()
    if row is None:
        raise ConfigurationError("the instance has no log key; run `seal-service init` first")
    with _LOCK:
        cached = _SIGNERS.get(instance)
        if cached is not None and cached[0] == row.id:
            return cached[1]
        key = _load_key(instance, row.key_ref)
        signer = LogSigningKey(verifier=verifier_for(row.name, key), private_key=key)
        if signer.verifier.public_key != row.public_key:
            raise KeyUnavailable(f"log key {row.key_ref} does not match its recorded public key")
        _SIGNERS[instance] = (row.id, signer)
        return signer
