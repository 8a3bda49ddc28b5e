"""RFC 5280 CRLs: signature and content checked by ``openssl crl`` and by ``cryptography``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from seal_service.protocols.crl import RevokedEntry, build_crl

THIS_UPDATE = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
NEXT_UPDATE = datetime(2025, 6, 8, 12, 0, 0, tzinfo=UTC)
REVOKED_AT = datetime(2025, 5, 20, 8, 30, 0, tzinfo=UTC)
COMPROMISED_SINCE = datetime(2025, 5, 18, 0, 0, 0, tzinfo=UTC)


def _crl(pki, revoked: list[RevokedEntry], number: int = 42) -> bytes:
    return build_crl(
        issuer=pki.ca.cert,
        issuer_key=pki.ca.key,
        revoked=revoked,
        number=number,
        this_update=THIS_UPDATE,
        next_update=NEXT_UPDATE,
    )


def _entries(pki) -> list[RevokedEntry]:
    return [
        RevokedEntry(pki.leaf.cert.serial_number, REVOKED_AT, x509.ReasonFlags.key_compromise, COMPROMISED_SINCE),
        RevokedEntry(0xABCDEF, REVOKED_AT + timedelta(hours=1), x509.ReasonFlags.superseded),
        RevokedEntry(0x123456, REVOKED_AT + timedelta(hours=2)),
    ]


def test_openssl_verifies_and_shows_entries(pki, openssl, tmp_path: Path) -> None:
    (tmp_path / "x.crl").write_bytes(_crl(pki, _entries(pki)))

    result = openssl(
        "crl", "-inform", "DER", "-in", tmp_path / "x.crl", "-CAfile", pki.root_and_ca_pem, "-noout", "-text"
    )  # fmt: skip

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "verify OK" in output
    assert "Last Update: Jun  1 12:00:00 2025 GMT" in output
    assert "Next Update: Jun  8 12:00:00 2025 GMT" in output
    assert "X509v3 CRL Number: \n                42" in output
    assert "Serial Number: 5EA10001" in output
    assert "Revocation Date: May 20 08:30:00 2025 GMT" in output
    assert "Key Compromise" in output
    assert "Invalidity Date: \n                May 18 00:00:00 2025 GMT" in output
    assert "Superseded" in output


def test_cryptography_reads_everything_back(pki) -> None:
    crl = x509.load_der_x509_crl(_crl(pki, _entries(pki), number=7))

    assert crl.is_signature_valid(pki.ca.cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == pki.ca.cert.subject
    assert crl.last_update_utc == THIS_UPDATE
    assert crl.next_update_utc == NEXT_UPDATE
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest

    leaf = crl.get_revoked_certificate_by_serial_number(pki.leaf.cert.serial_number)
    assert leaf is not None
    assert leaf.revocation_date_utc == REVOKED_AT
    assert leaf.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert leaf.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == (COMPROMISED_SINCE)
    plain = crl.get_revoked_certificate_by_serial_number(0x123456)
    assert plain is not None and len(plain.extensions) == 0  # no reason -> no reasonCode at all
    assert len(crl) == 3


def test_empty_crl_and_unspecified_reason(pki) -> None:
    empty = x509.load_der_x509_crl(_crl(pki, []))
    assert len(empty) == 0 and empty.is_signature_valid(pki.ca.cert.public_key())  # type: ignore[arg-type]

    unspecified = x509.load_der_x509_crl(_crl(pki, [RevokedEntry(1, REVOKED_AT, x509.ReasonFlags.unspecified)]))
    # RFC 5280 §5.3.1: reasonCode "unspecified" SHOULD be absent.
    assert len(unspecified[0].extensions) == 0


def test_rejects_bad_input(pki) -> None:
    with pytest.raises(ValueError, match="does not match"):
        build_crl(
            issuer=pki.ca.cert, issuer_key=ec.generate_private_key(ec.SECP256R1()), revoked=[], number=1,
            this_update=THIS_UPDATE, next_update=NEXT_UPDATE,
        )  # fmt: skip
    with pytest.raises(ValueError, match="next_update"):
        build_crl(
            issuer=pki.ca.cert, issuer_key=pki.ca.key, revoked=[], number=1,
            this_update=NEXT_UPDATE, next_update=THIS_UPDATE,
        )  # fmt: skip
    with pytest.raises(ValueError, match="CRL number"):
        _crl(pki, [], number=-1)
    with pytest.raises(ValueError, match="twice"):
        _crl(pki, [RevokedEntry(5, REVOKED_AT), RevokedEntry(5, REVOKED_AT)])
    with pytest.raises(ValueError, match="timezone-aware"):
        _crl(pki, [RevokedEntry(5, datetime(2025, 1, 1))])
