"""What the lifecycle policy concludes, with the clock pinned one second either side of every date.

A department seal retired at a memorandum cut-over, a key compromised at T (revoked later, with T as invalidity
date), a certificate superseded at S; each judged by the proven signing time.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from seal_service.memoranda import cut_over_instant
from seal_service.services.trust_bundle import iso
from tests.support.bundles import (
    BUREAU_CREDIT,
    ISSUED,
    MARKET_CREDIT,
    TestPki,
    certificate_entry,
    payload,
    retirement_event,
    signed,
)
from verifier.bundle import TrustBundle, load_trust_bundle
from verifier.policy import apply_lifecycle_policy, evaluate_lifecycle, licence_type_of, seal_identity
from verifier.report import Indication, Message, SealInfo, Verdict, VerificationReport

DAY = date(2026, 7, 1)
CUT = cut_over_instant(DAY)  # 2026-06-30T16:00Z
COMPROMISED = datetime(2026, 5, 10, tzinfo=UTC)  # the invalidity date
REVOKED = datetime(2026, 5, 20, tzinfo=UTC)  # when the compromise was reported
SUPERSEDED = datetime(2026, 4, 1, tzinfo=UTC)
LATER = datetime(2026, 9, 1, tzinfo=UTC)  # the verifier's clock, after every date
SECOND = timedelta(seconds=1)


class World:
    def __init__(self) -> None:
        self.pki = pki = TestPki()
        self.market = pki.seal_certificate("jc-market-approval", MARKET_CREDIT, "晋城市市场监督管理局")
        self.compromised = pki.seal_certificate("jc-bureau-approval", BUREAU_CREDIT, "晋城市行政审批服务管理局")
        self.superseded = pki.seal_certificate("jc-bureau-approval", BUREAU_CREDIT, "晋城市行政审批服务管理局")
        self.current = pki.seal_certificate("jc-bureau-approval", BUREAU_CREDIT, "晋城市行政审批服务管理局")
        market = {
            "id": "jc-market-approval",
            "name": "晋城市市场监督管理局行政许可专用章",
            "authority": "jc-market",
            "credit_code": MARKET_CREDIT,
            "status": "active",
            "certificates": [
                certificate_entry(
                    self.market,
                    {
                        "revoked_at": iso(CUT),
                        "reason": "cessationOfOperation",
                        "invalidity_date": None,
                        "retirement": True,
                    },
                )
            ],
            "history": [retirement_event(DAY, memorandum=3)],
        }
        bureau = {
            "id": "jc-bureau-approval",
            "name": "晋城市行政审批服务管理局行政审批专用章",
            "authority": "jc-bureau",
            "credit_code": BUREAU_CREDIT,
            "status": "active",
            "certificates": [
                certificate_entry(
                    self.compromised,
                    {"revoked_at": iso(REVOKED), "reason": "keyCompromise", "invalidity_date": iso(COMPROMISED)},
                ),
                certificate_entry(
                    self.superseded, {"revoked_at": iso(SUPERSEDED), "reason": "superseded", "invalidity_date": None}
                ),
                certificate_entry(self.current),
            ],
            "history": [],
        }
        items = [
            {
                "code": "JC-004",
                "name": "特种设备使用登记",
                "licence_type": "特种设备使用登记证",
                "licence_type_code": "L4",
                "supervisor": "jc-market",
                "sealed_by": [
                    {"authority": "jc-market", "from": "2015-10-01", "until": DAY.isoformat(), "memorandum": None},
                    {"authority": "jc-bureau", "from": DAY.isoformat(), "until": None, "memorandum": 3},
                ],
            }
        ]
        document = signed(pki, payload(pki, seals=[market, bureau], items=items))
        self.bundle: TrustBundle = load_trust_bundle(document, trust_roots=[pki.certs["root"]], at=ISSUED)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _judge(world: World, cert, signed_at: datetime | None, at: datetime = LATER, **kw):  # type: ignore[no-untyped-def]
    who = seal_identity(cert)
    return evaluate_lifecycle(
        world.bundle,
        seal_id=who.seal_id,
        credit_code=who.credit_code,
        certificate_serial=who.certificate_serial,
        signed_at=signed_at,
        at=at,
        **kw,
    )


def test_sealed_before_the_cut_over_stays_valid_for_good(world: World) -> None:
    finding = _judge(world, world.market, CUT - SECOND)
    assert finding.verdict is Verdict.VALID and finding.indication is Indication.TOTAL_PASSED
    assert "before the seal retired on 2026-07-01" in finding.messages[0].en
    assert "早于印章废止（2026-07-01）" in finding.messages[0].zh


def test_sealed_at_or_after_the_cut_over_is_invalid_and_says_why(world: World) -> None:
    for signed_at in (CUT, CUT + timedelta(days=3)):
        finding = _judge(world, world.market, signed_at)
        assert finding.verdict is Verdict.INVALID and finding.subindication == "REVOKED"
        assert "seal retired on 2026-07-01 (memorandum 3: its items moved to jc-bureau)" in finding.messages[0].en
        assert finding.messages[0].zh.startswith("印章无效：印章 jc-market-approval 已于 2026-07-01 废止")


def test_without_a_timestamp_only_the_verification_time_counts(world: World) -> None:
    assert _judge(world, world.market, None, at=CUT - SECOND).verdict is Verdict.VALID
    finding = _judge(world, world.market, None, at=CUT)
    assert finding.verdict is Verdict.INDETERMINATE and finding.subindication == "REVOKED_NO_POE"
    assert "no time-stamp proves" in finding.messages[0].en


def test_a_compromised_key_is_judged_from_its_invalidity_date(world: World) -> None:
    before = _judge(world, world.compromised, COMPROMISED - SECOND)
    assert before.verdict is Verdict.VALID and "sealed before that" in before.messages[0].en
    after = _judge(world, world.compromised, COMPROMISED)
    assert after.verdict is Verdict.INVALID and after.subindication == "REVOKED"
    assert "compromised since 2026-05-10" in after.messages[0].en
    # Before the compromise was reported, a verifier could not know (time is a parameter).
    assert _judge(world, world.compromised, COMPROMISED, at=REVOKED - SECOND).verdict is Verdict.VALID
    assert _judge(world, world.compromised, None, at=REVOKED).subindication == "REVOKED_NO_POE"


def test_another_revocation_is_judged_from_its_time(world: World) -> None:
    assert _judge(world, world.superseded, SUPERSEDED - SECOND).verdict is Verdict.VALID
    finding = _judge(world, world.superseded, SUPERSEDED)
    assert finding.verdict is Verdict.INVALID and "revoked at 2026-04-01" in finding.messages[0].en
    assert _judge(world, world.current, LATER - SECOND).verdict is Verdict.VALID


def test_the_licence_type_must_be_the_seals_on_that_day(world: World) -> None:
    # The bureau's seal on a JC-004 licence before the transfer; the department's after it.
    early = _judge(world, world.current, CUT - SECOND, licence_type_code="L4")
    assert early.verdict is Verdict.INVALID
    assert "sealed by jc-market, not by jc-bureau" in early.messages[0].en
    assert _judge(world, world.current, CUT, licence_type_code="L4").verdict is Verdict.VALID
    assert _judge(world, world.market, CUT - SECOND, licence_type_code="L4").verdict is Verdict.VALID
    unknown_type = _judge(world, world.current, CUT, licence_type_code="L9")
    assert unknown_type.verdict is Verdict.INVALID and "sealed by nobody" in unknown_type.messages[0].en


def test_what_the_bundle_does_not_know_is_indeterminate(world: World) -> None:
    stranger = world.pki.seal_certificate("nope-approval", MARKET_CREDIT, "某局")
    assert _judge(world, stranger, CUT).subindication == "TRY_LATER"
    unlisted = world.pki.seal_certificate("jc-market-approval", MARKET_CREDIT, "晋城市市场监督管理局")
    finding = _judge(world, unlisted, CUT - SECOND)
    assert finding.verdict is Verdict.INDETERMINATE and "fetch a newer bundle" in finding.messages[0].en
    wrong = evaluate_lifecycle(
        world.bundle,
        seal_id="jc-market-approval",
        credit_code=BUREAU_CREDIT,
        certificate_serial=format(world.market.serial_number, "x"),
        signed_at=CUT - SECOND,
        at=LATER,
    )
    assert wrong.verdict is Verdict.INVALID and "credit code" in wrong.messages[0].en


def test_the_seal_identity_is_read_from_the_certificate(world: World) -> None:
    who = seal_identity(world.market)
    assert (who.seal_id, who.credit_code) == ("jc-market-approval", MARKET_CREDIT)
    assert who.certificate_serial == format(world.market.serial_number, "x")


def _report(world: World, verdict: Verdict, signed_at: datetime, source: str) -> VerificationReport:
    who = seal_identity(world.market)
    return VerificationReport(
        file="licence.pdf",
        verdict=verdict,
        indication=Indication.TOTAL_PASSED if verdict is Verdict.VALID else Indication.TOTAL_FAILED,
        subindication=None if verdict is Verdict.VALID else "HASH_FAILURE",
        seal=SealInfo(
            name="晋城市市场监督管理局行政许可专用章",
            organisation="晋城市市场监督管理局",
            credit_code=who.credit_code,
            seal_id=who.seal_id,
            certificate_serial=who.certificate_serial,
            issuer=None,
        ),
        signed_at=signed_at,
        signed_at_source=source,
        messages=(Message("印章有效", "Seal valid"),),
    )


def test_the_policy_folds_into_a_report(world: World) -> None:
    after = apply_lifecycle_policy(_report(world, Verdict.VALID, CUT, "signature-timestamp"), world.bundle, at=LATER)
    assert after.verdict is Verdict.INVALID and after.indication is Indication.TOTAL_FAILED
    assert after.subindication == "REVOKED" and "seal retired on 2026-07-01" in after.summary
    before = apply_lifecycle_policy(
        _report(world, Verdict.VALID, CUT - SECOND, "signature-timestamp"), world.bundle, at=LATER
    )
    assert before.verdict is Verdict.VALID and before.messages[0].en == "Seal valid"
    assert "before the seal retired" in before.messages[-1].en
    # A time the signer merely claims proves nothing.
    claimed = apply_lifecycle_policy(
        _report(world, Verdict.VALID, CUT - SECOND, "signing-time"), world.bundle, at=LATER
    )
    assert claimed.verdict is Verdict.INDETERMINATE and claimed.subindication == "REVOKED_NO_POE"
    # An already invalid report keeps its verdict.
    broken = _report(world, Verdict.INVALID, CUT, "signature-timestamp")
    assert apply_lifecycle_policy(broken, world.bundle, at=LATER) is broken


def test_the_licence_type_comes_from_the_licence_identifier(world: World) -> None:
    real = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
    assert licence_type_of(real) == "11100000000013338W011"
    assert licence_type_of("not-an-identifier") is None and licence_type_of(None) is None
    who = seal_identity(world.current)
    bureau_seal = SealInfo(
        name="晋城市行政审批服务管理局行政审批专用章",
        organisation="晋城市行政审批服务管理局",
        credit_code=who.credit_code,
        seal_id=who.seal_id,
        certificate_serial=who.certificate_serial,
        issuer=None,
    )
    report = dataclasses.replace(
        _report(world, Verdict.VALID, CUT - SECOND, "signature-timestamp"),
        seal=bureau_seal,
        licence={"identifier": f"1.2.156.3005.2.L4.{BUREAU_CREDIT}.20260000001.001.X"},
    )
    # The bureau sealed a JC-004 licence (type L4) the day before the transfer.
    judged = apply_lifecycle_policy(report, world.bundle, at=LATER)
    assert judged.verdict is Verdict.INVALID and "sealed by jc-market, not by jc-bureau" in judged.summary
    on_the_day = dataclasses.replace(report, signed_at=CUT)
    assert apply_lifecycle_policy(on_the_day, world.bundle, at=LATER).verdict is Verdict.VALID
