"""What the public may see of a licence holder: the one place masking rules live.

Example::

    >>> public_holder("张三丰", "11010519491231002X", "111")
    PublicHolder(name='张*丰', code=None, is_person=True)
    >>> public_holder("晋城市某某餐饮有限公司", "11430000006122244L", "001")
    PublicHolder(name='晋城市某某餐饮有限公司', code='11430000006122244L', is_person=False)

Organisations (code type ``001``, a unified social credit code) are public in the register and are shown in full.
Natural persons (code type ``111``, a resident ID card number) are shown with a masked name and never with their
ID number, in every public output (pages, JSON, CSV). A holder recorded without a code type may be a person, so
it is treated as one: privacy wins over completeness.
"""

from __future__ import annotations

from dataclasses import dataclass

ORGANISATION = "001"
PERSON = "111"


@dataclass(frozen=True)
class PublicHolder:
    """A licence holder as any public output shows it."""

    name: str
    """The organisation's full name, or the person's masked name (张*丰)."""
    code: str | None
    """The unified social credit code of an organisation; None for a person (their ID number is never shown)."""
    is_person: bool
    """True when the holder is (or may be) a natural person."""


def mask_person_name(name: str) -> str:
    """Mask a natural person's name: 张三 -> 张*, 张三丰 -> 张*丰, 欧阳娜娜 -> 欧**娜; one character -> *."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def public_holder(name: str, code: str | None, code_type: str | None) -> PublicHolder:
    """The holder as the public sees it (see the module docstring for the rules)."""
    if code_type == ORGANISATION:
        return PublicHolder(name=name, code=code, is_person=False)
    return PublicHolder(name=mask_person_name(name), code=None, is_person=True)


def is_public_holder_code(code_type: str | None) -> bool:
    """True when a holder code of this type may be searched and shown publicly (organisations only)."""
    return code_type == ORGANISATION
