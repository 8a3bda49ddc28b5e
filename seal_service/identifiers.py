"""Identifiers from the Chinese standards the service must speak.

- The electronic licence identifier of GB/T 36904-2018, as licence platforms use it::

      1.2.156.3005.2.<licence type code>.<issuing authority code>.<serial>.<version>.<check char>

  with the check character computed by ISO 7064 MOD 37,36 over the four middle parts concatenated.
- The 18-character unified social credit code (统一社会信用代码, GB 32100-2015) with its own check character.

Example::

    >>> licence_identifier("11100000000013338W011", "11430000006122244L", "20230000403", 1)
    '1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U'
    >>> is_valid_credit_code("11430000006122244L")
    True
"""

from __future__ import annotations

import re

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
