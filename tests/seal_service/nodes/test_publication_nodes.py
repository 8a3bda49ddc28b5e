"""Publication caches are per process, but no node keeps serving its own CRL once another node published a newer
one: CRL numbers never go backwards for a client whose requests alternate between nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from seal_service.instance import Instance


def _number(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def test_every_node_serves_the_newest_crl_any_node_published(db_instance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    a = db_instance
    shared = {"database_url": a.settings.resolved_database_url, "keys_dir": a.settings.resolved_keys_dir}
    b = Instance(make_settings(tmp_path / "node-b", **shared))
    at = datetime.now(UTC)
    first = a.revocation.crl("seal-ca", at=at)
    assert b.revocation.crl("seal-ca", at=at) == first  # B serves what A stored
    # B publishes a newer CRL (its publisher, or `seal-service crl publish`, at the same moment as A's).
    newer = b.revocation.crl("seal-ca", at=at + timedelta(seconds=1), fresh=True)
    assert _number(newer) > _number(first)
    later = at + timedelta(seconds=2)
    assert a.revocation.crl("seal-ca", at=later) == newer  # A no longer serves its own cached, older CRL
    assert b.revocation.crl("seal-ca", at=later) == newer
    b.engine.dispose()
