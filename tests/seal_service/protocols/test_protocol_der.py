"""The little DER writer used on the hot paths agrees with asn1crypto's encoder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from asn1crypto import core

from seal_service.protocols import _der


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 255, 256, -1, -128, -129, -256, 2**63, -(2**63), 2**128 - 1, 2**159, -(2**200)]
)
def test_integer(value: int) -> None:
    assert _der.integer(value) == core.Integer(value).dump()
    assert _der.integer(value, _der.ENUMERATED) == b"\x0a" + core.Integer(value).dump()[1:]


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 65535, 65536, 70000])
def test_lengths(size: int) -> None:
    payload = bytes(size)
    assert _der.octet_string(payload) == core.OctetString(payload).dump()


def test_generalized_time_is_utc_whole_seconds() -> None:
    taipei = timezone(timedelta(hours=8))
    at = datetime(2025, 6, 1, 20, 0, 5, 999_999, tzinfo=taipei)
    assert _der.generalized_time(at) == b"\x18\x0f20250601120005Z"
    assert (
        _der.generalized_time(at.replace(microsecond=0))
        == core.GeneralizedTime(datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC)).dump()
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        _der.generalized_time(datetime(2025, 6, 1))


def test_set_of_is_sorted_and_context_tags() -> None:
    elements = [core.Integer(300).dump(), core.Integer(5).dump(), core.OctetString(b"a").dump()]
    expected = core.SetOf([core.Any.load(e) for e in elements], spec=core.Any).dump()
    assert _der.set_of(*elements) == expected
    assert _der.context(1, b"\x05\x00") == b"\xa1\x02\x05\x00"
    assert _der.context(2, b"", constructed=False) == b"\x82\x00"
    assert _der.bit_string(b"\xff") == core.BitString((1,) * 8).dump()
