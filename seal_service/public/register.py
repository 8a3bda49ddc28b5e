"""The public register of licences (行政许可公示): search, pages, export.

Example::

    >>> page = search(instance, RegisterQuery(q="140500-20260000001"), at=now)     # doctest: +SKIP
    >>> [r.number for r in page.records]                                            # doctest: +SKIP
    ['140500-20260000001']

Each record carries the fields of the national administrative-licensing publicity standard (行政许可信息公示):
行政相对人名称 and 代码, 许可决定文书号 / 许可证书编号, 许可证书名称, 许可内容, 许可决定日期, 有效期自, 有效期至,
许可机关 and its credit code, 当前状态, 数据来源单位. Records are read from the licence table itself, so a
licence appears the moment it is sealed and a status change shows at once. Holders go through
:func:`public_holder` (persons masked).

Every query the register runs is served by an index (migration 0005_public): by number, identifier, id, holder
credit code, holder-name prefix, item, authority, status and issue date, all in the order (sealed_at, id) descending
with keyset (cursor) pagination, so no page costs more than its own rows. On PostgreSQL each query also runs under
a ``statement_timeout``. A person can be found by licence number only: their name and ID number are never search
keys, so the register cannot confirm who holds a licence.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, Select, and_, create_engine, or_, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from seal_service.errors import InvalidInput, QueryTimeout
from seal_service.identifiers import is_valid_credit_code
from seal_service.instance import Instance
from seal_service.public.masking import ORGANISATION, public_holder
from seal_service.storage.models import Authority, Licence

#: Licence status on record -> (当前状态 of the publicity standard, English).
STATUS_NAMES = {
    "valid": ("有效", "valid"),
    "revoked": ("撤销", "revoked"),
    "suspended": ("中止", "suspended"),
    "cancelled": ("注销", "cancelled"),
}
MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_TEXT = 100
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

#: Column headers of the CSV export: the publicity standard's names.
CSV_HEADER = (
    "行政相对人名称",
    "行政相对人代码",
    "许可决定文书号/许可证书编号",
    "许可证书名称",
    "许可内容",
    "许可决定日期",
    "有效期自",
    "有效期至",
    "许可机关",
    "许可机关统一社会信用代码",
    "当前状态",
    "数据来源单位",
    "数据来源单位统一社会信用代码",
    "证照标识",
    "核验地址",
)


@dataclass(frozen=True)
class RegisterQuery:
    """What a visitor asks the register for; every field optional. Build it with :func:`register_query`."""

    q: str | None = None
    """One search box: licence number, licence identifier or id, organisation credit code, or holder-name prefix
    (organisations only)."""
    number: str | None = None
    """Exact licence number (许可证书编号)."""
    credit_code: str | None = None
    """Exact unified social credit code of an organisation holder."""
    holder_name: str | None = None
    """Prefix of an organisation holder's name."""
    item: str | None = None
    """Catalogue item code (许可内容)."""
    authority: str | None = None
    """Authority code (许可机关)."""
    status: str | None = None
    """valid, revoked, suspended or cancelled."""
    issued_from: date | None = None
    """许可决定日期 on or after this day."""
    issued_until: date | None = None
    """许可决定日期 on or before this day."""
    limit: int = DEFAULT_PAGE
    """Records per page, 1 to :data:`MAX_PAGE`."""
    cursor: str | None = None
    """Opaque position from a previous page's ``next_cursor``."""


def _text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{field} is longer than {MAX_TEXT} characters", field=field)
    if any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{field} contains control characters", field=field)
    return value


def register_query(
    *,
    q: str | None = None,
    number: str | None = None,
    credit_code: str | None = None,
    holder_name: str | None = None,
    item: str | None = None,
    authority: str | None = None,
    status: str | None = None,
    issued_from: date | None = None,
    issued_until: date | None = None,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
    max_limit: int = MAX_PAGE,
) -> RegisterQuery:
    """A checked :class:`RegisterQuery`; :class:`InvalidInput` names the field that is wrong."""
    status = _text(status, "status")
    if status is not None and status not in STATUS_NAMES:
        raise InvalidInput(f"status must be one of {', '.join(STATUS_NAMES)}", field="status")
    if not 1 <= limit <= max_limit:
        raise InvalidInput(f"limit must be between 1 and {max_limit}", field="limit")
    if issued_from and issued_until and issued_until < issued_from:
        raise InvalidInput("issued_until is before issued_from", field="issued_until")
    cursor = _text(cursor, "cursor")
    if cursor is not None:
        _decode_cursor(cursor)
    return RegisterQuery(
        q=_text(q, "q"),
        number=_text(number, "number"),
        credit_code=_text(credit_code, "credit_code"),
        holder_name=_text(holder_name, "holder_name"),
        item=_text(item, "item"),
        authority=_text(authority, "authority"),
        status=status,
        issued_from=issued_from,
        issued_until=issued_until,
        limit=limit,
        cursor=cursor,
    )


def _encode_cursor(sealed_at: datetime, licence_id: str) -> str:
    raw = json.dumps([sealed_at.astimezone(UTC).isoformat(), licence_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        if not _CURSOR_RE.match(cursor):
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, licence_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(licence_id, str) or len(licence_id) > 40:
            raise ValueError(cursor)
        return at, licence_id
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidInput("cursor is not one this register handed out", field="cursor") from None


@dataclass(frozen=True)
class RegisterRecord:
    """One licence as the register publishes it (field names of the publicity standard in the docstrings)."""

    licence_id: str
    holder_name: str
    """行政相对人名称: an organisation in full, a natural person masked (张*三)."""
    holder_code: str | None
    """行政相对人代码: the organisation's unified social credit code; None for a person."""
    number: str
    """许可决定文书号 / 许可证书编号."""
    licence_type: str
    """许可证书名称."""
    item_code: str
    item_name: str
    """许可内容: the catalogue item."""
    decided_on: date
    """许可决定日期."""
    valid_from: date
    """有效期自 (the decision date when none was given)."""
    valid_until: date | None
    """有效期至 (None: no end date, 长期)."""
    authority_name: str
    """许可机关."""
    authority_credit_code: str
    """许可机关统一社会信用代码."""
    status: str
    """当前状态 as a code: valid, revoked, suspended, cancelled."""
    source_name: str
    """数据来源单位: the authority whose seal sealed the licence and whose system reported it."""
    source_credit_code: str
    identifier: str
    """GB/T 36904 licence identifier."""
    sealed_at: datetime
    page_path: str
    """The licence's public page (what its QR code opens): ``/v/{licence_id}``."""

    @property
    def status_zh(self) -> str:
        """当前状态 in Chinese (有效, 撤销, 中止, 注销)."""
        return STATUS_NAMES.get(self.status, (self.status, self.status))[0]

    def to_json(self) -> dict[str, object]:
        """The record as the JSON API returns it."""
        return {
            "licence_id": self.licence_id,
            "holder_name": self.holder_name,
            "holder_code": self.holder_code,
            "number": self.number,
            "licence_type": self.licence_type,
            "item_code": self.item_code,
            "item_name": self.item_name,
            "decided_on": self.decided_on.isoformat(),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "authority_name": self.authority_name,
            "authority_credit_code": self.authority_credit_code,
            "status": self.status,
            "status_zh": self.status_zh,
            "source_name": self.source_name,
            "source_credit_code": self.source_credit_code,
            "identifier": self.identifier,
            "sealed_at": self.sealed_at.isoformat(),
            "page": self.page_path,
        }

    def csv_row(self, public_url: str) -> tuple[str, ...]:
        """The record as a CSV row in :data:`CSV_HEADER` order."""
        return (
            self.holder_name,
            self.holder_code or "",
            self.number,
            self.licence_type,
            self.item_name,
            self.decided_on.isoformat(),
            self.valid_from.isoformat(),
            self.valid_until.isoformat() if self.valid_until else "长期",
            self.authority_name,
            self.authority_credit_code,
            self.status_zh,
            self.source_name,
            self.source_credit_code,
            self.identifier,
            public_url + self.page_path,
        )


@dataclass(frozen=True)
class RegisterPage:
    """One page of the register."""

    records: tuple[RegisterRecord, ...]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; None on the last page."""


_COLUMNS = (
    Licence.id,
    Licence.holder_name,
    Licence.holder_code,
    Licence.holder_code_type,
    Licence.number,
    Licence.licence_type,
    Licence.item_code,
    Licence.issue_date,
    Licence.valid_from,
    Licence.valid_until,
    Licence.status,
    Licence.identifier,
    Licence.sealed_at,
    Authority.name,
    Authority.credit_code,
)


def _prefix_pattern(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _organisation_name_prefix(prefix: str, dialect: str):  # type: ignore[no-untyped-def]
    like = Licence.holder_name.like(_prefix_pattern(prefix), "\\")
    if dialect == "sqlite":
        # SQLite's LIKE ignores case and so never uses an index; a range on the binary (code point) order does.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        like = and_(Licence.holder_name >= prefix, Licence.holder_name < upper, like)
    # PostgreSQL serves LIKE 'prefix%' from the text_pattern_ops index whatever the database's collation.
    return and_(Licence.holder_code_type == ORGANISATION, like)


def statement(query: RegisterQuery, *, authority_id: int | None = None, dialect: str = "postgresql") -> Select:  # type: ignore[type-arg]
    """The SELECT the register runs for ``query`` (``authority_id``: the id of ``query.authority``; ``dialect``: the
    database's, ``postgresql`` or ``sqlite``)."""
    stmt = select(*_COLUMNS).join(Authority, Authority.id == Licence.authority_id)
    conditions = []
    if query.q is not None:
        q = query.q
        options = [Licence.number == q, Licence.identifier == q, Licence.id == q]
        if is_valid_credit_code(q):
            options.append(and_(Licence.holder_code == q, Licence.holder_code_type == ORGANISATION))
        else:
            options.append(_organisation_name_prefix(q, dialect))
        conditions.append(or_(*options))
    if query.number is not None:
        conditions.append(Licence.number == query.number)
    if query.credit_code is not None:
        conditions.append(and_(Licence.holder_code == query.credit_code, Licence.holder_code_type == ORGANISATION))
    if query.holder_name is not None:
        conditions.append(_organisation_name_prefix(query.holder_name, dialect))
    if query.item is not None:
        conditions.append(Licence.item_code == query.item)
    if query.authority is not None:
        conditions.append(Licence.authority_id == (authority_id if authority_id is not None else -1))
    if query.status is not None:
        conditions.append(Licence.status == query.status)
    if query.issued_from is not None:
        conditions.append(Licence.issue_date >= query.issued_from)
    if query.issued_until is not None:
        conditions.append(Licence.issue_date <= query.issued_until)
    if query.cursor is not None:
        at, licence_id = _decode_cursor(query.cursor)
        conditions.append(and_(Licence.sealed_at <= at, or_(Licence.sealed_at < at, Licence.id < licence_id)))
    if conditions:
        stmt = stmt.where(*conditions)
    return stmt.order_by(Licence.sealed_at.desc(), Licence.id.desc())


def _record(row: object, item_names: dict[str, str]) -> RegisterRecord:
    (lid, name, code, code_type, number, ltype, item, issued, vfrom, vuntil, status, ident, sealed, aname, acode) = (
        tuple(row)  # type: ignore[call-overload]
    )
    holder = public_holder(name, code, code_type)
    return RegisterRecord(
        licence_id=lid,
        holder_name=holder.name,
        holder_code=holder.code,
        number=number,
        licence_type=ltype,
        item_code=item,
        item_name=item_names.get(item, item),
        decided_on=issued,
        valid_from=vfrom or issued,
        valid_until=vuntil,
        authority_name=aname,
        authority_credit_code=acode,
        status=status,
        source_name=aname,
        source_credit_code=acode,
        identifier=ident,
        sealed_at=sealed if sealed.tzinfo else sealed.replace(tzinfo=UTC),
        page_path=f"/v/{lid}",
    )


def _limit_time(session: Session, timeout_ms: int) -> None:
    # SET LOCAL lasts until the end of this transaction: one slow public query cannot hold a connection long.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _authority_id(session: Session | Connection, code: str | None) -> int | None:
    if code is None:
        return None
    return session.scalar(select(Authority.id).where(Authority.code == code))


def _item_names(instance: Instance) -> dict[str, str]:
    # Item names come from the policy file; memoranda move who seals an item, never its name (no query needed).
    return {code: item.name for code, item in instance.catalogue.items.items()}


_READ_ENGINES: weakref.WeakKeyDictionary[Instance, tuple[int, Engine]] = weakref.WeakKeyDictionary()
_READ_ENGINES_LOCK = threading.Lock()


def read_engine(instance: Instance, timeout_ms: int) -> Engine | None:
    """PostgreSQL only: an engine for register searches whose connections run every statement under
    ``statement_timeout`` and in autocommit, so a search is one round trip (no ping, BEGIN, SET or COMMIT).

    A search is a single SELECT, consistent on its own; the export, which reads through a server-side cursor,
    keeps a transaction and sets the timeout with ``SET LOCAL``. None on SQLite (no statement timeout there).
    """
    if instance.engine.dialect.name != "postgresql":
        return None
    with _READ_ENGINES_LOCK:
        cached = _READ_ENGINES.get(instance)
        if cached is not None and cached[0] == timeout_ms:
            return cached[1]
        engine = create_engine(
            instance.engine.url,
            isolation_level="AUTOCOMMIT",
            pool_recycle=300,
            pool_reset_on_return=None,  # autocommit: no transaction is ever left open to roll back
            connect_args={"options": f"-c statement_timeout={int(timeout_ms)}"},
        )
        if cached is not None:
            cached[1].dispose()
        _READ_ENGINES[instance] = (timeout_ms, engine)
        return engine


def _timeout(exc: OperationalError) -> QueryTimeout | None:
    if "statement timeout" in str(exc.orig).lower() or "canceling statement" in str(exc.orig).lower():
        return QueryTimeout("the register query took too long; narrow it (a filter, a shorter date range)")
    return None


def search(instance: Instance, query: RegisterQuery, *, timeout_ms: int = 2000) -> RegisterPage:
    """One page of the register for ``query``, newest sealed first."""
    names = _item_names(instance)
    engine = read_engine(instance, timeout_ms)
    try:
        with instance.sessions() if engine is None else engine.connect() as session:
            dialect = session.get_bind().dialect.name if isinstance(session, Session) else session.dialect.name
            stmt = statement(query, authority_id=_authority_id(session, query.authority), dialect=dialect)
            rows = session.execute(stmt.limit(query.limit + 1)).all()
    except OperationalError as exc:
        timeout = _timeout(exc)
        if timeout is None:
            raise
        raise timeout from None
    records = tuple(_record(r, names) for r in rows[: query.limit])
    next_cursor = None
    if len(rows) > query.limit:
        last = records[-1]
        next_cursor = _encode_cursor(last.sealed_at, last.licence_id)
    return RegisterPage(records=records, next_cursor=next_cursor)


def find_by_number(instance: Instance, number: str) -> RegisterRecord | None:
    """The one licence on record with ``number`` (numbers are unique), or None."""
    page = search(instance, RegisterQuery(number=number, limit=2))
    return page.records[0] if page.records else None


def export_rows(
    instance: Instance, query: RegisterQuery, *, max_rows: int, timeout_ms: int = 2000, batch: int = 1000
) -> Iterator[RegisterRecord]:
    """Every record matching ``query`` (at most ``max_rows``), read in batches through a server-side cursor on
    PostgreSQL, so memory stays flat however many rows stream out."""
    names = _item_names(instance)
    query = replace(query, cursor=None)
    try:
        with instance.sessions() as session, session.begin():
            _limit_time(session, timeout_ms)
            authority_id = _authority_id(session, query.authority)
            stmt = statement(query, authority_id=authority_id, dialect=_dialect(session)).limit(max_rows)
            result = session.execute(stmt.execution_options(yield_per=batch))
            for row in result:
                yield _record(row, names)
    except OperationalError as exc:
        timeout = _timeout(exc)
        if timeout is None:
            raise
        raise timeout from None


def _spreadsheet_safe(value: str) -> str:
    # A cell starting with = + - @ would be run as a formula by spreadsheet programs (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_chunks(records: Iterator[RegisterRecord], *, public_url: str, rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The CSV export (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(CSV_HEADER)
    for count, record in enumerate(records, start=1):
        writer.writerow([_spreadsheet_safe(v) for v in record.csv_row(public_url)])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
