"""The lifecycle on PostgreSQL: migrations, memoranda, derived status, OCSP/CRL and the bundle, in a fresh database.

Its own database (created and dropped here), because the shared PostgreSQL instance must not see seals retire.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from seal_service.errors import InvalidInput, SealNotUsable
from seal_service.instance import PkiRole
from seal_service.memoranda import china_day, cut_over_instant
from seal_service.services.lifecycle import record_memorandum
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.services.trust_bundle import current_trust_bundle
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Seal
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _postgres_available, make_instance, make_settings
from tests.support.pdfs import sample_licence_pdf
from verifier.bundle import load_trust_bundle


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    problem = _postgres_available()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable at {POSTGRES_URL}: {problem}")
        from tests.support.requirements import require

        require("postgresql", False, f"PostgreSQL not reachable ({problem})")  # a loud skip
    import psycopg

    name = f"seal_lifecycle_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_cut_over_on_postgresql(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    instance = make_instance(make_settings(tmp_path, database_url=pg_url, publication_interval_seconds=0))
    now = datetime.now(UTC)
    day = china_day(now) + timedelta(days=3)
    cut = cut_over_instant(day)
    outcome = record_memorandum(
        instance, department="jc-market", bureau="jc-bureau", items=["JC-004"], effective_on=day, at=now, actor="t"
    )
    assert outcome.retired_seals == ("jc-market-approval",)
    with pytest.raises(InvalidInput, match="conflicts with recorded memorandum"):
        record_memorandum(
            instance,
            department="jc-market",
            bureau="jc-bureau",
            items=["JC-004"],
            effective_on=day - timedelta(days=1),
            at=now,
            actor="t",
        )

    def seal(at: datetime):  # type: ignore[no-untyped-def]
        request = LicenceRequest(
            item_code="JC-004", holder_name="某公司", seal_id="jc-market-approval", level=PadesLevel.B_B
        )
        return seal_licence(instance, sample_licence_pdf(), request, actor="t", at=at)

    assert seal(cut - timedelta(seconds=1)).seal_id == "jc-market-approval"
    with pytest.raises(SealNotUsable, match=f"retired on {day.isoformat()}"):
        seal(cut)
    with instance.sessions() as session:
        cert = x509.load_der_x509_certificate(session.get(Seal, "jc-market-approval").certificates[-1].certificate_der)
    before = ocsp.load_der_ocsp_response(instance.revocation.ocsp.response_for(cert, at=cut - timedelta(seconds=1)))
    after = ocsp.load_der_ocsp_response(instance.revocation.ocsp.response_for(cert, at=cut))
    assert before.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert (after.certificate_status, after.revocation_time_utc) == (ocsp.OCSPCertStatus.REVOKED, cut)
    crl = x509.load_der_x509_crl(instance.revocation.crl("seal-ca", at=cut))
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    issued = current_trust_bundle(instance, at=now)
    bundle = load_trust_bundle(issued.document, trust_roots=[instance.pki.certificate(PkiRole.ROOT)], at=now)
    market = bundle.seal("jc-market-approval")
    assert market is not None and market.retirement is not None and market.retirement.day == day
    assert current_trust_bundle(instance, at=now).version == issued.version
