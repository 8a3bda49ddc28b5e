"""Trust roots: the certificates a verification is anchored to.

Example::

    roots = load_trust_roots(["one-seal-root.pem"])   # several certificates per file are fine

PEM files may hold several ``BEGIN CERTIFICATE`` blocks (other blocks, such as keys, are ignored); a file
without any PEM block is tried as one DER certificate. Anything else is an :class:`~verifier.errors.InputError`
naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509

from verifier.errors import InputError

_PEM_MARKER = b"-----BEGIN CERTIFICATE-----"


def parse_trust_roots(data: bytes, *, source: str = "<bytes>") -> list[x509.Certificate]:
    """The certificates in ``data`` (PEM with one or more certificates, or a single DER certificate)."""
    if _PEM_MARKER in data:
        try:
            return list(x509.load_pem_x509_certificates(data))
        except (ValueError, x509.InvalidVersion) as exc:
            raise InputError(f"{source}: a certificate in this PEM file cannot be read ({exc})") from None
    if b"-----BEGIN" in data:
        raise InputError(f"{source}: no certificate in this PEM file (expected '-----BEGIN CERTIFICATE-----')")
    try:
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, x509.InvalidVersion):
        raise InputError(f"{source}: not a certificate file (expected PEM '-----BEGIN CERTIFICATE-----')") from None


def load_trust_roots(paths: Iterable[str | Path]) -> list[x509.Certificate]:
    """All certificates in the files at ``paths``, in order; at least one in total.

    Raises :class:`~verifier.errors.InputError` for a missing or unreadable file, a file without a
    certificate, or when ``paths`` is empty.
    """
    roots: list[x509.Certificate] = []
    for path in paths:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read trust root file ({exc.strerror or exc})") from None
        roots.extend(parse_trust_roots(data, source=str(path)))
    if not roots:
        raise InputError("at least one trust root is required (give --trust-root PEM or --trust-bundle FILE)")
    return roots
