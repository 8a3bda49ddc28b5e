"""Handover memoranda (审管衔接备忘录) applied to the catalogue, and the seal retirements that follow: pure functions.

Example::

    >>> memo = Memorandum(id=1, department="jc-market", bureau="jc-bureau", effective_on=date(2027, 1, 1),
    ...                   items=("JC-004",))
    >>> effective = apply_memoranda(catalogue, [memo])                       # doctest: +SKIP
    >>> effective.item("JC-004").sealing_authority(date(2027, 1, 1))         # doctest: +SKIP
    'jc-bureau'
    >>> retirements(effective)["jc-market"].day                               # doctest: +SKIP
    datetime.date(2027, 1, 1)

The rules, in one place:

* A memorandum moves the listed items from a department to the bureau of the same jurisdiction from 00:00 China
  time (+08:00) of its effective day (the *cut-over*). Each item must be sealed by that department on that day.
* A department's approval seal is retired when every item the department ever sealed has moved: on the latest
  cut-over among its items. "The whole department moves" is the special case of a memorandum listing all the
  department's remaining items, which retires its seal on that memorandum's day.
* Nothing here reads the clock: the catalogue carries dates, and callers ask about the instant they care about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from seal_service.catalogue import AuthorityKind, Catalogue, CatalogueItem, SealingPeriod
from seal_service.errors import InvalidInput, NotFound, PolicyError

#: Dates in the catalogue and in memoranda are China calendar days.
CHINA_TZ = timezone(timedelta(hours=8))


def cut_over_instant(day: date) -> datetime:
    """The instant a change dated ``day`` takes effect: 00:00 China time (+08:00) of that day."""
    return datetime.combine(day, time(0), CHINA_TZ)


def china_day(at: datetime) -> date:
    """The China calendar day of an instant (refuses naive times)."""
    if at.tzinfo is None:
        raise InvalidInput("time must be timezone-aware")
    return at.astimezone(CHINA_TZ).date()


@dataclass(frozen=True)
class Memorandum:
    """A recorded handover memorandum: ``items`` move from ``department`` to ``bureau`` on ``effective_on``."""

    id: int
    department: str
    """Authority code of the department whose approval powers move."""
    bureau: str
    """Authority code of the bureau that seals the items from the cut-over on."""
    effective_on: date
    items: tuple[str, ...]
    whole_department: bool = False
    """The memorandum moves everything the department sealed on the cut-over day."""
    reference: str | None = None
    """Document number of the signed paper memorandum."""
    recorded_at: datetime | None = None

    @property
    def cut_over_at(self) -> datetime:
        """00:00 China time of the effective day."""
        return cut_over_instant(self.effective_on)


@dataclass(frozen=True)
class Retirement:
    """A department's approval seal(s) retired (废止并封存) because all its items moved to a bureau."""

    authority: str
    """The department's authority code; every seal it owns is retired."""
    day: date
    """Cut-over day of the department's last item."""
    memorandum: int | None
    """The memorandum that moved the last item; None when the policy file itself records the move."""
    successor: str | None
    """The bureau that seals the department's last item from then on."""

    @property
    def at(self) -> datetime:
        """The instant the seal stops being usable: 00:00 China time of ``day``."""
        return cut_over_instant(self.day)


def items_sealed_by(catalogue: Catalogue, authority: str, day: date) -> tuple[str, ...]:
    """Codes of the items ``authority`` seals on ``day``, in catalogue order."""
    return tuple(code for code, item in catalogue.items.items() if item.sealing_authority(day) == authority)


def check_parties(catalogue: Catalogue, department: str, bureau: str) -> None:
    """Refuse a memorandum between the wrong kinds of authority or across jurisdictions."""
    dept = catalogue.authority(department)
    bur = catalogue.authority(bureau)
    if dept.kind is not AuthorityKind.DEPARTMENT:
        raise InvalidInput(f"{department} is a {dept.kind.value}, not a department", field="department")
    if bur.kind is not AuthorityKind.BUREAU:
        raise InvalidInput(f"{bureau} is a {bur.kind.value}, not a bureau", field="bureau")
    if dept.jurisdiction != bur.jurisdiction:
        raise InvalidInput(
            f"{department} ({dept.jurisdiction}) and {bureau} ({bur.jurisdiction}) are in different jurisdictions; "
            "a department hands over to the bureau of its own jurisdiction",
            field="bureau",
        )


def _transfer(item: CatalogueItem, memo: Memorandum) -> CatalogueItem:
    day = memo.effective_on
    current = next((p for p in item.sealed_by if p.covers(day)), None)
    if current is None or current.authority != memo.department:
        who = current.authority if current else "nobody"
        raise InvalidInput(
            f"item {item.code} is sealed by {who} on {day.isoformat()}, not by {memo.department}; "
            f"only the department that seals an item can hand it over",
            field="items",
        )
    periods: list[SealingPeriod] = []
    for period in item.sealed_by:
        if period is not current:
            periods.append(period)
            continue
        if period.start < day:
            periods.append(dataclasses.replace(period, end=day))
        periods.append(SealingPeriod(authority=memo.bureau, start=day, end=period.end, memorandum=memo.id))
    return dataclasses.replace(item, sealed_by=tuple(periods))


def apply_memorandum(catalogue: Catalogue, memo: Memorandum) -> Catalogue:
    """The catalogue with one memorandum applied; :class:`InvalidInput` says why it cannot apply."""
    check_parties(catalogue, memo.department, memo.bureau)
    if not memo.items:
        raise InvalidInput(
            f"the memorandum moves no items: {memo.department} seals nothing on {memo.effective_on.isoformat()}",
            field="items",
        )
    if len(set(memo.items)) != len(memo.items):
        raise InvalidInput("an item is listed twice", field="items")
    items = dict(catalogue.items)
    for code in memo.items:
        try:
            item = catalogue.item(code)
        except NotFound as exc:
            raise InvalidInput(exc.detail, field="items") from None
        items[code] = _transfer(item, memo)
    return dataclasses.replace(catalogue, items=items)


def apply_memoranda(catalogue: Catalogue, memoranda: Iterable[Memorandum]) -> Catalogue:
    """The effective catalogue: the policy file with every recorded memorandum applied in date order.

    A recorded memorandum that no longer applies (the policy file was edited under it) is a
    :class:`PolicyError`, naming the memorandum and the file.
    """
    for memo in sorted(memoranda, key=lambda m: (m.effective_on, m.id)):
        try:
            catalogue = apply_memorandum(catalogue, memo)
        except (InvalidInput, NotFound) as exc:
            raise PolicyError(f"{catalogue.source}: recorded memorandum {memo.id} no longer applies: {exc}") from exc
    return catalogue


def retirements(catalogue: Catalogue) -> dict[str, Retirement]:
    """Departments whose every item has moved, by authority code, with the day their seal retires."""
    found: dict[str, Retirement] = {}
    for code, authority in catalogue.authorities.items():
        if authority.kind is not AuthorityKind.DEPARTMENT:
            continue
        ends: list[tuple[date, CatalogueItem]] = []
        still_sealing = False
        for item in catalogue.items.values():
            for period in item.sealed_by:
                if period.authority != code:
                    continue
                if period.end is None:
                    still_sealing = True
                else:
                    ends.append((period.end, item))
        if still_sealing or not ends:
            continue
        day, last_item = max(ends, key=lambda pair: pair[0])
        following = next((p for p in last_item.sealed_by if p.start == day), None)
        found[code] = Retirement(
            authority=code,
            day=day,
            memorandum=following.memorandum if following else None,
            successor=following.authority if following else None,
        )
    return found


__all__ = [
    "CHINA_TZ",
    "Memorandum",
    "Retirement",
    "apply_memoranda",
    "apply_memorandum",
    "check_parties",
    "china_day",
    "cut_over_instant",
    "items_sealed_by",
    "retirements",
]
