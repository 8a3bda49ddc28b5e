"""The lifecycle over HTTP: the admin memorandum API and who may call it, the public catalogue (JSON and page),
the signed trust bundle, and the scheduled publication of CRLs, OCSP responses and bundles."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.instance import PkiRole
from seal_service.memoranda import china_day, cut_over_instant
from seal_service.services.apikeys import Role, create_api_key
from seal_service.services.publication import RevocationPublisher
from tests.conftest import make_instance, make_settings
from verifier.bundle import load_trust_bundle

NOW = datetime.now(UTC)
DAY = china_day(NOW) + timedelta(days=30)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):  # type: ignore[no-untyped-def]
    return make_instance(make_settings(tmp_path_factory.mktemp("lifecycle-api"), publication_interval_seconds=0))


@pytest.fixture(scope="module")
def client(instance) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(create_app(instance=instance))


def _bearer(instance, role: Role, authority: str | None = None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = create_api_key(instance, name=f"test {role.value}", role=role, authority_code=authority, at=NOW)
    return {"Authorization": f"Bearer {issued.secret}"}


MEMO = {"department": "jc-market", "bureau": "jc-bureau", "items": ["JC-004"], "effective": DAY.isoformat()}


def test_the_admin_api_refuses_callers_without_the_role(instance, client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/admin/memoranda", json=MEMO)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    forged = {"Authorization": "Bearer sk_kdeadbeef0000_not-a-real-secret"}
    assert client.post("/v1/admin/memoranda", json=MEMO, headers=forged).status_code == 401
    for role, authority in ((Role.APPROVAL_SYSTEM, "jc-bureau"), (Role.AUDITOR, None)):
        response = client.post("/v1/admin/memoranda", json=MEMO, headers=_bearer(instance, role, authority))
        assert response.status_code == 403, response.text
        assert "operator, security-officer" in response.json()["detail"]
    assert client.get("/v1/memoranda").json() == []


def test_an_operator_records_a_memorandum(instance, client) -> None:  # type: ignore[no-untyped-def]
    operator = _bearer(instance, Role.OPERATOR)
    bad = client.post("/v1/admin/memoranda", json={**MEMO, "bureau": "zz-bureau"}, headers=operator)
    assert bad.status_code == 422 and "different jurisdictions" in bad.json()["detail"]
    neither = client.post("/v1/admin/memoranda", json={k: v for k, v in MEMO.items() if k != "items"}, headers=operator)
    assert neither.status_code == 422 and "all_items" in neither.json()["detail"]
    response = client.post("/v1/admin/memoranda", json={**MEMO, "reference": "晋审管衔〔2026〕9号"}, headers=operator)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["retires"] == ["jc-market-approval"] and body["retires_on"] == DAY.isoformat()
    assert body["memorandum"]["cut_over_at"] == cut_over_instant(DAY).isoformat()
    assert [m["reference"] for m in client.get("/v1/memoranda").json()] == ["晋审管衔〔2026〕9号"]
    # A security officer may record one too (the whole department, so no item list).
    officer = _bearer(instance, Role.SECURITY_OFFICER)
    whole = {"department": "jc-housing", "bureau": "jc-bureau", "all_items": True, "effective": DAY.isoformat()}
    response = client.post("/v1/admin/memoranda", json=whole, headers=officer)
    assert response.status_code == 201, response.text
    assert response.json()["memorandum"]["items"] == ["JC-005"]


def test_the_catalogue_json_shows_the_history_and_memoranda(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/catalogue").json()
    item = next(i for i in body["items"] if i["code"] == "JC-004")
    assert item["sealed_by_on"] == "jc-market"  # today; it moves in 30 days
    assert item["sealed_by"][-1] == {"authority": "jc-bureau", "from": DAY.isoformat(), "until": None, "memorandum": 1}
    market = next(a for a in body["authorities"] if a["code"] == "jc-market")
    assert market["retired_on"] == DAY.isoformat()
    assert [m["id"] for m in body["memoranda"]] == [1, 2]


def test_the_catalogue_page_is_readable_chinese_without_external_resources(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/catalogue")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="zh-CN">' in page and "划转事项目录" in page and "特种设备使用登记" in page
    assert "晋城市市场监督管理局" in page and "审管衔接备忘录" in page
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert all(link.startswith("/") for link in re.findall(r'href="([^"]*)"', page))
    later = client.get("/catalogue", params={"on": (DAY + timedelta(days=1)).isoformat()}).text
    assert "已废止 retired" in later and "已废止 retired" not in page


def test_the_trust_bundle_is_signed_versioned_and_current(instance, client) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/v1/trust-bundle")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    root = instance.pki.certificate(PkiRole.ROOT)
    bundle = load_trust_bundle(first.content, trust_roots=[root], at=datetime.now(UTC))
    assert str(bundle.version) == first.headers["x-trust-bundle-version"]
    assert bundle.next_update - bundle.issued_at == timedelta(days=7)
    market = bundle.seal("jc-market-approval")
    assert market is not None and market.retirement is not None and market.retirement.day == DAY
    assert market.certificates[0].revocation is not None
    assert market.certificates[0].revocation.reason == "cessationOfOperation"
    assert market.certificates[0].revocation.revoked_at == cut_over_instant(DAY)
    assert bundle.items["JC-004"].sealing_authority(DAY) == "jc-bureau"
    assert {m.id for m in bundle.memoranda} == {1, 2}
    assert set(bundle.certificates) == {"root", "seal-ca", "tsa", "ocsp", "bundle"}
    # Unchanged registry, still fresh: the same version, byte for byte.
    assert client.get("/v1/trust-bundle").content == first.content
    # A change (a new API key does not count; a memorandum-free revocation does) issues a higher version.
    from seal_service.services.registry import revoke_seal

    revoke_seal(instance, "zz-bureau-approval", reason="keyCompromise", at=datetime.now(UTC))
    newer = load_trust_bundle(client.get("/v1/trust-bundle").content, trust_roots=[root], at=datetime.now(UTC))
    assert newer.version == bundle.version + 1
    zz = newer.seal("zz-bureau-approval")
    assert zz is not None and zz.status == "revoked" and zz.certificates[0].revocation is not None


def test_the_publisher_pre_produces_and_wakes_at_the_next_cut_over(instance) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    publisher = RevocationPublisher(instance, interval=timedelta(minutes=30), clock=lambda: now)
    result = publisher.publish(at=now)
    assert set(result.crl_numbers) == {"root", "seal-ca"} and result.ocsp_responses == 4
    assert result.bundle_version is not None
    assert result.next_change == cut_over_instant(DAY)
    # The next round is the interval, or just after the cut-over if that comes first.
    assert publisher._wait_after(result) == pytest.approx(1800)
    nine_before = cut_over_instant(DAY) - timedelta(seconds=9)
    soon = RevocationPublisher(instance, interval=timedelta(days=365), clock=lambda: nine_before)
    assert soon._wait_after(result) == pytest.approx(10)
    # Started with the app's lifespan and stopped with it.
    publisher.start()
    publisher.stop()


def test_the_cli_commands(instance, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from seal_service.cli import main

    for key in [k for k in os.environ if k.startswith("SEAL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SEAL_HOME", str(instance.settings.home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    monkeypatch.setenv("SEAL_PUBLIC_URL", instance.settings.public_url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("memorandum", "list", "--json")
    assert code == 0 and [m["department"] for m in json.loads(out)] == ["jc-market", "jc-housing"]
    code, _, err = run(
        "memorandum", "record", "--department", "jc-market", "--bureau", "zz-bureau", "--items", "JC-004",
        "--effective", DAY.isoformat(),
    )  # fmt: skip
    assert code == 2 and "different jurisdictions" in err
    code, _, err = run(
        "memorandum", "record", "--department", "jc-market", "--bureau", "jc-bureau", "--effective", "2030-01-01"
    )
    assert code == 2 and "--items" in err
    at = cut_over_instant(DAY).isoformat()
    code, out, _ = run("seals", "status", "--json", "--at", at)
    statuses = {s["id"]: s for s in json.loads(out)["seals"]}
    assert statuses["jc-market-approval"]["status"] == "retired"
    assert statuses["jc-market-approval"]["describe"].startswith(f"seal jc-market-approval retired on {DAY}")
    code, out, _ = run("seals", "status")
    assert code == 0 and f"retires on {DAY} (memorandum 1)" in out
    code, out, _ = run("catalogue")
    assert code == 0 and f"jc-bureau from {DAY} (memorandum 1)" in out
    code, out, _ = run("crl", "publish", "-o", str(tmp_path / "crl"))
    assert code == 0 and "seal-ca.crl" in out
    crl = x509.load_der_x509_crl((tmp_path / "crl" / "seal-ca.crl").read_bytes())
    assert crl.is_signature_valid(instance.pki.certificate(PkiRole.SEAL_CA).public_key())  # type: ignore[arg-type]
    # ... and the SM2 seal CA's CRL (SM2-signed) for the national seal (an instance with keys in a token has none).
    from seal_service.gm import national_trust_roots
    from verifier.gm_revocation import is_sm2_crl

    if national_trust_roots(instance):
        assert "sm2-seal-ca.crl" in out and is_sm2_crl((tmp_path / "crl" / "sm2-seal-ca.crl").read_bytes())
    code, out, _ = run("trust-bundle", "-o", str(tmp_path / "bundle.json"), "--fresh")
    assert code == 0 and "wrote trust bundle version" in out
    bundle = load_trust_bundle(
        (tmp_path / "bundle.json").read_bytes(),
        trust_roots=[instance.pki.certificate(PkiRole.ROOT)],
        at=datetime.now(UTC),
    )
    assert f"version {bundle.version} " in out
