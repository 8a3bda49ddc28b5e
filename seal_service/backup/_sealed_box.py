"""The encrypted container of a backup: a passphrase (scrypt) and AES-256-GCM over the whole payload.

Layout: a magic line, a JSON header line (key derivation parameters, salt, nonce, a passphrase check value), then
the ciphertext. The header is authenticated as associated data, so changing any byte of the file is detected; the
check value (derived from the passphrase, not from the contents) tells a wrong passphrase from a tampered file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from seal_service.errors import InvalidInput

MAGIC = b"ONE-SEAL-BACKUP 1\n"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class WrongPassphrase(InvalidInput):
    """The passphrase does not open this backup."""

    slug = "backup-passphrase"
    title = "Wrong backup passphrase"


class BackupDamaged(InvalidInput):
    """The backup file is not a backup of this service, or was changed after it was made."""

    slug = "backup-damaged"
    title = "Backup damaged or tampered with"


def _keys(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return material[:32], hashlib.sha256(b"one-seal backup passphrase check" + material[32:]).digest()[:16]


def seal_box(payload: bytes, passphrase: str) -> bytes:
    """``payload`` encrypted and authenticated under ``passphrase``."""
    salt, nonce = os.urandom(16), os.urandom(12)
    key, check = _keys(passphrase, salt, **_SCRYPT)
    header = {
        "format": 1,
        "kdf": "scrypt",
        **_SCRYPT,
        "salt": base64.b64encode(salt).decode(),
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "check": base64.b64encode(check).decode(),
    }
    header_line = json.dumps(header, sort_keys=True).encode() + b"\n"
    return MAGIC + header_line + AESGCM(key).encrypt(nonce, payload, MAGIC + header_line)


def open_box(data: bytes, passphrase: str) -> bytes:
    """The payload of a box made by :func:`seal_box`; :class:`WrongPassphrase` or :class:`BackupDamaged`."""
    if not data.startswith(MAGIC):
        raise BackupDamaged("not a one-seal backup file (its first line is not the backup header)", field="FILE")
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC) : end])
        salt, nonce, check = (base64.b64decode(header[name], validate=True) for name in ("salt", "nonce", "check"))
        n, r, p = int(header["n"]), int(header["r"]), int(header["p"])
        if end < 0 or header.get("kdf") != "scrypt" or not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("unsupported parameters")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupDamaged(f"the backup header is damaged ({exc})", field="FILE") from None
    key, expected = _keys(passphrase, salt, n, r, p)
    if not hmac.compare_digest(check, expected):
        raise WrongPassphrase("wrong passphrase: it does not open this backup", field="passphrase")
    header_line = data[len(MAGIC) : end + 1]
    try:
        return AESGCM(key).decrypt(nonce, data[end + 1 :], MAGIC + header_line)
    except InvalidTag:
        raise BackupDamaged(
            "the backup was changed after it was made (authentication failed); nothing was restored", field="FILE"
        ) from None
