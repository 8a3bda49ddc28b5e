"""Webhook signing secrets at rest: encrypted under a key derived from the instance's key passphrase.

Example::

    >>> box = SecretBox(settings.passphrase())                       # doctest: +SKIP
    >>> stored = box.seal("whsec_...", receiver_id="wh_0123456789ab")  # what the database holds  # doctest: +SKIP
    >>> box.open(stored, receiver_id="wh_0123456789ab")               # doctest: +SKIP
    'whsec_...'

The dispatcher needs the secret itself to sign each delivery (Standard Webhooks is HMAC: nothing weaker than the
secret can sign), so it cannot be hashed; it is encrypted the way the SM2 file keys are (``seal_service.gm.keys``):
scrypt (n=2**14, r=8, p=1) over the key passphrase (``SEAL_KEY_PASSPHRASE`` / ``_FILE``, whose development default
production refuses) with a random salt per secret, then AES-256-GCM with the receiver's id as associated data (a
sealed secret copied onto another row does not open). A database dump alone does not give the secrets; the dump
and the passphrase together do, as for the file keys. The derived key is kept per salt and process, so scrypt
runs once per secret and process.

Stored form: ``v1:`` + URL-safe base64 of salt (16 bytes) | nonce (12) | ciphertext and tag.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from seal_service.errors import SealServiceError

PREFIX = "v1:"
_AAD = b"one-seal webhook secret\x00"

_keks: dict[tuple[bytes, bytes], bytes] = {}
_keks_lock = threading.Lock()


class SecretUnreadable(SealServiceError):
    """A stored webhook secret does not open with this instance's key passphrase."""

    status = 409
    slug = "webhook-secret-unreadable"
    title = "The webhook secret cannot be decrypted with this instance's key"


def _kek(passphrase: bytes, salt: bytes) -> bytes:
    # Keyed by a digest of the passphrase, not the passphrase itself (it stays only where settings keep it).
    key = (hashlib.sha256(passphrase).digest(), salt)
    with _keks_lock:
        found = _keks.get(key)
    if found is None:
        found = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(passphrase)
        with _keks_lock:
            _keks[key] = found
    return found


def is_sealed(stored: str | None) -> bool:
    """True for a value in the stored (encrypted) form."""
    return bool(stored) and str(stored).startswith(PREFIX)


class SecretBox:
    """Seals and opens webhook secrets under one instance's key passphrase."""

    def __init__(self, passphrase: bytes) -> None:
        if not passphrase:
            raise ValueError("the key passphrase is empty")
        self._passphrase = passphrase

    def seal(self, secret: str, *, receiver_id: str) -> str:
        """The stored form of ``secret`` for the receiver ``receiver_id``."""
        salt, nonce = os.urandom(16), os.urandom(12)
        sealed = AESGCM(_kek(self._passphrase, salt)).encrypt(nonce, secret.encode(), _AAD + receiver_id.encode())
        return PREFIX + base64.urlsafe_b64encode(salt + nonce + sealed).decode()

    def open(self, stored: str, *, receiver_id: str) -> str:
        """The secret of receiver ``receiver_id``; :class:`SecretUnreadable` when this key does not open it."""
        if not is_sealed(stored):
            raise SecretUnreadable(f"the webhook secret of {receiver_id} is not in the stored form")
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            salt, nonce, sealed = raw[:16], raw[16:28], raw[28:]
            opened = AESGCM(_kek(self._passphrase, salt)).decrypt(nonce, sealed, _AAD + receiver_id.encode())
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable(
                f"the webhook secret of {receiver_id} does not decrypt with this instance's key passphrase "
                "(SEAL_KEY_PASSPHRASE or SEAL_KEY_PASSPHRASE_FILE differs from the one it was stored under); "
                "set the original passphrase, or create a new subscription"
            ) from exc
        return opened.decode()
