"""A future-dated memorandum takes effect at its cut-over without anyone acting: sealing, OCSP and CRL on each side.

One instance of its own (the shared ``db_instance`` must not see seals retire). The clock is pinned one second
either side of each date; everything is derived from the recorded facts at the instant asked about.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from seal_service.errors import InvalidInput, NotAuthorised, SealNotUsable
from seal_service.instance import PkiRole
from seal_service.memoranda import china_day, cut_over_instant
from seal_service.services.lifecycle import record_memorandum, seal_lifecycles
from seal_service.services.registry import revoke_seal
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Seal, SealStatus
from tests.conftest import make_instance, make_settings

NOW = datetime.now(UTC)
DAY = china_day(NOW) + timedelta(days=10)
CUT = cut_over_instant(DAY)
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    instance = make_instance(make_settings(tmp_path_factory.mktemp("lifecycle")))
    outcome = record_memorandum(
        instance,
        department="jc-market",
        bureau="jc-bureau",
        items=["JC-004"],
        effective_on=DAY,
        reference="晋审管衔〔2026〕7号",
        at=NOW,
        actor="test",
    )
    return instance, outcome


def _seal(instance, *, seal_id: str, item: str, at: datetime):  # type: ignore[no-untyped-def]
    request = LicenceRequest(
        item_code=item, holder_name="晋城市示例特种设备有限公司", seal_id=seal_id, level=PadesLevel.B_B
    )
    return seal_licence(instance, _pdf(), request, actor="test", at=at)


def _pdf() -> bytes:
    from tests.support.pdfs import sample_licence_pdf

    return sample_licence_pdf()


def _certificate(instance, seal_id: str) -> x509.Certificate:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return x509.load_der_x509_certificate(session.get(Seal, seal_id).certificates[-1].certificate_der)


def test_recording_reports_what_retires_and_when(world) -> None:  # type: ignore[no-untyped-def]
    _, outcome = world
    assert outcome.retired_seals == ("jc-market-approval",)
    assert outcome.retires_on == DAY and outcome.cut_over_at == CUT
    assert outcome.memorandum.items == ("JC-004",) and outcome.memorandum.reference == "晋审管衔〔2026〕7号"


def test_the_department_seals_until_the_cut_over_and_is_refused_from_it(world) -> None:  # type: ignore[no-untyped-def]
    instance, outcome = world
    sealed = _seal(instance, seal_id="jc-market-approval", item="JC-004", at=CUT - SECOND)
    assert sealed.seal_id == "jc-market-approval"
    with pytest.raises(SealNotUsable) as info:
        _seal(instance, seal_id="jc-market-approval", item="JC-004", at=CUT)
    assert str(info.value) == (
        f"seal jc-market-approval retired on {DAY.isoformat()} "
        f"(memorandum {outcome.memorandum.id}: its items moved to jc-bureau); it cannot seal"
    )


def test_the_bureau_is_refused_before_the_transfer_and_seals_from_it(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    with pytest.raises(NotAuthorised, match=rf"JC-004 is sealed by jc-market .* it moves to jc-bureau on {DAY}"):
        _seal(instance, seal_id="jc-bureau-approval", item="JC-004", at=CUT - SECOND)
    assert _seal(instance, seal_id="jc-bureau-approval", item="JC-004", at=CUT).seal_id == "jc-bureau-approval"


def test_refusals_say_why(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    # An item the department handed over in 2019 (policy file).
    with pytest.raises(NotAuthorised, match=r"JC-001 is sealed by jc-bureau .* it moved from jc-market on 2019-04-28"):
        _seal(instance, seal_id="jc-market-approval", item="JC-001", at=CUT - SECOND)
    # Another jurisdiction's bureau, after the transfer.
    with pytest.raises(NotAuthorised, match=r"JC-004 is sealed by jc-bureau .*not by zz-bureau: it has not been"):
        _seal(instance, seal_id="zz-bureau-approval", item="JC-004", at=CUT)


def test_seal_status_is_derived_at_the_instant_asked_about(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    before = {v.id: v for v in seal_lifecycles(instance, at=CUT - SECOND)}
    after = {v.id: v for v in seal_lifecycles(instance, at=CUT)}
    assert before["jc-market-approval"].state.status is SealStatus.ACTIVE
    assert after["jc-market-approval"].state.status is SealStatus.RETIRED
    assert after["jc-market-approval"].state.since == CUT
    assert after["jc-bureau-approval"].state.status is SealStatus.ACTIVE
    # Nothing was written to the seal row: the database still says active.
    with instance.sessions() as session:
        assert session.get(Seal, "jc-market-approval").status == SealStatus.ACTIVE.value


def _ocsp(instance, cert: x509.Certificate, at: datetime) -> ocsp.OCSPResponse:  # type: ignore[no-untyped-def]
    return ocsp.load_der_ocsp_response(instance.revocation.ocsp.response_for(cert, at=at))


def test_ocsp_is_good_before_the_cut_over_and_revoked_from_it(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    cert = _certificate(instance, "jc-market-approval")
    now = _ocsp(instance, cert, NOW)
    assert now.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert now.next_update_utc == NOW.replace(microsecond=0) + timedelta(hours=12)
    before = _ocsp(instance, cert, CUT - SECOND)
    assert before.certificate_status is ocsp.OCSPCertStatus.GOOD
    # A "good" answer never vouches past the scheduled revocation.
    assert before.next_update_utc == CUT
    after = _ocsp(instance, cert, CUT)
    assert after.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_time_utc == CUT
    assert after.revocation_reason is x509.ReasonFlags.cessation_of_operation
    # The bureau's seal is untouched.
    assert _ocsp(instance, _certificate(instance, "jc-bureau-approval"), CUT).certificate_status.name == "GOOD"


def test_the_crl_lists_the_retired_certificate_from_the_cut_over(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    ca = instance.pki.certificate(PkiRole.SEAL_CA)
    serial = _certificate(instance, "jc-market-approval").serial_number
    before = x509.load_der_x509_crl(instance.revocation.crl("seal-ca", at=CUT - timedelta(days=1)))
    after = x509.load_der_x509_crl(instance.revocation.crl("seal-ca", at=CUT + SECOND))
    assert before.get_revoked_certificate_by_serial_number(serial) is None
    assert before.next_update_utc == CUT  # a CRL never vouches past a scheduled cut-over
    entry = after.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None and entry.revocation_date_utc == CUT
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.cessation_of_operation
    )
    number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert after.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    # Asked again while fresh, the same CRL (same number) is served: pre-produced, not re-signed per request.
    assert instance.revocation.crl("seal-ca", at=CUT + 2 * SECOND) == instance.revocation.crl(
        "seal-ca", at=CUT + SECOND
    )


def test_key_compromise_flows_through_with_its_invalidity_date(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    # Revoked at a pinned later instant, so the earlier-pinned checks in this module are unaffected.
    revoked_at = CUT + timedelta(days=20)
    compromised = CUT + timedelta(days=15)
    revoke_seal(instance, "zz-bureau-approval", reason="keyCompromise", at=revoked_at, invalidity_date=compromised)
    cert = _certificate(instance, "zz-bureau-approval")
    assert _ocsp(instance, cert, revoked_at - SECOND).certificate_status is ocsp.OCSPCertStatus.GOOD
    response = _ocsp(instance, cert, revoked_at)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert response.single_extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == (
        compromised
    )
    crl = x509.load_der_x509_crl(instance.revocation.crl("seal-ca", at=revoked_at + SECOND))
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == compromised
    with pytest.raises(SealNotUsable, match=r"seal zz-bureau-approval is revoked \(revoked on .*keyCompromise\)"):
        _seal(instance, seal_id="zz-bureau-approval", item="ZZ-001", at=revoked_at + SECOND)
    with pytest.raises(InvalidInput, match="invalidity date"):
        revoke_seal(instance, "zz-bureau-approval", reason="keyCompromise", at=NOW, invalidity_date=NOW + SECOND)


def test_a_later_compromise_of_a_retired_key_keeps_the_cut_over_as_revocation_time(world) -> None:  # type: ignore[no-untyped-def]
    instance, _ = world
    cert = _certificate(instance, "jc-market-approval")
    later = CUT + timedelta(days=30)
    revoke_seal(
        instance, "jc-market-approval", reason="keyCompromise", at=later, invalidity_date=later - timedelta(days=1)
    )
    response = _ocsp(instance, cert, later + SECOND)
    # Documents sealed between the cut-over and the compromise must not start to look good.
    assert response.revocation_time_utc == CUT
    assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_memoranda_are_refused_when_they_conflict_or_come_too_late(world) -> None:  # type: ignore[no-untyped-def]
    instance, outcome = world
    # Moving JC-004 earlier would leave the recorded memorandum nothing to move.
    with pytest.raises(InvalidInput, match=rf"conflicts with recorded memorandum {outcome.memorandum.id}"):
        record_memorandum(
            instance,
            department="jc-market",
            bureau="jc-bureau",
            items=["JC-004"],
            effective_on=DAY - timedelta(days=3),
            at=NOW,
            actor="test",
        )
    # jc-housing seals JC-005 now; a cut-over that has already begun would turn that licence invalid.
    now = datetime.now(UTC)  # not NOW: the module is imported before the instance (and its certificates) exist
    _seal(instance, seal_id="jc-housing-approval", item="JC-005", at=now)
    with pytest.raises(InvalidInput, match=r"jc-housing has sealed 1 licence\(s\) since"):
        record_memorandum(
            instance,
            department="jc-housing",
            bureau="jc-bureau",
            items=None,
            effective_on=china_day(now),
            at=now + SECOND,
            actor="test",
        )
    # The whole department, a few days later: all its remaining items move and its seal retires then.
    whole = record_memorandum(
        instance,
        department="jc-housing",
        bureau="jc-bureau",
        items=None,
        effective_on=DAY + timedelta(days=5),
        at=now + SECOND,
        actor="test",
    )
    assert whole.memorandum.items == ("JC-005",) and whole.memorandum.whole_department
    assert whole.retired_seals == ("jc-housing-approval",) and whole.retires_on == DAY + timedelta(days=5)


def test_init_adds_the_bundle_signer_to_an_instance_made_before_it_existed(world) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.bootstrap import initialise
    from seal_service.storage.models import PkiCertificate

    instance, _ = world
    with instance.writer.begin() as session:
        row = session.get(PkiCertificate, PkiRole.BUNDLE.value)
        ref = row.key_ref
        session.delete(row)
    instance.keys.destroy(ref)
    instance.reset_caches()
    report = initialise(instance, at=datetime.now(UTC))
    assert report.created == ["pki bundle"] and "pki root" in report.present
    bundle = instance.pki.certificate(PkiRole.BUNDLE)
    bundle.verify_directly_issued_by(instance.pki.certificate(PkiRole.ROOT))
    eku = bundle.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and [oid.dotted_string for oid in eku.value] == ["2.25.204790046195683481055966156548470354339"]
