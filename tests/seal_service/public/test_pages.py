"""The home page, the QR page's masking, the catalogue on a phone, /docs without internet, and the sweep of every
public output for test persons' ID numbers and full names (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from seal_service.public.complaints import file_complaint
from seal_service.storage.models import Licence
from seal_service.storage.public_models import LicenceNumberChange
from tests.seal_service.public.conftest import ORG_CODE, PERSON_ID


def test_home_page_has_every_part_and_no_external_resource(public_api) -> None:  # type: ignore[no-untyped-def]
    page = public_api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    for part in ('action="/register"', 'action="/check"', "二维码", 'href="/complaints/new"', "划转事项目录"):
        assert part in text, part
    for trust in (
        "/pki/root.cer",
        "/v1/trust-bundle",
        "/crl/root.crl",
        "/crl/seal-ca.crl",
        "/pki/ocsp.cer",
        "/log/checkpoint",
    ):
        assert f'href="{trust}"' in text, trust
    # Change history: which item moved when, from whom to whom (the demo catalogue moved JC-001 on 2019-04-28).
    assert (
        "2019-04-28" in text
        and "JC-001 食品经营许可" in text
        and "晋城市市场监督管理局 → 晋城市行政审批服务管理局" in text
    )
    assert not re.search(r'(src|href)="(https?:)?//', text), "no external resources"
    assert "<script" not in text
    english = public_api.get("/", params={"lang": "en"}).text
    # English pages keep English in their links; the switch leads back to Chinese.
    assert '<html lang="en">' in english and 'href="/register?lang=en"' in english
    assert '<a class="lang" href="/" hreflang="zh-CN">中文</a>' in english
    assert '<a class="lang" href="/?lang=en" hreflang="en">English</a>' in text


def test_the_home_page_checks_an_uploaded_pdf_without_javascript(public_api, sealed, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    result = public_api.post("/check", files={"pdf": ("l.pdf", sealed.orgs[0].pdf, "application/pdf")})
    # The verdict itself needs the OCSP responder at the instance's public URL (not served here: the browser test
    # checks a valid verdict against a live server); the page names the licence the file is.
    assert result.status_code == 200 and 'data-verdict="' in result.text
    assert f'href="/v/{sealed.orgs[0].licence_id}"' in result.text
    unsigned = public_api.post("/check", files={"pdf": ("l.pdf", licence_pdf, "application/pdf")})
    assert unsigned.status_code == 200 and 'data-verdict="valid"' not in unsigned.text
    garbage = public_api.post("/check", files={"pdf": ("x.pdf", b"not a pdf", "application/pdf")})
    assert garbage.status_code in (200, 422) and "Traceback" not in garbage.text


def test_qr_page_shows_organisations_in_full_and_persons_masked(public_api, sealed) -> None:  # type: ignore[no-untyped-def]
    org = public_api.get(f"/v/{sealed.orgs[0].licence_id}").text
    assert f"{sealed.prefix}餐饮有限公司" in org and ORG_CODE in org
    person = public_api.get(f"/v/{sealed.person.licence_id}").text
    assert "张*丰" in person and "张三丰" not in person and PERSON_ID not in person and "19491231" not in person


def test_qr_page_of_a_renumbered_licence_names_its_printed_number(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    licence = sealed.orgs[1]
    with db_instance.writer.begin() as session:
        session.add(
            LicenceNumberChange(
                licence_id=licence.licence_id,
                printed_number="140500-PRINTED-1",
                number=licence.number,
                kept_by=sealed.orgs[0].licence_id,
                changed_at=datetime.now(UTC),
            )
        )
    page = public_api.get(f"/v/{licence.licence_id}").text  # not asked for before in this module: not cached
    assert "140500-PRINTED-1" in page and "印制编号" in page


def test_catalogue_reads_on_a_phone(public_api) -> None:  # type: ignore[no-untyped-def]
    page = public_api.get("/catalogue").text
    assert "@media (max-width:40rem)" in page and 'data-label="沿革 History"' in page
    assert 'data-label="事项编码 Code"' in page and 'data-label="状态 Status"' in page


def test_docs_work_without_internet(public_api) -> None:  # type: ignore[no-untyped-def]
    for path in ("/docs", "/redoc"):
        page = public_api.get(path).text
        assert not re.search(r'(src|href)="https?://', page), page
    docs = public_api.get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in docs and "/docs/assets/swagger-ui.css" in docs
    assert "/docs/assets/redoc.standalone.js" in public_api.get("/redoc").text
    bundle = public_api.get("/docs/assets/swagger-ui-bundle.js")
    assert (
        bundle.status_code == 200 and len(bundle.content) > 100_000 and "javascript" in bundle.headers["content-type"]
    )
    assert public_api.get("/docs/assets/redoc.standalone.js").status_code == 200
    assert public_api.get("/docs/assets/../../etc/passwd").status_code == 404
    assert public_api.get("/docs/assets/secret.txt").status_code == 404
    assert "/v1/public/licences" in public_api.get("/openapi.json").json()["paths"]


def test_no_public_output_contains_a_persons_id_number_or_full_name(public_api, sealed, db_instance) -> None:  # type: ignore[no-untyped-def]
    person = sealed.person
    receipt = file_complaint(
        db_instance,
        category="证照信息有误",
        text="编号印错",
        licence_ref=person.number,
        contact=None,
        at=datetime.now(UTC),
    ).receipt
    with db_instance.sessions() as session:
        persons = (
            session.query(Licence.holder_name, Licence.holder_code).filter(Licence.holder_code_type == "111").all()
        )
    assert persons, "the sweep needs natural persons on record"
    secrets_ = {PERSON_ID, PERSON_ID[6:14], sealed.person_name} | {c for _, c in persons if c} | {n for n, _ in persons}
    outputs = {
        "home": public_api.get("/"),
        "register page": public_api.get("/register"),
        "register by number": public_api.get("/register", params={"q": person.number}),
        "register by name": public_api.get("/register", params={"q": sealed.person_name}),
        "register by id": public_api.get("/register", params={"q": PERSON_ID}),
        "json": public_api.get("/v1/public/licences", params={"limit": 100}),
        "json by number": public_api.get("/v1/public/licences", params={"number": person.number}),
        "csv": public_api.get("/v1/public/licences", params={"format": "csv"}),
        "qr page": public_api.get(f"/v/{person.licence_id}"),
        "qr page en": public_api.get(f"/v/{person.licence_id}", params={"lang": "en"}),
        "complaint page": public_api.get(f"/complaints/{receipt}"),
        "complaint json": public_api.get(f"/v1/public/complaints/{receipt}"),
        "complaint form": public_api.get("/complaints/new", params={"licence": person.number}),
        "licence status for verifiers": public_api.get(f"/v1/public/licences/{person.licence_id}"),
    }
    assert person.number in outputs["json by number"].text and person.number in outputs["complaint json"].text
    echoes = {"register by name": sealed.person_name, "register by id": PERSON_ID}
    for name, response in outputs.items():
        body = response.content.decode("utf-8", errors="replace")
        if name in echoes:
            # The search form shows back what the visitor typed (and the CSV link repeats it): not published data.
            assert "没有符合条件的证照" in body
            body = body.replace(f'value="{echoes[name]}"', "").replace(f"q={echoes[name]}", "")
        for secret in secrets_:
            assert secret not in body, f"{name} shows {secret!r}"


def test_catalogue_history_names_the_memorandum_of_each_move(db_instance) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace
    from datetime import date

    from seal_service.catalogue import SealingPeriod
    from seal_service.public.pages import catalogue_history

    base = db_instance.catalogue
    item = base.items["JC-004"]
    moved = replace(
        item,
        sealed_by=(
            SealingPeriod("jc-market", date(2015, 10, 1), date(2027, 1, 1)),
            SealingPeriod("jc-bureau", date(2027, 1, 1), None, memorandum=3),
        ),
    )
    catalogue = replace(base, items={**base.items, "JC-004": moved})
    lines = catalogue_history(catalogue, {3: "晋审管备〔2026〕3号"})
    assert lines[0] == (
        "2027-01-01",
        "JC-004 特种设备使用登记",
        "晋城市市场监督管理局 → 晋城市行政审批服务管理局",
        "备忘录 3（晋审管备〔2026〕3号）",
    )
    assert [line[0] for line in lines] == sorted((line[0] for line in lines), reverse=True)  # newest first
