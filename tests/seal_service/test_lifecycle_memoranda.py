"""Memoranda applied to the catalogue, and the retirements that follow: pure rules, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from seal_service.catalogue import load_catalogue
from seal_service.errors import InvalidInput, PolicyError
from seal_service.memoranda import (
    Memorandum,
    apply_memoranda,
    apply_memorandum,
    china_day,
    cut_over_instant,
    items_sealed_by,
    retirements,
)

DEMO = Path(__file__).resolve().parents[2] / "policies" / "catalogue.toml"
CUT = date(2027, 1, 1)


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    return load_catalogue(DEMO)


def _memo(memo_id: int = 1, **changes: object) -> Memorandum:
    fields: dict[str, object] = {
        "id": memo_id,
        "department": "jc-market",
        "bureau": "jc-bureau",
        "effective_on": CUT,
        "items": ("JC-004",),
    }
    fields.update(changes)
    return Memorandum(**fields)  # type: ignore[arg-type]


def test_the_cut_over_is_midnight_china_time() -> None:
    assert cut_over_instant(CUT) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert china_day(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert china_day(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == CUT


def test_a_memorandum_moves_its_items_on_its_day_and_not_before(catalogue) -> None:  # type: ignore[no-untyped-def]
    effective = apply_memoranda(catalogue, [_memo()])
    item = effective.item("JC-004")
    assert item.sealing_authority(date(2026, 12, 31)) == "jc-market"  # 先立后破: the department still seals
    assert item.sealing_authority(CUT) == "jc-bureau"
    assert [(p.authority, p.end, p.memorandum) for p in item.sealed_by] == [
        ("jc-market", CUT, None),
        ("jc-bureau", None, 1),
    ]
    # The policy file itself is untouched (the effective catalogue is derived).
    assert catalogue.item("JC-004").sealing_authority(CUT) == "jc-market"


def test_the_department_seal_retires_when_its_last_item_moves(catalogue) -> None:  # type: ignore[no-untyped-def]
    # jc-market's JC-001/JC-002 moved in 2019 (policy file); JC-004 is its last item.
    assert "jc-market" not in retirements(catalogue)
    retired = retirements(apply_memoranda(catalogue, [_memo(7)]))
    assert retired["jc-market"].day == CUT
    assert retired["jc-market"].memorandum == 7 and retired["jc-market"].successor == "jc-bureau"
    assert retired["jc-market"].at == cut_over_instant(CUT)
    assert "jc-housing" not in retired  # JC-005 still with housing


def test_a_partial_handover_retires_nothing(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace(
        '  { authority = "jc-market", from = "2015-10-01", until = "2019-04-28" },\n'
        '  { authority = "jc-bureau", from = "2019-04-28" },\n]\n\n[[items]]\ncode = "JC-002"',
        '  { authority = "jc-market", from = "2015-10-01" },\n]\n\n[[items]]\ncode = "JC-002"',
        1,
    )
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    catalogue = load_catalogue(path)
    assert items_sealed_by(catalogue, "jc-market", CUT) == ("JC-001", "JC-004")
    effective = apply_memoranda(catalogue, [_memo()])
    assert "jc-market" not in retirements(effective)
    both = apply_memoranda(catalogue, [_memo(1), _memo(2, items=("JC-001",), effective_on=date(2027, 3, 1))])
    assert retirements(both)["jc-market"].day == date(2027, 3, 1)
    assert retirements(both)["jc-market"].memorandum == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"items": ("JC-001",)}, r"JC-001 is sealed by jc-bureau on 2027-01-01, not by jc-market"),
        ({"bureau": "zz-bureau"}, r"different jurisdictions"),
        ({"department": "jc-bureau", "bureau": "zz-bureau"}, r"jc-bureau is a bureau, not a department"),
        ({"bureau": "jc-housing"}, r"jc-housing is a department, not a bureau"),
        ({"items": ("NOPE",)}, r"unknown approval item 'NOPE'"),
        ({"items": ("JC-004", "JC-004")}, r"listed twice"),
        ({"items": ()}, r"moves no items"),
    ],
)
def test_refuses_memoranda_that_cannot_apply(catalogue, changes, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        apply_memorandum(catalogue, _memo(**changes))


def test_a_recorded_memorandum_that_no_longer_fits_the_file_is_a_policy_error(catalogue) -> None:  # type: ignore[no-untyped-def]
    # Two memoranda moving the same item: the second no longer applies.
    with pytest.raises(PolicyError, match=r"recorded memorandum 2 no longer applies"):
        apply_memoranda(catalogue, [_memo(1), _memo(2, effective_on=date(2027, 2, 1))])


def test_policy_errors_name_file_line_and_key_path(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace('credit_code = "11140500MB0456789A"', 'credit_code = "bad"', 1)
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_catalogue(path)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if 'credit_code = "bad"' in row)
    assert str(info.value).startswith(f"{path}:{line}: authorities[3].credit_code:")


def test_policy_errors_point_into_inline_periods(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace(
        '{ authority = "jc-market", from = "2015-10-01" },', '{ authority = "jc-market", from = "2015-13-01" },', 1
    )
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_catalogue(path)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "2015-13-01" in row)
    assert f"{path}:{line}: items[3].sealed_by[0].from: expected a date" in str(info.value)
