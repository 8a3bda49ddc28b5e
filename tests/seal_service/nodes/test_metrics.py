"""``GET /metrics``: Prometheus text, protected by ``SEAL_METRICS`` (off, open, bearer), counting what operators
watch. In-process here (one app, metrics in memory); tests/e2e/test_two_nodes.py scrapes real multi-process
servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from seal_service.errors import ConfigurationError
from seal_service.settings import DEVELOPMENT_METRICS_TOKEN, Environment, MetricsAccess, Settings
from tests.conftest import make_instance, make_settings
from tests.support.pdfs import sample_licence_pdf

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):  # type: ignore[no-untyped-def]
    return make_instance(make_settings(tmp_path_factory.mktemp("metrics"), public_url="http://testserver"))


def _client(instance, **settings: object) -> TestClient:  # type: ignore[no-untyped-def]
    from seal_service.api.app import create_app
    from seal_service.instance import Instance

    return TestClient(create_app(instance=Instance(instance.settings.model_copy(update=settings))))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a counter not yet incremented)."""
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_by_default(instance) -> None:  # type: ignore[no-untyped-def]
    with _client(instance) as client:
        answer = client.get("/metrics")
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")
        assert "metrics" not in client.get("/openapi.json").json()["paths"]


def test_bearer_metrics_refuse_callers_without_the_token(instance) -> None:  # type: ignore[no-untyped-def]
    with _client(instance, metrics=MetricsAccess.BEARER, metrics_token=SecretStr(TOKEN)) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {DEVELOPMENT_METRICS_TOKEN}"},  # the dev default is not the token set
        ):
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "seal_http_requests" not in answer.text
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
        assert "# TYPE seal_http_requests_total counter" in ok.text


def test_production_refuses_a_missing_default_or_short_metrics_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"home": tmp_path, "env": Environment.PRODUCTION, "key_passphrase": "a-long-production-passphrase"}
    for token in (None, DEVELOPMENT_METRICS_TOKEN, "short"):
        with pytest.raises(ConfigurationError):
            Settings(**base, metrics=MetricsAccess.BEARER, metrics_token=token).check_startup()
    Settings(**base, metrics=MetricsAccess.BEARER, metrics_token=TOKEN).check_startup()
    Settings(**base, metrics=MetricsAccess.OPEN).check_startup()
    # A development instance without a token uses the known development one.
    dev = Settings(home=tmp_path, metrics=MetricsAccess.BEARER)
    assert dev.metrics_token_value() == DEVELOPMENT_METRICS_TOKEN


def test_requests_sealing_verification_and_database_facts_are_counted(instance) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.apikeys import Role, create_api_key

    at = datetime.now(UTC)
    key = create_api_key(instance, name="m", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=at)
    bearer = {"Authorization": f"Bearer {key.secret}"}
    with _client(instance, metrics=MetricsAccess.OPEN) as client:
        before = client.get("/metrics").text
        sealed = client.post(
            "/v1/licences",
            headers=bearer,
            data={"item_code": "JC-001", "holder_name": "晋城市示例餐饮有限公司", "level": "B-T"},
            files={"pdf": ("l.pdf", sample_licence_pdf(), "application/pdf")},
        )
        assert sealed.status_code == 201, sealed.text
        assert client.get(f"/v1/licences/{sealed.json()['id']}", headers=bearer).status_code == 200
        assert client.get("/v1/licences/LNOSUCH", headers=bearer).status_code == 404
        assert client.get("/no/such/path/123").status_code == 404
        pdf = client.get(f"/v1/licences/{sealed.json()['id']}/pdf", headers=bearer).content
        verdict = client.post("/v1/verify", files={"pdf": ("l.pdf", pdf, "application/pdf")}).json()["verdict"]
        assert client.post("/v1/verify", files={"pdf": ("x.pdf", b"%PDF-1.7 not really", "application/pdf")})
        assert client.get("/crl/seal-ca.crl").status_code == 200
        after = client.get("/metrics").text

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) == by, (name, labels)

    grew("seal_http_requests_total", route="/v1/licences", method="POST", status="201")
    grew("seal_http_requests_total", route="/v1/licences/{licence_id}", method="GET", status="200")
    grew("seal_http_requests_total", route="/v1/licences/{licence_id}", method="GET", status="404")
    grew("seal_http_requests_total", route="unmatched", method="GET", status="404")  # never the raw path
    assert "/no/such/path" not in after
    grew("seal_http_request_duration_seconds_count", route="/v1/licences", method="POST")
    grew("seal_licences_sealed_total", seal="jc-bureau-approval", level="B-T")
    grew("seal_verifications_total", verdict=verdict)
    assert value(after, "seal_verifications_total", verdict="invalid") >= 1  # the document that is no PDF
    assert value(after, "seal_crl_next_update_seconds", issuer="seal-ca") > 0
    assert value(after, "seal_crl_age_seconds", issuer="seal-ca") >= 0
    assert ("seal_sealing_requests_in_flight", ()) in samples(after)
    assert ("seal_db_connections_in_use", ()) in samples(after)
    assert value(after, "seal_db_pool_size") >= 1
    assert value(after, "seal_audit_entries_after_checkpoint") >= 1
