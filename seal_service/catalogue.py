"""The catalogue of transferred approval items (划转事项目录), loaded strictly from ``policies/catalogue.toml``.

Example::

    >>> from seal_service.catalogue import load_catalogue
    >>> cat = load_catalogue(Path("policies/catalogue.toml"))     # doctest: +SKIP
    >>> cat.item("JC-001").sealing_authority(date(2026, 11, 28))  # doctest: +SKIP
    'jc-bureau'

Every item says which authority's seal seals it over which period. Loading refuses unknown keys, unknown
authorities, bad dates and overlapping periods, naming the file and the key path of the offending value.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from seal_service.errors import NotFound, PolicyError
from seal_service.identifiers import is_valid_credit_code


class AuthorityKind(StrEnum):
    """A bureau (行政审批服务管理局) or a department whose approval powers move to a bureau."""

    BUREAU = "bureau"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class CatalogueAuthority:
    """An authority as the catalogue declares it."""

    code: str
    """Short code other commands take (``jc-bureau``)."""
    name: str
    """Full Chinese name, as on the seal."""
    kind: AuthorityKind
    jurisdiction: str
    """Six-digit administrative division code (GB/T 2260)."""
    credit_code: str
    """18-character unified social credit code."""
    seal_title: str
    """Title on the approval seal (行政审批专用章 / 行政许可专用章)."""


@dataclass(frozen=True)
class SealingPeriod:
    """One authority seals an item from ``start`` (inclusive) until ``end`` (exclusive, None = open)."""

    authority: str
    start: date
    end: date | None
    memorandum: int | None = None
    """The recorded handover memorandum (审管衔接备忘录) that began this period; None when the policy file did."""

    def covers(self, day: date) -> bool:
        """True when ``day`` falls inside this period."""
        return self.start <= day and (self.end is None or day < self.end)


@dataclass(frozen=True)
class CatalogueItem:
    """An approval item and the history of who seals it."""

    code: str
    name: str
    licence_type: str
    licence_type_code: str
    """Licence type code used in the GB/T 36904 identifier."""
    supervisor: str
    """Authority code of the supervising department (审管分离)."""
    sealed_by: tuple[SealingPeriod, ...]

    def sealing_authority(self, day: date) -> str | None:
        """The authority code whose seal seals this item on ``day``, or None when nobody does."""
        for period in self.sealed_by:
            if period.covers(day):
                return period.authority
        return None


@dataclass(frozen=True)
class Catalogue:
    """The loaded catalogue: authorities and items by code."""

    version: int
    authorities: Mapping[str, CatalogueAuthority]
    items: Mapping[str, CatalogueItem]
    source: str

    def item(self, code: str) -> CatalogueItem:
        """The item with ``code``; :class:`NotFound` names the code otherwise."""
        try:
            return self.items[code]
        except KeyError:
            raise NotFound(f"unknown approval item {code!r}", field="item_code") from None

    def authority(self, code: str) -> CatalogueAuthority:
        """The authority with ``code``; :class:`NotFound` names the code otherwise."""
        try:
            return self.authorities[code]
        except KeyError:
            raise NotFound(f"unknown authority {code!r}", field="authority") from None


class _Reader:
    """Strict reading of one TOML table, with key paths in every error."""

    def __init__(self, source: str, text: str | None = None) -> None:
        self.source = source
        self.lines = text.splitlines() if text is not None else []

    def fail(self, path: str, message: str) -> PolicyError:
        line = _line_of(self.lines, path)
        where = f"{self.source}:{line}" if line else self.source
        return PolicyError(f"{where}: {path}: {message}")

    def table(self, value: Any, path: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected a table")
        unknown = set(value) - required - optional
        if unknown:
            raise self.fail(path, f"unknown key(s) {', '.join(sorted(unknown))}")
        missing = required - set(value)
        if missing:
            raise self.fail(path, f"missing key(s) {', '.join(sorted(missing))}")
        return value

    def text(self, table: dict[str, Any], key: str, path: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{path}.{key}", "expected a non-empty string")
        return value

    def day(self, table: dict[str, Any], key: str, path: str) -> date:
        value = table[key]
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(f"{path}.{key}", f"expected a date YYYY-MM-DD, got {value!r}")


def _line_of(lines: list[str], path: str) -> int | None:
    """Best-effort 1-based line of a key path (``items[3].sealed_by[1].from``) in the TOML text.

    tomllib keeps no positions, so the text is scanned: the n-th ``[[table]]`` header, then the key inside its
    block, then the n-th inline table of an inline array. Good enough to point a reviewer at the right line;
    None when the layout is one this scan does not follow.
    """
    parts = re.findall(r"([A-Za-z_]+)(?:\[(\d+)\])?", path)
    if not lines or not parts or path.startswith("("):
        return None
    start, end = 0, len(lines)
    name, index = parts[0]
    if index:
        headers = [i for i, text in enumerate(lines) if re.fullmatch(rf"\s*\[\[\s*{name}\s*\]\]\s*(#.*)?", text)]
        if int(index) >= len(headers):
            return None
        start = headers[int(index)]
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        parts = parts[1:]
    found = start
    for key, sub_index in parts:
        found_key = next((i for i in range(found, end) if re.match(rf"\s*{key}\s*=", lines[i])), None)
        if found_key is None:
            # A key of an inline table sits on the line found so far (``{ authority = "b", from = ... }``).
            return found + 1 if re.search(rf"\b{key}\s*=", lines[found]) else None
        found = found_key
        if sub_index:
            braces = [i for i in range(found, end) for _ in range(lines[i].count("{"))]
            if int(sub_index) >= len(braces):
                return found + 1
            found = braces[int(sub_index)]
    return found + 1


def parse_catalogue(data: dict[str, Any], *, source: str, text: str | None = None) -> Catalogue:
    """Build a :class:`Catalogue` from parsed TOML, refusing anything unexpected.

    ``text`` (the TOML source) lets errors name the line as well as the key path.
    """
    r = _Reader(source, text)
    top = r.table(data, "(top)", {"version", "authorities", "items"}, {"effective"})
    if top["version"] != 1:
        raise r.fail("version", "only catalogue version 1 is understood")
    authorities: dict[str, CatalogueAuthority] = {}
    for i, raw in enumerate(top["authorities"]):
        path = f"authorities[{i}]"
        t = r.table(raw, path, {"code", "name", "kind", "jurisdiction", "credit_code", "seal_title"})
        code = r.text(t, "code", path)
        if code in authorities:
            raise r.fail(f"{path}.code", f"duplicate authority code {code!r}")
        kind = r.text(t, "kind", path)
        if kind not in {k.value for k in AuthorityKind}:
            raise r.fail(f"{path}.kind", f"must be bureau or department, got {kind!r}")
        jurisdiction = r.text(t, "jurisdiction", path)
        if len(jurisdiction) != 6 or not jurisdiction.isdigit():
            raise r.fail(f"{path}.jurisdiction", "must be a six-digit division code")
        credit = r.text(t, "credit_code", path)
        if not is_valid_credit_code(credit):
            raise r.fail(f"{path}.credit_code", f"{credit!r} is not a valid unified social credit code")
        authorities[code] = CatalogueAuthority(
            code=code,
            name=r.text(t, "name", path),
            kind=AuthorityKind(kind),
            jurisdiction=jurisdiction,
            credit_code=credit,
            seal_title=r.text(t, "seal_title", path),
        )
    items: dict[str, CatalogueItem] = {}
    for i, raw in enumerate(top["items"]):
        path = f"items[{i}]"
        t = r.table(raw, path, {"code", "name", "licence_type", "licence_type_code", "supervisor", "sealed_by"})
        code = r.text(t, "code", path)
        if code in items:
            raise r.fail(f"{path}.code", f"duplicate item code {code!r}")
        supervisor = r.text(t, "supervisor", path)
        if supervisor not in authorities:
            raise r.fail(f"{path}.supervisor", f"unknown authority {supervisor!r}")
        type_code = r.text(t, "licence_type_code", path)
        if not type_code.isalnum() or not type_code.isascii() or type_code.upper() != type_code:
            raise r.fail(f"{path}.licence_type_code", "must be upper-case letters and digits")
        periods: list[SealingPeriod] = []
        if not isinstance(t["sealed_by"], list) or not t["sealed_by"]:
            raise r.fail(f"{path}.sealed_by", "expected a non-empty list of periods")
        for j, raw_period in enumerate(t["sealed_by"]):
            ppath = f"{path}.sealed_by[{j}]"
            p = r.table(raw_period, ppath, {"authority", "from"}, {"until"})
            authority = r.text(p, "authority", ppath)
            if authority not in authorities:
                raise r.fail(f"{ppath}.authority", f"unknown authority {authority!r}")
            start = r.day(p, "from", ppath)
            end = r.day(p, "until", ppath) if "until" in p else None
            if end is not None and end <= start:
                raise r.fail(f"{ppath}.until", "must be after 'from'")
            periods.append(SealingPeriod(authority=authority, start=start, end=end))
        periods.sort(key=lambda p: p.start)
        for earlier, later in itertools.pairwise(periods):
            if earlier.end is None or earlier.end > later.start:
                raise r.fail(f"{path}.sealed_by", f"periods overlap around {later.start.isoformat()}")
        items[code] = CatalogueItem(
            code=code,
            name=r.text(t, "name", path),
            licence_type=r.text(t, "licence_type", path),
            licence_type_code=type_code,
            supervisor=supervisor,
            sealed_by=tuple(periods),
        )
    return Catalogue(version=1, authorities=authorities, items=items, source=source)


def load_catalogue(path: Path) -> Catalogue:
    """Load and check the catalogue file at ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read catalogue: {exc}") from exc
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    return parse_catalogue(data, source=str(path), text=text)
