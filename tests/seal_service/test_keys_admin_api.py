"""The admin API of keys and audit: 401 without a key, 403 for the wrong role, dual control over HTTP."""

from __future__ import annotations

import csv
import io

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from tests.support.custody import Staff, fresh_seal, make_staff


@pytest.fixture(scope="module")
def staff(keys_instance) -> Staff:  # type: ignore[no-untyped-def]
    return make_staff(keys_instance)


@pytest.fixture(scope="module")
def client(keys_instance) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(create_app(instance=keys_instance))


def _h(issued) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {issued.secret}"}


ROUTES = [
    ("POST", "/v1/admin/requests", {"action": "rotate", "seal_id": "jc-bureau-approval"}),
    ("GET", "/v1/admin/requests", None),
    ("POST", "/v1/admin/requests/REQ-000000000000/approve", None),
    ("GET", "/v1/admin/seals/jc-bureau-approval/history", None),
    ("GET", "/v1/admin/audit", None),
    ("GET", "/v1/admin/audit/verify", None),
    ("POST", "/v1/admin/audit/checkpoints", None),
]
#: Who may call each route (index into ROUTES).
ALLOWED = {
    "alice": {0, 1, 2, 3},
    "auditor": {1, 3, 4, 5, 6},
    "operator": {5, 6},
    "system": set(),
}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_no_key_or_a_bad_key_is_401(client, method, path, body) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Authorization": "Bearer sk_knope_notasecret"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("who", list(ALLOWED))
def test_each_role_reaches_only_its_routes(client, staff, who) -> None:  # type: ignore[no-untyped-def]
    for index, (method, path, body) in enumerate(ROUTES):
        response = client.request(method, path, json=body, headers=_h(getattr(staff, who)))
        if index in ALLOWED[who]:
            assert response.status_code != 403, (who, path, response.text)
        else:
            assert response.status_code == 403, (who, path, response.text)
            assert response.json()["type"].endswith("/not-authorised")
    # The one request Alice may have made above is withdrawn so other tests see no pending rotation.
    for item in client.get("/v1/admin/requests?status=pending", headers=_h(staff.bob)).json():
        client.post(f"/v1/admin/requests/{item['id']}/cancel", headers=_h(staff.bob))


def test_dual_control_over_http(client, keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    created = client.post("/v1/admin/requests", json={"action": "rotate", "seal_id": seal_id}, headers=_h(staff.alice))
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    refused = client.post(f"/v1/admin/requests/{request_id}/approve", headers=_h(staff.alice))
    assert refused.status_code == 403 and refused.json()["type"].endswith("/dual-control")
    approved = client.post(f"/v1/admin/requests/{request_id}/approve", headers=_h(staff.bob))
    assert approved.status_code == 200 and approved.json()["status"] == "executed"
    again = client.post(f"/v1/admin/requests/{request_id}/approve", headers=_h(staff.bob))
    assert again.status_code == 409 and again.json()["type"].endswith("/state-conflict")
    history = client.get(f"/v1/admin/seals/{seal_id}/history", headers=_h(staff.auditor)).json()
    old, new = history["certificates"]
    assert (old["status"], new["status"], new["successor_of"]) == ("superseded", "current", old["id"])
    assert history["current_certificate_id"] == new["id"]
    assert x509.load_pem_x509_certificate(new["certificate_pem"].encode()).serial_number == int(
        new["serial_number"], 16
    )
    bad = client.post(
        "/v1/admin/requests", json={"action": "rotate", "seal_id": seal_id, "x": 1}, headers=_h(staff.alice)
    )
    assert bad.status_code == 422


def test_csr_rotation_over_http(client, keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    from seal_service.services.rotation import issue_certificate_from_csr

    seal_id = fresh_seal(keys_instance)
    request_id = client.post(
        "/v1/admin/requests",
        json={"action": "rotate", "seal_id": seal_id, "params": {"csr": True}},
        headers=_h(staff.bob),
    ).json()["id"]
    approved = client.post(f"/v1/admin/requests/{request_id}/approve", headers=_h(staff.alice)).json()
    csr_pem = approved["result"]["csr_pem"]
    fetched = client.get(f"/v1/admin/seals/{seal_id}/csr", headers=_h(staff.alice))
    assert fetched.status_code == 200 and fetched.text == csr_pem
    assert client.get(f"/v1/admin/seals/{seal_id}/csr", headers=_h(staff.auditor)).status_code == 403
    cert = issue_certificate_from_csr(keys_instance, seal_id, csr_pem.encode(), at=_now(), actor="test")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert (
        client.put(f"/v1/admin/seals/{seal_id}/certificate", content=pem, headers=_h(staff.auditor)).status_code == 403
    )
    imported = client.put(f"/v1/admin/seals/{seal_id}/certificate", content=pem, headers=_h(staff.alice))
    assert imported.status_code == 200, imported.text
    current = [c for c in imported.json()["certificates"] if c["status"] == "current"]
    assert [c["serial_number"] for c in current] == [format(cert.serial_number, "x")]


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_auditors_export_and_verify_the_log(client, keys_instance, staff) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    exported = client.get(f"/v1/admin/audit?seal={seal_id}", headers=_h(staff.auditor))
    assert exported.status_code == 200
    entries = exported.json()
    assert [e["action"] for e in entries] == ["seal.create"]
    assert entries[0]["seq"] and len(entries[0]["entry_hash"]) == 64
    window = client.get(
        "/v1/admin/audit",
        params={"seal": seal_id, "from": "2000-01-01T00:00:00+08:00", "to": "2001-01-01T00:00:00+08:00"},
        headers=_h(staff.auditor),
    )
    assert window.json() == []
    as_csv = client.get(f"/v1/admin/audit?seal={seal_id}&format=csv", headers=_h(staff.auditor))
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["action"] for r in rows] == ["seal.create"] and rows[0]["seal_id"] == seal_id
    verified = client.get("/v1/admin/audit/verify", headers=_h(staff.operator)).json()
    assert verified["intact"] is True and verified["problems"] == []
    signed = client.post("/v1/admin/audit/checkpoints", headers=_h(staff.operator)).json()
    assert signed["seq"] == client.get("/v1/admin/audit/verify", headers=_h(staff.auditor)).json()["last_seq"]
