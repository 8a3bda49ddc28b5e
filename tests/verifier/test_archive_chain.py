"""verifier/archive_chain.py: the words for a chain that no longer proves anything, and the TSA revocation policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyhanko_certvalidator.policy_decl import RevocationCheckingRule

from verifier.archive_chain import TimestampLink, chain_problem, tsa_revocation_policy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _link(name: str, revision: int, made: datetime, expires: datetime) -> TimestampLink:
    return TimestampLink(field_name=name, revision=revision, gen_time=made, tsa_serial=revision, tsa_not_after=expires)


def test_an_intact_chain_has_no_problem_until_its_newest_link_expires() -> None:
    chain = (
        _link("ArchiveTimestamp", 1, T0, T0 + timedelta(days=700)),
        _link("ArchiveTimestamp2", 2, T0 + timedelta(days=690), T0 + timedelta(days=1400)),
    )
    assert chain_problem(chain, at=T0 + timedelta(days=1000)) is None
    expired = chain_problem(chain, at=T0 + timedelta(days=1401))
    assert expired is not None and "ArchiveTimestamp2" in expired.en and "expired" in expired.en
    assert "过期" in expired.zh


def test_a_late_renewal_breaks_the_chain() -> None:
    chain = (
        _link("ArchiveTimestamp", 1, T0, T0 + timedelta(days=700)),
        _link("ArchiveTimestamp2", 2, T0 + timedelta(days=710), T0 + timedelta(days=1400)),
    )
    broken = chain_problem(chain, at=T0 + timedelta(days=800))
    assert broken is not None and "renewed too late" in broken.en and "续期过晚" in broken.zh


def test_no_document_time_stamp_no_message() -> None:
    assert chain_problem((), at=T0) is None


def test_time_stamping_units_are_checked_where_their_certificate_says() -> None:
    policy = tsa_revocation_policy().revocation_checking_policy
    assert policy.ee_certificate_rule is RevocationCheckingRule.CHECK_IF_DECLARED
    assert policy.intermediate_ca_cert_rule is RevocationCheckingRule.CHECK_IF_DECLARED
