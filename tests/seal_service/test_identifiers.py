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


# Holder codes (licence data standard: 001 unified social credit code, 111 citizen identity number).
# 11430000006122244L and 11100000000013338W are real published credit codes; 11010519491231002X is the example
# identity number of GB 11643-1999 itself.
@pytest.mark.parametrize(
    ("code", "code_type"),
    [("11430000006122244L", "001"), ("11100000000013338W", "001"), ("11010519491231002X", "111")],
)
def test_real_holder_codes_are_accepted(code: str, code_type: str) -> None:
    from seal_service.identifiers import check_holder_code

    check_holder_code(code, code_type)


@pytest.mark.parametrize(
    ("code", "code_type", "words"),
    [
        ("123", "001", "GB 32100"),
        ("11430000006122244M", "001", "check character 'M'; GB 32100 gives 'L'"),
        ("11430000006122244l", "001", "GB 32100"),
        ("11430000006122244I", "001", "GB 32100"),  # I, O, S, V, Z are not in the code's alphabet
        ("123", "111", "GB 11643"),
        ("110105194912310021", "111", "check character '1'; GB 11643 gives 'X'"),
        ("11010519491231002x", "111", "GB 11643"),  # the check character ten is an upper-case X
        ("110105194902300028", "111", "date of birth"),  # 30 February
        ("11430000006122244L", "111", "GB 11643"),
        ("11010519491231002X", "001", "GB 32100"),
        ("11010519491231002X", "999", "holder code type"),
    ],
)
def test_bad_holder_codes_are_refused_naming_the_field(code: str, code_type: str, words: str) -> None:
    from seal_service.identifiers import check_holder_code

    with pytest.raises(InvalidInput, match=words.replace("(", r"\(")) as caught:
        check_holder_code(code, code_type)
    assert caught.value.field in ("holder_code", "holder_code_type")


def test_refused_identity_numbers_are_masked_in_the_message() -> None:
    from seal_service.identifiers import check_holder_code

    with pytest.raises(InvalidInput) as caught:
        check_holder_code("110105194912310021", "111")
    assert "110105194912310021" not in caught.value.detail and "1101" in caught.value.detail
