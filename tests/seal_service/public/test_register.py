"""The public register (行政许可公示): search, filters, pages, CSV, status changes at once, masking, refusals, rate
limits and index use (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from seal_service.api.app import create_app
from seal_service.public import register
from seal_service.services.sealing import LicenceAction, change_licence_status
from tests.seal_service.public.conftest import ORG_CODE, ORG_CODE_2, PERSON_ID, limited, unlimited


def _records(api: TestClient, **params: object) -> list[dict[str, object]]:
    response = api.get("/v1/public/licences", params=params)
    assert response.status_code == 200, response.text
    return response.json()["records"]  # type: ignore[no-any-return]


def test_search_by_number_finds_exactly_one_with_the_standard_fields(public_api, sealed) -> None:  # type: ignore[no-untyped-def]
    org = sealed.orgs[0]
    for params in ({"q": org.number}, {"number": org.number}, {"q": org.identifier}, {"q": org.licence_id}):
        records = _records(public_api, **params)
        assert [r["licence_id"] for r in records] == [org.licence_id], params
    [record] = _records(public_api, number=org.number)
    assert record["holder_name"] == f"{sealed.prefix}餐饮有限公司" and record["holder_code"] == ORG_CODE
    assert record["licence_type"] == "食品经营许可证" and record["item_name"] == "食品经营许可"
    assert record["decided_on"] == "2026-03-01" and record["valid_from"] == "2026-03-01"
    assert record["valid_until"] == "2031-02-28"
    assert record["authority_name"] == "晋城市行政审批服务管理局"
    assert record["authority_credit_code"] == "11140500MB01234568"
    assert record["status"] == "valid" and record["status_zh"] == "有效"
    assert record["source_name"] == "晋城市行政审批服务管理局" and record["page"] == f"/v/{org.licence_id}"


def test_organisations_by_credit_code_and_name_prefix_persons_only_by_number(public_api, sealed) -> None:  # type: ignore[no-untyped-def]
    by_prefix = _records(public_api, holder_name=sealed.prefix)
    assert {r["licence_id"] for r in by_prefix} == {o.licence_id for o in sealed.orgs}
    assert {r["licence_id"] for r in _records(public_api, q=sealed.prefix)} == {o.licence_id for o in sealed.orgs}
    by_code = _records(public_api, credit_code=ORG_CODE_2, holder_name=sealed.prefix)
    assert [r["licence_id"] for r in by_code] == [sealed.orgs[1].licence_id]
    # A person's name and ID number are not search keys: the register cannot confirm who holds a licence.
    assert all(r["holder_code"] is not None for r in _records(public_api, q=sealed.person_name, limit=100))
    assert _records(public_api, q=PERSON_ID) == [] and _records(public_api, credit_code=PERSON_ID) == []
    [person] = _records(public_api, q=sealed.person.number)
    assert person["holder_name"] == "张*丰" and person["holder_code"] is None


def test_filters_and_cursor_pages(public_api, sealed) -> None:  # type: ignore[no-untyped-def]
    mine = {"holder_name": sealed.prefix}
    assert [r["item_code"] for r in _records(public_api, item="JC-004", **mine)] == ["JC-004"]
    assert [r["licence_id"] for r in _records(public_api, authority="jc-market", **mine)] == [sealed.orgs[1].licence_id]
    ranged = _records(public_api, issued_from="2026-04-01", issued_until="2026-06-30", **mine)
    assert [r["licence_id"] for r in ranged] == [sealed.orgs[1].licence_id]
    first = public_api.get("/v1/public/licences", params={"limit": 2, **mine}).json()
    assert len(first["records"]) == 2 and first["next_cursor"]
    second = public_api.get("/v1/public/licences", params={"limit": 2, "cursor": first["next_cursor"], **mine}).json()
    assert second["next_cursor"] is None and len(second["records"]) == 1
    seen = [r["licence_id"] for r in first["records"] + second["records"]]
    assert sorted(seen) == sorted(o.licence_id for o in sealed.orgs)  # newest first, none twice, none left out
    assert public_api.get(first["next"].replace("limit=2", "limit=2")).json()["records"] == second["records"]


def test_a_status_change_shows_at_once(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    licence = sealed.orgs[2]
    change_licence_status(
        db_instance,
        licence.licence_id,
        action=LicenceAction.SUSPEND,
        reason="整改",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    [record] = _records(public_api, number=licence.number)
    assert record["status"] == "suspended" and record["status_zh"] == "中止"
    suspended = _records(public_api, status="suspended", holder_name=sealed.prefix)
    assert [r["licence_id"] for r in suspended] == [licence.licence_id]
    change_licence_status(
        db_instance,
        licence.licence_id,
        action=LicenceAction.REVOKE,
        reason="撤销许可",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    assert _records(public_api, number=licence.number)[0]["status_zh"] == "撤销"
    page = public_api.get("/register", params={"q": licence.number})
    assert 'data-status="revoked"' in page.text and "撤销" in page.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"limit": 1000}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"issued_from": "2026-13-01"}, "issued_from"),
        ({"issued_from": "2026-05-01", "issued_until": "2026-04-01"}, "issued_until"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(public_api, params, field) -> None:  # type: ignore[no-untyped-def]
    response = public_api.get("/v1/public/licences", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    page = public_api.get("/register", params=params)
    assert page.status_code in (200, 422) and "Traceback" not in page.text
    if field not in ("limit", "format"):
        assert page.status_code == 422 and f'data-field="{field}"' in page.text


def test_csv_export_streams_the_standard_columns(public_api, sealed) -> None:  # type: ignore[no-untyped-def]
    response = public_api.get("/v1/public/licences", params={"format": "csv", "holder_name": sealed.prefix})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["行政相对人名称", "行政相对人代码", "许可决定文书号/许可证书编号"]
    assert "当前状态" in rows[0] and "数据来源单位" in rows[0]
    assert {row[2] for row in rows[1:]} == {o.number for o in sealed.orgs}
    person = public_api.get("/v1/public/licences", params={"format": "csv", "q": sealed.person.number}).text
    assert "张*丰" in person and PERSON_ID not in person and "张三丰" not in person


def test_csv_cells_cannot_run_as_spreadsheet_formulas(sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    [record] = register.search(db_instance, register.RegisterQuery(number=sealed.orgs[0].number)).records
    evil = replace(record, holder_name='=HYPERLINK("http://x")', licence_type="+1", item_name="@SUM(1)")
    out = b"".join(register.csv_chunks(iter([evil]), public_url="http://h")).decode("utf-8-sig")
    row = next(csv.reader(io.StringIO(out.splitlines()[1])))
    assert row[0] == '\'=HYPERLINK("http://x")' and row[3] == "'+1" and row[4] == "'@SUM(1)"


def test_register_page_lists_and_links_without_javascript(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    page = public_api.get("/register", params={"q": sealed.orgs[0].number})
    assert page.status_code == 200 and "<script" not in page.text
    assert f'href="/v/{sealed.orgs[0].licence_id}"' in page.text and "行政相对人名称" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    english = public_api.get("/register", params={"q": sealed.orgs[0].number, "lang": "en"})
    assert '<html lang="en">' in english.text
    paged = public_api.get("/register", params={"q": sealed.prefix})
    assert paged.text.count('class="record"') == 3
    # More than a page: a "next page" link that keeps the search and leads to the older records.
    _copies(db_instance, sealed.orgs[0].licence_id, f"晋城分页{sealed.token}", sealed.token, register.DEFAULT_PAGE + 1)
    first = public_api.get("/register", params={"q": f"晋城分页{sealed.token}"}).text
    assert first.count('class="record"') == register.DEFAULT_PAGE and 'id="next"' in first
    href = first.split('id="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = public_api.get(href).text
    assert second.count('class="record"') == 1 and 'id="next"' not in second
    assert f'data-licence="LPAGE{sealed.token}00"' in second  # the oldest


def _copies(instance, licence_id: str, name: str, token: str, count: int) -> None:  # type: ignore[no-untyped-def]
    """``count`` register rows like ``licence_id`` (not sealed: the register reads rows), oldest first."""
    from datetime import timedelta

    from seal_service.storage.models import Licence

    with instance.writer.begin() as session:
        original = session.get(Licence, licence_id)
        for i in range(count):
            session.add(
                Licence(
                    id=f"LPAGE{token}{i:02d}",
                    identifier=f"page-{token}-{i}",
                    serial=f"P{token}{i:02d}",
                    number=f"PAGE-{token}-{i:02d}",
                    authority_id=original.authority_id,
                    seal_id=original.seal_id,
                    certificate_id=original.certificate_id,
                    item_code=original.item_code,
                    licence_type=original.licence_type,
                    licence_type_code=original.licence_type_code,
                    holder_name=f"{name}{i:02d}有限公司",
                    holder_code=original.holder_code,
                    holder_code_type="001",
                    issue_date=original.issue_date,
                    level=original.level,
                    sealed_at=original.sealed_at + timedelta(seconds=i + 1),
                    document_sha256=original.document_sha256,
                )
            )


def test_search_and_export_are_rate_limited_per_address(db_instance) -> None:  # type: ignore[no-untyped-def]
    app = create_app(instance=db_instance)
    unlimited(app)
    limited(app, "search", limit=3)
    limited(app, "export", limit=1, window_seconds=3600)
    api = TestClient(app)
    for _ in range(3):
        assert api.get("/v1/public/licences").status_code == 200
    refused = api.get("/v1/public/licences")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/rate-limited")
    page = api.get("/register")
    assert page.status_code == 429 and "retry-after" in page.headers and "请求过于频繁" in page.text
    assert api.get("/v1/public/licences", params={"format": "csv"}).status_code == 200
    assert api.get("/v1/public/licences", params={"format": "csv"}).status_code == 429


def test_queries_run_under_a_statement_timeout_on_postgresql(db_instance) -> None:  # type: ignore[no-untyped-def]
    if db_instance.engine.dialect.name != "postgresql":
        # SQLite has no statement timeout; what this test checks is PostgreSQL's.
        assert register.search(db_instance, register.RegisterQuery(limit=1), timeout_ms=10) is not None
        return
    from seal_service.errors import QueryTimeout

    engine = register.read_engine(db_instance, 1234)
    assert engine is not None
    with engine.connect() as connection:  # what searches run on
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "1234ms"
    with pytest.raises(QueryTimeout):
        register.search(db_instance, register.RegisterQuery(q="x" * 100), timeout_ms=1)
    with db_instance.sessions() as session, session.begin():  # what the export runs in
        register._limit_time(session, 1234)
        assert session.execute(text("SHOW statement_timeout")).scalar() == "1234ms"
    with pytest.raises(QueryTimeout), db_instance.sessions() as session, session.begin():
        register._limit_time(session, 50)
        try:
            session.execute(text("SELECT pg_sleep(1)"))
        except Exception as exc:
            timeout = register._timeout(exc)  # type: ignore[arg-type]
            assert timeout is not None
            raise timeout from None


_PLAN_QUERIES = {
    "first page": register.RegisterQuery(),
    "q number": register.RegisterQuery(q="140500-20260000042"),
    "q credit code": register.RegisterQuery(q=ORG_CODE),
    "q name prefix": register.RegisterQuery(q="晋城市某"),
    "number": register.RegisterQuery(number="140500-20260000042"),
    "credit code": register.RegisterQuery(credit_code=ORG_CODE),
    "holder name prefix": register.RegisterQuery(holder_name="晋城市某"),
    "item": register.RegisterQuery(item="JC-002"),
    "authority": register.RegisterQuery(authority="jc-market"),
    "status": register.RegisterQuery(status="revoked"),
    "decision dates": register.RegisterQuery(issued_from=date(2026, 1, 1), issued_until=date(2026, 1, 31)),
}


def _plans(session, instance) -> dict[str, str]:  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect
    market = session.execute(text("SELECT id FROM authorities WHERE code = 'jc-market'")).scalar()
    plans = {}
    queries = dict(_PLAN_QUERIES)
    first = register.search(instance, register.RegisterQuery(limit=1))
    last = first.records[0]
    queries["next page"] = register.RegisterQuery(cursor=register._encode_cursor(last.sealed_at, last.licence_id))
    for name, query in queries.items():
        stmt = register.statement(query, authority_id=market, dialect=dialect.name).limit(21)
        compiled = stmt.compile(dialect=dialect)
        prefix = "EXPLAIN " if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        params = compiled.params
        if dialect.name == "sqlite":
            params = tuple(compiled.construct_params()[k] for k in compiled.positiontup or ())
            params = tuple(v.isoformat() if isinstance(v, date) else v for v in params)
        rows = session.connection().exec_driver_sql(prefix + str(compiled), params).all()
        plans[name] = "\n".join(str(r[-1]) for r in rows)
    return plans


def test_every_filter_is_served_by_an_index(db_instance, sealed) -> None:  # type: ignore[no-untyped-def]
    """With 30,000 generated rows (PostgreSQL, rolled back afterwards) no register query scans the table."""
    with db_instance.sessions() as session, session.begin():
        if db_instance.engine.dialect.name == "postgresql":
            session.execute(
                text(
                    "INSERT INTO licences (id, identifier, serial, number, authority_id, seal_id, certificate_id,"
                    " item_code, licence_type, licence_type_code, holder_name, holder_code, holder_code_type,"
                    " issue_date, level, sealed_at, document_sha256, status)"
                    " SELECT 'LPLAN' || g, 'plan-' || g, lpad(g::text, 11, '0'), 'PLAN-' || g, l.authority_id,"
                    " l.seal_id, l.certificate_id, (ARRAY['JC-001','JC-002','JC-003','JC-004'])[1 + g % 4],"
                    " 't', 'c', '单位' || md5(g::text), '9' || lpad(g::text, 17, '0'), '001',"
                    " DATE '2020-01-01' + (g % 2500), 'B-B', TIMESTAMPTZ '2020-01-01' + g * INTERVAL '1 minute',"
                    " md5(g::text), (ARRAY['valid','valid','valid','suspended','revoked'])[1 + g % 5]"
                    " FROM generate_series(1, 30000) g, (SELECT authority_id, seal_id, certificate_id FROM licences"
                    " LIMIT 1) l"
                )
            )
            session.execute(text("ANALYZE licences"))
        plans = _plans(session, db_instance)
        session.rollback()
    for name, plan in plans.items():
        if db_instance.engine.dialect.name == "postgresql":
            assert "Seq Scan on licences" not in plan, f"{name}:\n{plan}"
        else:
            # SQLite: a whole-table walk ("SCAN licences", with or without an index) only for the unfiltered page.
            scans = [line for line in plan.splitlines() if line.startswith("SCAN licences")]
            assert not scans or name == "first page", f"{name}:\n{plan}"
