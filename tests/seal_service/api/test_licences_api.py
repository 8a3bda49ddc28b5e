"""POST /v1/licences and friends: authentication, authorisation, idempotency, bad input, status changes."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from seal_service.storage.models import Licence

FIELDS = {"item_code": "JC-001", "holder_name": "晋城市示例餐饮有限公司", "level": "B-B"}


def _post(api, headers, pdf: bytes, **fields):  # type: ignore[no-untyped-def]
    data = FIELDS | fields
    return api.post("/v1/licences", headers=headers, data=data, files={"pdf": ("licence.pdf", pdf, "application/pdf")})


def _licence_count(instance) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Licence)) or 0)


def _is_problem(response, status: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://")
    text = (body.get("detail") or "") + " " + str(body.get("field"))
    for word in words:
        assert word in text, body


def test_seal_read_back_and_download(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    created = _post(
        api, keys.city, licence_pdf, level="B-LTA", holder_code="11430000006122244L", holder_code_type="001"
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["seal_id"] == "jc-bureau-approval" and body["level"] == "B-LTA" and body["status"] == "valid"
    assert body["verify_url"].endswith(f"/v/{body['id']}")
    assert created.headers["location"] == f"/v1/licences/{body['id']}"
    again = api.get(f"/v1/licences/{body['id']}", headers=keys.city)
    assert again.status_code == 200 and again.json()["identifier"] == body["identifier"]
    pdf = api.get(f"/v1/licences/{body['id']}/pdf", headers=keys.city)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == body["document_sha256"]


def test_missing_or_bad_key_is_401(api, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    _is_problem(_post(api, {}, licence_pdf), 401)
    _is_problem(_post(api, {"Authorization": "Bearer sk_k000000000000_nope"}, licence_pdf), 401)
    _is_problem(_post(api, {"Authorization": "Bearer garbage"}, licence_pdf), 401)


def test_a_county_system_cannot_use_the_city_seal(api, keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    before = _licence_count(db_instance)
    _is_problem(_post(api, keys.county, licence_pdf, seal_id="jc-bureau-approval"), 403, "seal_id")
    assert _licence_count(db_instance) == before


def test_a_non_approval_role_cannot_seal(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    _is_problem(_post(api, keys.auditor, licence_pdf), 403, "approval-system")


def test_department_system_is_refused_for_a_transferred_item(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    _is_problem(_post(api, keys.market, licence_pdf), 403, "sealed by jc-bureau")


def test_licences_of_another_authority_are_invisible(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    body = _post(api, keys.city, licence_pdf).json()
    assert api.get(f"/v1/licences/{body['id']}", headers=keys.county).status_code == 404
    assert api.get(f"/v1/licences/{body['id']}/pdf", headers=keys.county).status_code == 404
    assert api.post(f"/v1/licences/{body['id']}/revoke", headers=keys.county, json={"reason": "x"}).status_code == 404


def test_idempotent_retry_returns_the_same_licence(api, keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    headers = keys.city | {"Idempotency-Key": "case-2026-0001"}
    first = _post(api, headers, licence_pdf)
    assert first.status_code == 201
    count = _licence_count(db_instance)
    second = _post(api, headers, licence_pdf)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["document_sha256"] == first.json()["document_sha256"]
    assert _licence_count(db_instance) == count
    pdf1 = api.get(f"/v1/licences/{first.json()['id']}/pdf", headers=keys.city).content
    assert hashlib.sha256(pdf1).hexdigest() == second.json()["document_sha256"]


def test_same_idempotency_key_with_another_body_is_refused(api, keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    headers = keys.city | {"Idempotency-Key": "case-2026-0002"}
    assert _post(api, headers, licence_pdf).status_code == 201
    count = _licence_count(db_instance)
    _is_problem(_post(api, headers, licence_pdf, holder_name="另一家公司"), 422, "Idempotency-Key", "different")
    assert _licence_count(db_instance) == count


def test_a_failed_request_releases_its_idempotency_key(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    headers = keys.city | {"Idempotency-Key": "case-2026-0003"}
    _is_problem(_post(api, headers, b"not a pdf at all"), 422, "not a PDF")
    # Refused again for the same reason, not "in progress" or "key reused": the failure released the claim.
    _is_problem(_post(api, headers, b"not a pdf at all"), 422, "not a PDF")
    # So the corrected request may use the same key.
    assert _post(api, headers, licence_pdf).status_code == 201


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"item_code": "NOPE"}, 404, ("NOPE",)),
        ({"seal_id": "nope"}, 404, ("nope",)),
        ({"holder_code_type": "999"}, 422, ("holder_code_type",)),
        ({"holder_code": "123", "holder_code_type": "001"}, 422, ("holder_code", "GB 32100")),
        ({"holder_code": "11430000006122244M", "holder_code_type": "001"}, 422, ("holder_code", "check character")),
        ({"holder_code": "110105194912310021", "holder_code_type": "111"}, 422, ("holder_code", "GB 11643")),
        ({"valid_from": "2026-13-01"}, 422, ("valid_from",)),
        ({"valid_from": "2026-12-01", "valid_until": "2026-01-01"}, 422, ("valid_until",)),
        ({"level": "B-XL"}, 422, ("level",)),
        ({"licence_type_code": "X1"}, 422, ("licence_type_code",)),
        ({"holder_name": ""}, 422, ("holder_name",)),
    ],
)
def test_bad_fields_are_named(api, keys, db_instance, licence_pdf, fields, status, words) -> None:  # type: ignore[no-untyped-def]
    before = _licence_count(db_instance)
    _is_problem(_post(api, keys.city, licence_pdf, **fields), status, *words)
    assert _licence_count(db_instance) == before


def test_missing_pdf_and_missing_fields(api, keys) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/v1/licences", headers=keys.city, data=FIELDS)
    _is_problem(response, 422, "pdf")
    response = api.post(
        "/v1/licences", headers=keys.city, data={"item_code": "JC-001"}, files={"pdf": ("a.pdf", b"%PDF-", "x")}
    )
    _is_problem(response, 422, "holder_name")


def test_bad_documents_answer_422_with_the_cause(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    _is_problem(_post(api, keys.city, b"GIF89a"), 422, "not a PDF")
    _is_problem(_post(api, keys.city, licence_pdf[:200]), 422, "pdf")
    sealed = _post(api, keys.city, licence_pdf).json()
    signed = api.get(f"/v1/licences/{sealed['id']}/pdf", headers=keys.city).content
    _is_problem(_post(api, keys.city, signed), 422, "already signed")


def test_oversize_upload_is_refused_before_it_is_read(api, keys, db_instance) -> None:  # type: ignore[no-untyped-def]
    limit = db_instance.settings.max_upload_bytes
    response = _post(api, keys.city, b"%PDF-1.7\n" + b"0" * (limit + 128 * 1024))
    _is_problem(response, 413, "exceeds")


def test_status_changes(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence = _post(api, keys.city, licence_pdf).json()
    url = f"/v1/licences/{licence['id']}"
    suspended = api.post(f"{url}/suspend", headers=keys.city, json={"reason": "核查中 / under review"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert api.get(url, headers=keys.city).json()["status_reason"] == "核查中 / under review"
    _is_problem(api.post(f"{url}/suspend", headers=keys.city, json={"reason": "again"}), 409, "suspended")
    assert api.post(f"{url}/reinstate", headers=keys.city, json={"reason": "核查通过"}).json()["status"] == "valid"
    assert api.post(f"{url}/revoke", headers=keys.city, json={"reason": "注销"}).json()["status"] == "revoked"
    _is_problem(api.post(f"{url}/reinstate", headers=keys.city, json={"reason": "x"}), 409, "revoked")
    _is_problem(api.post(f"{url}/revoke", headers=keys.city, json={}), 422, "reason")


def test_public_endpoints_need_no_key(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/healthz").json()["status"] == "ok"
    assert api.get("/v1/catalogue").status_code == 200
    assert api.get("/pki/root.cer").headers["content-type"] == "application/pkix-cert"
    assert api.get("/crl/seal-ca.crl").headers["content-type"] == "application/pkix-crl"
    assert api.get("/v/LNOSUCHLICENCE").status_code == 404


def test_public_page_masks_only_natural_persons(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    from seal_service.api.public import mask_name

    assert mask_name("张三丰") == "张*丰" and mask_name("张三") == "张*"
    person = _post(
        api, keys.city, licence_pdf, holder_name="张三丰", holder_code="11010519491231002X", holder_code_type="111"
    ).json()
    page = api.get(f"/v/{person['id']}")
    assert page.status_code == 200 and "证照有效" in page.text
    assert "张三丰" not in page.text and "张*丰" in page.text
    assert "11010519491231002X" not in page.text and "19491231" not in page.text  # no ID number, not even part of it
    # Organisations are public in the register: name and credit code in full.
    company = _post(api, keys.city, licence_pdf, holder_code="11430000006122244L", holder_code_type="001").json()
    page = api.get(f"/v/{company['id']}")
    assert "晋城市示例餐饮有限公司" in page.text and "11430000006122244L" in page.text
