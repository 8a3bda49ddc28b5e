"""Complaints (投诉): filing (JSON and the form), routing, refusals that store nothing, status and answers by staff
keys, the CLI, the audit trail and rate limits (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seal_service.api.app import create_app
from seal_service.cli import main
from seal_service.public.complaints import Category, route_complaint
from seal_service.services.apikeys import Role, create_api_key
from seal_service.storage.models import AuditEntry
from seal_service.storage.public_models import ComplaintRecord
from tests.seal_service.public.conftest import limited, unlimited

PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">&amp; "引号"'


def _bearer(instance, role: Role, authority: str | None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = create_api_key(
        instance, name=f"投诉测试 {role.value}", role=role, authority_code=authority, at=datetime.now(UTC)
    )
    return {"Authorization": f"Bearer {issued.secret}"}


def _count(instance) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ComplaintRecord)) or 0)


def _file(api: TestClient, **fields: object) -> dict[str, object]:
    response = api.post("/v1/public/complaints", json=fields)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_complaint_about_a_holder_goes_to_the_supervising_department(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    pharmacy = sealed.orgs[1]  # JC-004, supervised by jc-market
    filed = _file(
        public_api, category="未经许可经营", licence=pharmacy.number, text="超范围经营", contact="138-0000-0000"
    )
    assert filed["routed_to"] == "jc-market" and str(filed["receipt"]).startswith("TS-")
    status = public_api.get(f"/v1/public/complaints/{filed['receipt']}").json()
    assert (
        status["status"] == "received" and status["route"] == "holder" and status["licence_number"] == pharmacy.number
    )
    assert "contact" not in status and "138-0000-0000" not in json.dumps(status)
    with db_instance.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "complaint.file").order_by(AuditEntry.id.desc()).limit(1)
        ).one()
    assert entry.details["receipt"] == filed["receipt"] and entry.details["routed_to"] == "jc-market"
    assert "超范围经营" not in json.dumps(entry.details, ensure_ascii=False) and "138" not in json.dumps(entry.details)


def test_routing_rules(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    restaurant = sealed.orgs[0]  # JC-001, sealed by jc-bureau, supervised by jc-market
    assert (
        _file(public_api, category="证照信息有误", licence=restaurant.licence_id, text="地址错误")["routed_to"]
        == "jc-bureau"
    )
    assert _file(public_api, category="其他", licence=restaurant.identifier, text="卫生")["routed_to"] == "jc-market"
    assert _file(public_api, category="service", text="窗口排队太久")["routed_to"] == "jc-bureau"
    assert _file(public_api, category="unlicensed", text="无证经营，无证照编号")["routed_to"] == "jc-bureau"
    catalogue = db_instance.lifecycle.state().catalogue
    housing = route_complaint(
        Category.UNLICENSED, catalogue=catalogue, item_code="JC-003", issuer="jc-bureau", jurisdiction="140500"
    )
    assert (housing.authority, housing.route, housing.about_holder) == ("jc-housing", "holder", True)
    county = route_complaint(
        Category.SERVICE, catalogue=catalogue, item_code="ZZ-001", issuer="zz-bureau", jurisdiction="140525"
    )
    assert (county.authority, county.route, county.about_holder) == ("zz-bureau", "service", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "投诉", "text": "x"}, "category"),
        ({"category": "其他", "text": "   "}, "text"),
        ({"category": "其他"}, "text"),
        ({"category": "其他", "text": "长" * 2001}, "text"),
        ({"category": "其他", "text": "x", "contact": "c" * 201}, "contact"),
        ({"category": "其他", "text": "x", "licence": "140500-NOSUCHNUMBER"}, "licence"),
        ({"category": "其他", "text": "bell\x07"}, "text"),
        ({"category": "其他", "text": 12}, "text"),
        ({"category": ["其他"], "text": "x"}, "category"),
    ],
)
def test_bad_complaints_are_refused_naming_the_field_and_nothing_is_stored(
    public_api, db_instance, body, field
) -> None:  # type: ignore[no-untyped-def]
    before = _count(db_instance)
    response = public_api.post("/v1/public/complaints", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    assert _count(db_instance) == before


def test_malformed_and_oversize_bodies_are_refused(public_api, db_instance) -> None:  # type: ignore[no-untyped-def]
    before = _count(db_instance)
    for content in (b"{not json", b"[1, 2]", b"\xff\xfe", b'{"text": "' + b"x" * 40_000 + b'"}'):
        response = public_api.post(
            "/v1/public/complaints", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422 and response.json()["field"] in ("body", "text"), response.text
    assert _count(db_instance) == before
    assert public_api.get("/v1/public/complaints/TS-00000-00000").status_code == 404
    assert public_api.get("/v1/public/complaints/<script>").status_code == 404


def test_the_form_files_and_shows_the_text_escaped(public_api, db_instance) -> None:  # type: ignore[no-untyped-def]
    response = public_api.post(
        "/complaints",
        data={"category": "审批服务问题", "text": PAYLOAD, "contact": "", "licence": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/complaints/TS-")
    page = public_api.get(response.headers["location"])
    assert page.status_code == 200 and "<script>window" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page.text and "&amp;amp;" in page.text
    assert 'data-status="received"' in page.text and "投诉已提交" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    # A refused field: the form comes back naming it, the visitor's text kept (escaped), nothing stored.
    before = _count(db_instance)
    refused = public_api.post("/complaints", data={"category": "其他", "text": PAYLOAD + "x" * 2000})
    assert refused.status_code == 422 and 'data-field="text"' in refused.text
    assert "<script>window" not in refused.text and "&lt;script&gt;" in refused.text
    assert _count(db_instance) == before
    assert public_api.get("/complaints/new").status_code == 200
    lookup = public_api.get("/complaints", params={"receipt": "ts-00000-00000"}, follow_redirects=False)
    assert lookup.status_code == 303 and public_api.get(lookup.headers["location"]).status_code == 404


def test_staff_see_and_answer_their_own_complaints(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    market = _bearer(db_instance, Role.APPROVAL_SYSTEM, "jc-market")
    city = _bearer(db_instance, Role.APPROVAL_SYSTEM, "jc-bureau")
    auditor = _bearer(db_instance, Role.AUDITOR, None)
    filed = _file(
        public_api, category="未经许可经营", licence=sealed.orgs[1].number, text="晚间无证加工", contact="wx:someone"
    )
    receipt = filed["receipt"]
    listed = public_api.get("/v1/admin/complaints", headers=market).json()["complaints"]
    mine = [c for c in listed if c["receipt"] == receipt]
    assert len(mine) == 1 and mine[0]["contact"] == "wx:someone"
    assert all(c["routed_to"] == "jc-market" for c in listed)
    assert receipt not in json.dumps(public_api.get("/v1/admin/complaints", headers=city).json())
    assert receipt in json.dumps(public_api.get("/v1/admin/complaints", headers=auditor).json())
    assert public_api.get("/v1/admin/complaints").status_code == 401
    url = f"/v1/admin/complaints/{receipt}/answer"
    assert public_api.post(url, headers=city, json={"answer": "不归我们"}).status_code == 403
    assert public_api.post(url, headers=auditor, json={"answer": "审计员不答复"}).status_code == 403
    assert public_api.post(url, headers=market, json={}).json()["field"] == "answer"
    answered = public_api.post(url, headers=market, json={"answer": "已现场检查，责令停止 <b>加工</b>"})
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert public_api.post(url, headers=market, json={"answer": "again"}).status_code == 409
    public = public_api.get(f"/v1/public/complaints/{receipt}").json()
    assert public["status"] == "answered" and public["answer"].startswith("已现场检查")
    page = public_api.get(f"/complaints/{receipt}").text
    assert 'data-status="answered"' in page and "&lt;b&gt;加工&lt;/b&gt;" in page
    with db_instance.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("complaint.%"))))
    assert {"complaint.file", "complaint.list", "complaint.answer"} <= actions


def test_cli_lists_and_answers(public_api, sealed, db_instance, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = db_instance.settings
    monkeypatch.setenv("SEAL_HOME", str(settings.home))
    monkeypatch.setenv("SEAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", settings.key_passphrase.get_secret_value())
    monkeypatch.setenv("SEAL_PUBLIC_URL", settings.public_url)
    receipt = _file(public_api, category="审批服务问题", text="材料被要求重复提交")["receipt"]
    assert main(["complaints", "list", "--authority", "jc-bureau", "--status", "received", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert receipt in [c["receipt"] for c in listed]
    assert main(["complaints", "answer", str(receipt), "--text", "已答复", "--authority", "jc-market"]) == 2
    assert "routed to jc-bureau" in capsys.readouterr().err
    assert main(["complaints", "answer", str(receipt)]) == 2
    assert main(["complaints", "answer", str(receipt), "--text", "已改为一次告知", "--actor", "窗口科"]) == 0
    assert public_api.get(f"/v1/public/complaints/{receipt}").json()["answer"] == "已改为一次告知"
    assert main(["complaints", "list", "--status", "answered"]) == 0
    assert str(receipt) in capsys.readouterr().out


def test_filing_is_rate_limited_and_a_refused_filing_stores_nothing(db_instance) -> None:  # type: ignore[no-untyped-def]
    app = create_app(instance=db_instance)
    unlimited(app)
    limited(app, "complaint", limit=1, window_seconds=3600)
    api = TestClient(app)
    assert api.post("/v1/public/complaints", json={"category": "其他", "text": "一"}).status_code == 201
    before = _count(db_instance)
    refused = api.post("/v1/public/complaints", json={"category": "其他", "text": "二"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    form = api.post("/complaints", data={"category": "其他", "text": "三"})
    assert form.status_code == 429 and "retry-after" in form.headers
    assert _count(db_instance) == before
