"""The catalogue is loaded strictly: every mistake is named with its file and key path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from seal_service.catalogue import load_catalogue
from seal_service.errors import NotFound, PolicyError

DEMO = Path(__file__).resolve().parents[2] / "policies" / "catalogue.toml"


def test_demo_catalogue_loads_with_the_pilot_cut_over() -> None:
    cat = load_catalogue(DEMO)
    item = cat.item("JC-001")
    assert item.sealing_authority(date(2019, 4, 27)) == "jc-market"
    assert item.sealing_authority(date(2019, 4, 28)) == "jc-bureau"
    assert cat.item("JC-004").sealing_authority(date(2026, 11, 28)) == "jc-market"
    assert {a.kind.value for a in cat.authorities.values()} == {"bureau", "department"}
    with pytest.raises(NotFound, match="unknown approval item 'NOPE'"):
        cat.item("NOPE")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
version = 1
[[authorities]]
code = "b"
name = "某局"
kind = "bureau"
jurisdiction = "140500"
credit_code = "11140500MB01234568"
seal_title = "行政审批专用章"
"""


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            '[[items]]\ncode="I"\nname="n"\nlicence_type="t"\nlicence_type_code="A1"\nsupervisor="b"\ncolour="red"\n'
            'sealed_by=[{authority="b", from="2020-01-01"}]',
            r"items\[0\]: unknown key\(s\) colour",
        ),
        (
            '[[items]]\ncode="I"\nname="n"\nlicence_type="t"\nlicence_type_code="A1"\nsupervisor="x"\n'
            'sealed_by=[{authority="b", from="2020-01-01"}]',
            r"items\[0\]\.supervisor: unknown authority 'x'",
        ),
        (
            '[[items]]\ncode="I"\nname="n"\nlicence_type="t"\nlicence_type_code="A1"\nsupervisor="b"\n'
            'sealed_by=[{authority="b", from="2020-01-01", until="2021-01-01"}, {authority="b", from="2020-06-01"}]',
            r"items\[0\]\.sealed_by: periods overlap",
        ),
        (
            '[[items]]\ncode="I"\nname="n"\nlicence_type="t"\nlicence_type_code="A1"\nsupervisor="b"\n'
            'sealed_by=[{authority="b", from="2020-13-01"}]',
            r"items\[0\]\.sealed_by\[0\]\.from: expected a date",
        ),
    ],
)
def test_refuses_bad_catalogues_naming_the_key_path(tmp_path: Path, items: str, message: str) -> None:
    path = _write(tmp_path, BASE + items)
    with pytest.raises(PolicyError, match=message) as info:
        load_catalogue(path)
    assert str(path) in str(info.value)


def test_refuses_a_bad_credit_code(tmp_path: Path) -> None:
    path = _write(tmp_path, "items = []\n" + BASE.replace("11140500MB01234568", "11140500MB01234569"))
    with pytest.raises(PolicyError, match=r"authorities\[0\]\.credit_code"):
        load_catalogue(path)


def test_refuses_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"catalogue\.toml"):
        load_catalogue(_write(tmp_path, "version = = 1"))
