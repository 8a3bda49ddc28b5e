"""Identifiers from the Chinese standards the service must speak.

- The electronic licence identifier of GB/T 36904-2018, as licence platforms use it::

      1.2.156.3005.2.<licence type code>.<issuing authority code>.<serial>.<version>.<check char>

  with the check character computed by ISO 7064 MOD 37,36 over the four middle parts concatenated.
- The 18-character unified social credit code (统一社会信用代码, GB 32100-2015) with its own check character.
- The 18-character citizen identity number (公民身份号码, GB 11643-1999): address code, date of birth, sequence
  and an ISO 7064 MOD 11-2 check character.

Example::

    >>> licence_identifier("11100000000013338W011", "11430000006122244L", "20230000403", 1)
    '1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U'
    >>> is_valid_credit_code("11430000006122244L")
    True
    >>> is_valid_id_number("11010519491231002X")
    True
    >>> check_holder_code("123", "001")
    Traceback (most recent call last):
    ...
    seal_service.errors.InvalidInput: holder code 123 is not a unified social credit code (GB 32100: 18 characters)
"""

from __future__ import annotations

import re
from datetime import date

from seal_service.errors import InvalidInput

_ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LICENCE_IDENTIFIER_PREFIX = "1.2.156.3005.2"

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE_RE = re.compile(r"^[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}$")


def iso7064_mod37_36(data: str) -> str:
    """Return the ISO 7064 MOD 37,36 check character for ``data`` (digits and upper-case letters)."""
    modulus = 36
    product = modulus
    for char in data.upper():
        value = _ALNUM36.find(char)
        if value < 0:
            raise InvalidInput(f"character {char!r} is not allowed in a licence identifier part")
        total = (product + value) % modulus or modulus
        product = (total * 2) % (modulus + 1)
    return _ALNUM36[(modulus + 1 - product) % modulus]


def licence_identifier(type_code: str, authority_code: str, serial: str, version: int = 1) -> str:
    """Build a GB/T 36904 licence identifier with its check character."""
    if not 1 <= version <= 999:
        raise InvalidInput("licence identifier version must be between 1 and 999")
    version_text = f"{version:03d}"
    check = iso7064_mod37_36(type_code + authority_code + serial + version_text)
    return ".".join((LICENCE_IDENTIFIER_PREFIX, type_code, authority_code, serial, version_text, check))


def check_licence_identifier(identifier: str) -> None:
    """Raise :class:`InvalidInput` unless ``identifier`` is well formed and its check character matches."""
    if not identifier.startswith(LICENCE_IDENTIFIER_PREFIX + "."):
        raise InvalidInput(f"licence identifier must start with {LICENCE_IDENTIFIER_PREFIX}")
    parts = identifier[len(LICENCE_IDENTIFIER_PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise InvalidInput("licence identifier must have type, authority, serial, version and check parts")
    type_code, authority_code, serial, version, check = parts
    if len(version) != 3 or not version.isdigit():
        raise InvalidInput("licence identifier version must be three digits")
    expected = iso7064_mod37_36(type_code + authority_code + serial + version)
    if check != expected:
        raise InvalidInput(f"licence identifier check character is {check!r}, expected {expected!r}")


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a unified social credit code."""
    if len(first17) != 17:
        raise InvalidInput("a unified social credit code has 17 characters before its check character")
    total = 0
    for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True):
        value = _CREDIT_CHARS.find(char)
        if value < 0:
            raise InvalidInput(f"character {char!r} is not allowed in a unified social credit code")
        total += value * weight
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """True when ``code`` is an 18-character unified social credit code whose check character matches."""
    if not _CREDIT_CODE_RE.match(code):
        return False
    return credit_code_check_char(code[:17]) == code[17]


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_NUMBER_RE = re.compile(r"^[1-9]\d{16}[\dX]$")


def id_number_check_char(first17: str) -> str:
    """Return the GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise InvalidInput("a citizen identity number has 17 digits before its check character")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def is_valid_id_number(number: str) -> bool:
    """True when ``number`` is an 18-character GB 11643 identity number: a real date of birth and a matching check
    character (upper-case ``X`` for ten)."""
    if not _ID_NUMBER_RE.match(number) or _birth_date(number) is None:
        return False
    return id_number_check_char(number[:17]) == number[17]


#: Holder code types of the licence data standard: 111 identity card number, 001 unified social credit code.
HOLDER_CODE_TYPES = {"111": "居民身份证号码", "001": "统一社会信用代码"}


def check_holder_code(code: str, code_type: str, *, field: str = "holder_code") -> None:
    """Raise :class:`InvalidInput` (naming ``field``) unless ``code`` is a valid code of ``code_type``.

    ``001``: a GB 32100 unified social credit code; ``111``: a GB 11643 identity number. Check characters are
    verified, so a mistyped code is refused before it is sealed into a licence.
    """
    if code_type == "001":
        if len(code) != 18 or not _CREDIT_CODE_RE.match(code):
            raise InvalidInput(
                f"holder code {code[:40]} is not a unified social credit code (GB 32100: 18 characters)", field=field
            )
        expected = credit_code_check_char(code[:17])
        if code[17] != expected:
            raise InvalidInput(
                f"holder code {code} has check character {code[17]!r}; GB 32100 gives {expected!r}", field=field
            )
        return
    if code_type == "111":
        if not _ID_NUMBER_RE.match(code):
            raise InvalidInput(
                f"holder code {_masked(code)} is not a citizen identity number (GB 11643: 17 digits and a check "
                "character 0-9 or X)",
                field=field,
            )
        if _birth_date(code) is None:
            raise InvalidInput(f"holder code {_masked(code)} has no valid date of birth (GB 11643)", field=field)
        expected = id_number_check_char(code[:17])
        if code[17] != expected:
            raise InvalidInput(
                f"holder code {_masked(code)} has check character {code[17]!r}; GB 11643 gives {expected!r}",
                field=field,
            )
        return
    raise InvalidInput(
        "holder code type must be 111 (ID card number) or 001 (unified social credit code)", field="holder_code_type"
    )


def _masked(code: str) -> str:
    # An identity number is personal data: error messages (which reach logs) show only its ends.
    code = code[:40]
    return code if len(code) <= 8 else code[:4] + "*" * (len(code) - 8) + code[-4:]
