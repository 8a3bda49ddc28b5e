"""RFC 5280 certificate revocation lists, signed by the issuing CA.

Example::

    der = build_crl(
        issuer=issuing_ca_cert,
        issuer_key=issuing_ca_key,
        revoked=[RevokedEntry(0x1234, datetime(2025, 3, 1, tzinfo=UTC), x509.ReasonFlags.key_compromise)],
        number=42,
        this_update=datetime(2025, 3, 1, 12, tzinfo=UTC),
        next_update=datetime(2025, 3, 8, 12, tzinfo=UTC),
    )  # serve as application/pkix-crl

Times are parameters (nothing here reads the clock) and are truncated to whole seconds, as RFC 5280
§4.1.2.5 requires of certificate/CRL times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["RevokedEntry", "build_crl"]

# RFC 5280 §5.2.3: CRL numbers are non-negative and at most 20 octets.
_MAX_CRL_NUMBER = (1 << 159) - 1


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate as it appears on the CRL.

    ``reason`` ``None`` (or ``unspecified``, which RFC 5280 §5.3.1 says SHOULD be omitted) gives an
    entry without a reasonCode; ``invalidity_date`` is when the key is known or suspected to have been
    compromised, which may predate ``revoked_at``.
    """

    serial_number: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None
    invalidity_date: datetime | None = None


def build_crl(
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    revoked: Iterable[RevokedEntry],
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """DER CRL signed by the issuing CA with CRL number, authority key identifier, reason codes and
    invalidity dates.

    :raises ValueError: key does not match ``issuer``, bad CRL number, ``next_update`` not after
        ``this_update``, naive datetimes, or a serial listed twice.
    """
    _check_key_matches(issuer, issuer_key)
    if not 0 <= number <= _MAX_CRL_NUMBER:
        raise ValueError("CRL number must be between 0 and 2**159 - 1")
    this_update, next_update = _utc_seconds(this_update), _utc_seconds(next_update)
    if next_update <= this_update:
        raise ValueError("next_update must be after this_update")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority_key_identifier(issuer), critical=False)
    )
    seen: set[int] = set()
    for entry in revoked:
        if entry.serial_number in seen:
            raise ValueError(f"serial {entry.serial_number:#x} listed twice")
        seen.add(entry.serial_number)
        builder = builder.add_revoked_certificate(_revoked_certificate(entry))
    return builder.sign(issuer_key, _signature_hash(issuer_key)).public_bytes(serialization.Encoding.DER)


def _revoked_certificate(entry: RevokedEntry) -> x509.RevokedCertificate:
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial_number)
        .revocation_date(_utc_seconds(entry.revoked_at))
    )
    if entry.reason is not None and entry.reason is not x509.ReasonFlags.unspecified:
        builder = builder.add_extension(x509.CRLReason(entry.reason), critical=False)
    if entry.invalidity_date is not None:
        builder = builder.add_extension(x509.InvalidityDate(_utc_seconds(entry.invalidity_date)), critical=False)
    return builder.build()


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    # Reuse the CA's own subjectKeyIdentifier when it has one: relying parties match the AKI against
    # it byte for byte, and the CA may not have derived it with the RFC 5280 SHA-1 method.
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _signature_hash(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _check_key_matches(issuer: x509.Certificate, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != issuer.public_key().public_bytes(der, spki):
        raise ValueError("issuer_key does not match the issuer certificate")


def _utc_seconds(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return at.astimezone(UTC).replace(microsecond=0)
