"""Licence numbers (证照编号) unique across the instance.

Example::

    >>> reserve_licence_number(instance, "140500", 2026)     # doctest: +SKIP
    '140500-20260000042'

Numbers keep the readable form ``<jurisdiction>-<year><7 digits>`` they always had, but the seven digits are now
drawn per jurisdiction and year rather than per authority: before, the bureau and a department of one jurisdiction
each counted from 1 and both issued ``140500-20260000001``. A unique index on ``licences.number`` (migration
0005_public) is the last guard; a number an approval system chose itself is refused when it is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seal_service.errors import StateConflict
from seal_service.instance import Instance
from seal_service.storage.models import Licence
from seal_service.storage.public_models import LicenceNumberCounter


def _next_value(session: Session, jurisdiction: str, year: int) -> int:
    # An atomic UPDATE ... RETURNING serialises concurrent issuers on the counter row (PostgreSQL and SQLite).
    value = session.execute(
        update(LicenceNumberCounter)
        .where(LicenceNumberCounter.jurisdiction_code == jurisdiction, LicenceNumberCounter.year == year)
        .values(last_value=LicenceNumberCounter.last_value + 1)
        .returning(LicenceNumberCounter.last_value)
    ).scalar_one_or_none()
    if value is not None:
        return int(value)
    session.add(LicenceNumberCounter(jurisdiction_code=jurisdiction, year=year, last_value=1))
    session.flush()
    return 1


def number_taken(session: Session, number: str) -> bool:
    """True when a licence on record has ``number``."""
    return session.scalar(select(Licence.id).where(Licence.number == number)) is not None


def ensure_number_free(session: Session, number: str) -> None:
    """Raise :class:`StateConflict` (field ``number``) when ``number`` is already on record."""
    if number_taken(session, number):
        raise StateConflict(f"licence number {number!r} is already on record; numbers are unique", field="number")


def reserve_licence_number(instance: Instance, jurisdiction: str, year: int) -> str:
    """Draw the next free licence number of ``jurisdiction`` for ``year``, in its own short transaction.

    A number an approval system once chose by hand in the same form is skipped, never issued twice.
    """
    for _ in range(20):
        try:
            with instance.writer.begin() as session:
                while True:
                    number = f"{jurisdiction}-{year}{_next_value(session, jurisdiction, year):07d}"
                    if not number_taken(session, number):
                        return number
        except IntegrityError:
            # Two first numbers of the year raced to create the counter row; the loser retries the UPDATE.
            continue
    raise RuntimeError("could not reserve a licence number")


@contextmanager
def licence_number_guard(number: str) -> Iterator[None]:
    """Turn a unique-index violation on the licence number (two callers choosing one number at once) into
    :class:`StateConflict`; the transaction inside has rolled back, so nothing is half-issued."""
    try:
        yield
    except IntegrityError as exc:
        if "number" in str(exc.orig).lower():
            raise StateConflict(
                f"licence number {number!r} is already on record; numbers are unique", field="number"
            ) from None
        raise
