"""Key references and the file key store.

Keys are referenced, never passed around raw. A reference names where a key lives:

- ``file:NAME`` — an encrypted PKCS#8 PEM file ``NAME.key.pem`` in the instance's key store directory;
- ``pkcs11:token=T;object=LABEL;id=%..`` — a non-extractable key in a PKCS#11 token (HSM), see
  :mod:`seal_service.keys.pkcs11`.

:class:`KeyResolver` is the one place that turns a reference into a key object the sealer can sign with, and
that generates and destroys keys in either backend.

Example::

    >>> store = FileKeyStore(Path("/tmp/keys"), passphrase=b"correct horse battery staple")  # doctest: +SKIP
    >>> ref = store.generate("seal-jc-bureau-1", KeyAlgorithm.EC_P256)                      # doctest: +SKIP
    >>> store.load(ref)                                                                      # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from seal_service.errors import ConfigurationError, KeyUnavailable
from seal_service.settings import KeyAlgorithm, KeyBackend

if TYPE_CHECKING:
    from seal_service.keys.pkcs11 import Pkcs11Config, Pkcs11KeyStore

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def generate_private_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """A fresh private key of the given algorithm."""
    if algorithm is KeyAlgorithm.RSA_3072:
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return ec.generate_private_key(ec.SECP256R1())


class FileKeyStore:
    """Encrypted PKCS#8 keys in one directory (mode 0700, files 0600)."""

    def __init__(self, directory: Path, *, passphrase: bytes) -> None:
        if not passphrase:
            raise ConfigurationError("the file key store needs a passphrase")
        self.directory = directory
        self._passphrase = passphrase

    def path_of(self, ref: str) -> Path:
        """The file a ``file:`` reference points to; refuses anything outside the store."""
        if not ref.startswith("file:"):
            raise KeyUnavailable(f"not a file key reference: {ref.split(':', 1)[0]}:...")
        name = ref[len("file:") :]
        if not _NAME_RE.match(name):
            raise KeyUnavailable(f"malformed key name in reference {ref!r}")
        return self.directory / f"{name}.key.pem"

    def exists(self, ref: str) -> bool:
        """True when the key file exists."""
        return self.path_of(ref).exists()

    def store(self, name: str, key: PrivateKey) -> str:
        """Write ``key`` encrypted under the store passphrase; never overwrites. Returns the reference."""
        ref = f"file:{name}"
        path = self.path_of(ref)
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        pem = key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.BestAvailableEncryption(self._passphrase),
        )
        # O_EXCL: an existing key is never overwritten, even by a concurrent init.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigurationError(f"key file {path.name} already exists; refusing to overwrite") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return ref

    def generate(self, name: str, algorithm: KeyAlgorithm) -> tuple[str, PrivateKey]:
        """Generate and store a new key; returns its reference and the key."""
        key = generate_private_key(algorithm)
        return self.store(name, key), key

    def load(self, ref: str) -> PrivateKey:
        """Load and decrypt the key behind ``ref``."""
        path = self.path_of(ref)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyUnavailable(f"key {ref} cannot be read: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(data, password=self._passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyUnavailable(f"key {ref} cannot be decrypted (wrong passphrase?)") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise KeyUnavailable(f"key {ref} is neither EC nor RSA")
        return key


class KeyResolver:
    """The one place that turns a key reference into a usable private key (cached per process).

    PKCS#11 keys resolve to :class:`~seal_service.keys.pkcs11.HsmEcPrivateKey` or ``HsmRsaPrivateKey``: objects
    with cryptography's private-key interface whose ``sign`` asks the token, and whose export methods refuse.
    """

    def __init__(self, file_store: FileKeyStore, *, pkcs11: Pkcs11Config | None = None) -> None:
        self.file_store = file_store
        self._cache: dict[str, PrivateKey] = {}
        self._pkcs11_config = pkcs11
        self._pkcs11: Pkcs11KeyStore | None = None
        self._pkcs11_lock = threading.Lock()

    @property
    def pkcs11(self) -> Pkcs11KeyStore:
        """The PKCS#11 key store (opened on first use); refused when no module is configured."""
        if self._pkcs11 is None:
            if self._pkcs11_config is None:
                raise KeyUnavailable("PKCS#11 keys need SEAL_PKCS11_MODULE (and SEAL_PKCS11_PIN or _PIN_FILE)")
            from seal_service.keys.pkcs11 import Pkcs11KeyStore

            with self._pkcs11_lock:
                if self._pkcs11 is None:
                    self._pkcs11 = Pkcs11KeyStore(self._pkcs11_config)
        return self._pkcs11

    @staticmethod
    def backend_of(ref: str) -> KeyBackend:
        """Which backend a reference points into."""
        if ref.startswith("file:"):
            return KeyBackend.FILE
        if ref.startswith("pkcs11:"):
            return KeyBackend.PKCS11
        raise KeyUnavailable(f"unknown key reference scheme in {ref.split(':', 1)[0]!r}")

    def generate(self, name: str, algorithm: KeyAlgorithm, *, backend: KeyBackend) -> tuple[str, PrivateKey]:
        """Generate a key named ``name`` in ``backend``; returns its reference and the (usable) key."""
        if backend is KeyBackend.PKCS11:
            ref, key = self.pkcs11.generate(name, algorithm)
        else:
            ref, key = self.file_store.generate(name, algorithm)
        self._cache[ref] = key
        return ref, key

    def destroy(self, ref: str) -> None:
        """Destroy the key behind ``ref`` (file deleted, token objects destroyed). Irreversible."""
        self._cache.pop(ref, None)
        if self.backend_of(ref) is KeyBackend.PKCS11:
            self.pkcs11.destroy(ref)
        else:
            self.file_store.path_of(ref).unlink(missing_ok=True)

    def resolve(self, ref: str) -> PrivateKey:
        """The private key behind ``ref``, loaded once per process (pyHanko would reload it per signature)."""
        key = self._cache.get(ref)
        if key is None:
            if ref.startswith("file:"):
                key = self.file_store.load(ref)
            elif ref.startswith("pkcs11:"):
                key = self.pkcs11.load(ref)
            else:
                raise KeyUnavailable(f"unknown key reference scheme in {ref.split(':', 1)[0]!r}")
            self._cache[ref] = key
        return key
