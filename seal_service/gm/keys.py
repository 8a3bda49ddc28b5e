"""SM2 private keys: the software key store (development) and the reference form the key resolver understands.

References:

- ``sm2file:NAME`` — an SM2 private key in software, in ``NAME.sm2.key`` in the instance's key store directory,
  encrypted under the same passphrase as the other file keys (scrypt, AES-256-GCM). ``cryptography`` cannot
  load SM2 keys, so they are not PKCS#8 files like ``file:`` keys; the signing itself is ``gmalglib`` (C).
- ``sm2sdf:DEVICE/KEYINDEX`` and ``pkcs11:...;mechanism=vendor`` — certified hardware (a 密码机 through the
  GM/T 0018 SDF interface, ``SDF_InternalSign_ECC``, or a PKCS#11 module with its vendor SM2 mechanism). The code
  is shaped for them (an :class:`Sm2Signer` only has to ``sign`` a message and give its public key), but this build
  ships no driver: resolving such a reference says so (:class:`~seal_service.errors.KeyUnavailable`).
"""

from __future__ import annotations

import base64
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from gmalglib.sm2 import SM2

from seal_service.errors import ConfigurationError, KeyUnavailable
from verifier.gm_structures import DEFAULT_USER_ID, raw_to_der

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_PEM_LABEL = "ONE-SEAL SM2 ENCRYPTED PRIVATE KEY"
_MAGIC = b"SM2K1"


class Sm2Signer(Protocol):
    """What signs with an SM2 key: software (:class:`SoftwareSm2Key`) or certified hardware."""

    @property
    def public_key(self) -> bytes:
        """The uncompressed public point (65 bytes)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """SM2-with-SM3 signature of ``message`` with the default user id, DER ``SEQUENCE { r, s }``."""
        ...


@dataclass(frozen=True)
class SoftwareSm2Key:
    """An SM2 key in process memory, signing through gmalglib (OS random numbers, constant-time C code)."""

    secret: bytes
    public_key: bytes
    _signers: threading.local = field(default_factory=threading.local, repr=False, compare=False)
    """gmalglib's SM2 object of this key, one per thread: building it (the key checked, the user id's Z value
    precomputed) costs about 0.2 ms, as much as half a signature, so it is built once per thread and reused."""

    @classmethod
    def generate(cls) -> SoftwareSm2Key:
        """A fresh key pair."""
        secret, public = SM2().generate_keypair()
        return cls(secret=secret, public_key=public)

    def sign(self, message: bytes) -> bytes:
        """SM2-with-SM3 signature (user id 1234567812345678), DER encoded."""
        signer = getattr(self._signers, "sm2", None)
        if signer is None:
            signer = self._signers.sm2 = SM2(sk=self.secret, pk=self.public_key, uid=DEFAULT_USER_ID)
        return raw_to_der(signer.sign(message))

    def __repr__(self) -> str:  # never print the secret
        return f"SoftwareSm2Key(public_key={self.public_key.hex()[:16]}...)"


class Sm2KeyStore:
    """SM2 keys in software, encrypted in the file key store's directory (files 0600, never overwritten)."""

    def __init__(self, directory: Path, *, passphrase: bytes) -> None:
        if not passphrase:
            raise ConfigurationError("the SM2 key store needs a passphrase")
        self.directory = directory
        self._passphrase = passphrase
        self._cache: dict[str, Sm2Signer] = {}
        self._lock = threading.Lock()
        self._keks: dict[bytes, bytes] = {}
        self._salt: bytes | None = None

    def path_of(self, ref: str) -> Path:
        """The file of an ``sm2file:`` reference; refuses anything else."""
        if not ref.startswith("sm2file:"):
            raise KeyUnavailable(f"not an SM2 software key reference: {ref.split(':', 1)[0]}:...")
        name = ref[len("sm2file:") :]
        if not _NAME_RE.match(name):
            raise KeyUnavailable(f"malformed key name in reference {ref!r}")
        return self.directory / f"{name}.sm2.key"

    def exists(self, ref: str) -> bool:
        """True when the key file exists."""
        return self.path_of(ref).exists()

    def _kek(self, salt: bytes) -> bytes:
        # scrypt is deliberately slow (~0.1-0.3 s), so the key-encryption key is derived once per salt and process;
        # the keys a process writes share its salt (each file still has its own random AES-GCM nonce).
        kek = self._keks.get(salt)
        if kek is None:
            kek = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(self._passphrase)
            self._keks[salt] = kek
        return kek

    def generate(self, name: str) -> tuple[str, SoftwareSm2Key]:
        """Generate and store a new SM2 key named ``name``; returns its reference and the key."""
        ref = f"sm2file:{name}"
        path = self.path_of(ref)
        key = SoftwareSm2Key.generate()
        if self._salt is None:
            self._salt = os.urandom(16)
        salt, nonce = self._salt, os.urandom(12)
        sealed = AESGCM(self._kek(salt)).encrypt(nonce, key.secret, _MAGIC + name.encode())
        body = base64.encodebytes(_MAGIC + salt + nonce + sealed).decode()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigurationError(f"key file {path.name} already exists; refusing to overwrite") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"-----BEGIN {_PEM_LABEL}-----\n{body}-----END {_PEM_LABEL}-----\n")
        self._cache[ref] = key
        return ref, key

    def resolve(self, ref: str) -> Sm2Signer:
        """The signer behind ``ref`` (loaded once per process)."""
        found = self._cache.get(ref)
        if found is not None:
            return found
        if ref.startswith(("sm2sdf:", "pkcs11:")):
            raise KeyUnavailable(
                f"SM2 key {ref.split(';', 1)[0]} lives in certified hardware (GM/T 0018 SDF or a PKCS#11 vendor "
                "mechanism); this build has no driver for it (see docs/gm-crypto.md)"
            )
        path = self.path_of(ref)
        try:
            text = path.read_text()
        except OSError as exc:
            raise KeyUnavailable(f"SM2 key {ref} cannot be read: {exc.strerror}") from exc
        try:
            body = base64.b64decode("".join(text.strip().splitlines()[1:-1]))
            if not body.startswith(_MAGIC):
                raise ValueError("not an SM2 key file")
            salt, nonce, sealed = body[5:21], body[21:33], body[33:]
            secret = AESGCM(self._kek(salt)).decrypt(nonce, sealed, _MAGIC + ref[len("sm2file:") :].encode())
        except Exception as exc:
            raise KeyUnavailable(f"SM2 key {ref} cannot be decrypted (wrong passphrase?)") from exc
        key = SoftwareSm2Key(secret=secret, public_key=SM2().get_pk(secret))
        with self._lock:
            self._cache[ref] = key
        return key

    def destroy(self, ref: str) -> None:
        """Delete the key file (irreversible)."""
        self._cache.pop(ref, None)
        self.path_of(ref).unlink(missing_ok=True)
