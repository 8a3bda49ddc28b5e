"""GB/T 36904 licence identifiers and GB 32100 credit codes, against real published examples."""

from __future__ import annotations

import pytest

from seal_service.errors import InvalidInput
from seal_service.identifiers import (
    check_licence_identifier,
    credit_code_check_char,
    is_valid_credit_code,
    iso7064_mod37_36,
    licence_identifier,
)

# A real identifier as licence platforms publish it (see ../shared/brief/mission.md).
REAL_IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"


def test_builds_the_published_identifier_with_its_check_character() -> None:
    assert licence_identifier("11100000000013338W011", "11430000006122244L", "20230000403", 1) == REAL_IDENTIFIER


def test_accepts_the_published_identifier() -> None:
    check_licence_identifier(REAL_IDENTIFIER)


@pytest.mark.parametrize(
    "mutated",
    [
        REAL_IDENTIFIER[:-1] + "V",  # wrong check character
        REAL_IDENTIFIER.replace("20230000403", "20230000404"),  # serial changed, check kept
        REAL_IDENTIFIER.replace(".001.", ".002."),  # version changed
    ],
)
def test_detects_a_changed_identifier(mutated: str) -> None:
    with pytest.raises(InvalidInput, match="check character"):
        check_licence_identifier(mutated)


def test_refuses_malformed_identifiers() -> None:
    with pytest.raises(InvalidInput):
        check_licence_identifier("1.2.3.4")
    with pytest.raises(InvalidInput):
        check_licence_identifier("1.2.156.3005.2.A.B.C.01.X")
    with pytest.raises(InvalidInput):
        iso7064_mod37_36("abc-")


def test_check_character_catches_every_single_character_substitution() -> None:
    # ISO 7064 MOD 37,36 detects all single substitution errors: try every one on a real value.
    data = "11100000000013338W01111430000006122244L20230000403001"
    good = iso7064_mod37_36(data)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i, original in enumerate(data):
        for replacement in alphabet:
            if replacement != original:
                assert iso7064_mod37_36(data[:i] + replacement + data[i + 1 :]) != good


def test_credit_codes() -> None:
    assert is_valid_credit_code("11430000006122244L")  # from the real identifier above
    assert is_valid_credit_code("91350100M000100Y43")  # the GB 32100 standard's own example
    assert not is_valid_credit_code("91350100M000100Y44")
    assert not is_valid_credit_code("9135010OM000100Y43")  # letter O is not in the alphabet
    assert credit_code_check_char("11140500MB0123456") == "8"
