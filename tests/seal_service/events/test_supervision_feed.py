"""The pull feed: a department's supervisor key reads exactly the events of the items it supervises and of its own
seals, in cursor order; other roles, other departments and bad parameters are refused (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.cli import main
from seal_service.errors import InvalidInput
from seal_service.services.apikeys import Role, create_api_key
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from tests.seal_service.events.conftest import bearer, write_events


@pytest.fixture(scope="module")
def client(sup_instance) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(create_app(instance=sup_instance))


def _seal(instance, pdf: bytes, item: str) -> str:  # type: ignore[no-untyped-def]
    request = LicenceRequest(
        item_code=item,
        holder_name="晋城市示例有限公司",
        seal_id="jc-bureau-approval",
        level=PadesLevel.B_B,
        holder_code="11430000006122244L",
        holder_code_type="001",
    )
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC)).licence_id


def _feed(client: TestClient, headers: dict[str, str], **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get("/v1/supervision/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _head(client: TestClient, headers: dict[str, str]) -> int:
    """The cursor after the department's newest event (paging: other modules share the instance's feed)."""
    cursor = 0
    while True:
        page = _feed(client, headers, after=cursor, limit=1000)
        if not page["events"]:
            return int(page["next_cursor"])
        cursor = int(page["next_cursor"])


def test_each_department_sees_its_items_and_nothing_else(sup_instance, client, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    market, housing = bearer(sup_instance, "supervisor", "jc-market"), bearer(sup_instance, "supervisor", "jc-housing")
    start_market = _head(client, market)
    start_housing = _head(client, housing)
    food = _seal(sup_instance, licence_pdf, "JC-001")  # supervised by jc-market
    building = _seal(sup_instance, licence_pdf, "JC-003")  # supervised by jc-housing
    seen_market = _feed(client, market, after=start_market)["events"]
    seen_housing = _feed(client, housing, after=start_housing)["events"]
    assert [(e["type"], e["subject"]) for e in seen_market] == [("cn.gov.approval.licence.sealed", food)]
    assert [(e["type"], e["subject"]) for e in seen_housing] == [("cn.gov.approval.licence.sealed", building)]
    # Unmasked holder data for the supervisor entitled to it.
    assert seen_market[0]["data"]["holder"]["code"] == "11430000006122244L"
    # The bureau that owns the seal sees both (its own seal's events).
    bureau = bearer(sup_instance, "supervisor", "jc-bureau")
    subjects = [e["subject"] for e in _feed(client, bureau, after=min(start_market, start_housing))["events"]]
    assert food in subjects and building in subjects


def test_the_cursor_pages_through_in_order(sup_instance, client) -> None:  # type: ignore[no-untyped-def]
    market = bearer(sup_instance, "supervisor", "jc-market")
    start = _head(client, market)
    ids = write_events(sup_instance, ["L1", "L2", "L3", "L4", "L5"])
    write_events(sup_instance, ["X1"], departments=("jc-housing",))
    got, cursor = [], start
    while True:
        page = _feed(client, market, after=cursor, limit=2)
        if not page["events"]:
            break
        seqs = [int(e["sequence"]) for e in page["events"]]
        assert seqs == sorted(seqs) and seqs[0] > cursor and page["next_cursor"] == seqs[-1]
        got += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
    assert got == ids
    assert _feed(client, market, after=cursor) == {"events": [], "next_cursor": cursor}


def test_waiting_returns_as_soon_as_an_event_commits(sup_instance, client) -> None:  # type: ignore[no-untyped-def]
    market = bearer(sup_instance, "supervisor", "jc-market")
    cursor = _head(client, market)
    answer: dict = {}  # type: ignore[type-arg]

    def poll() -> None:
        started = time.monotonic()
        answer["page"] = _feed(client, market, after=cursor, wait=10)
        answer["seconds"] = time.monotonic() - started

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    [event_id] = write_events(sup_instance, ["L-wait"])
    waiter.join(timeout=15)
    assert [e["id"] for e in answer["page"]["events"]] == [event_id]
    assert 0.4 < answer["seconds"] < 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "abc"}, "after"),
        ({"after": 10**30}, "after"),  # beyond a BIGINT (was a 500)
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"wait": 61}, "wait"),
        ({"wait": "soon"}, "wait"),
    ],
)
def test_bad_parameters_are_problems_naming_the_field(sup_instance, client, params, field) -> None:  # type: ignore[no-untyped-def]
    response = client.get(
        "/v1/supervision/events", params=params, headers=bearer(sup_instance, "supervisor", "jc-market")
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field


def test_only_supervisor_keys_read_the_feed(sup_instance, client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/supervision/events").status_code == 401
    assert client.get("/v1/supervision/events", headers={"Authorization": "Bearer sk_nope_nope"}).status_code == 401
    for role, authority in [("approval-system", "jc-bureau"), ("operator", None), ("auditor", None)]:
        response = client.get("/v1/supervision/events", headers=bearer(sup_instance, role, authority))
        assert response.status_code == 403, role
        assert response.json()["type"].endswith("/not-authorised")


def test_a_supervisor_key_must_name_its_department(sup_instance, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        create_api_key(sup_instance, name="无部门", role=Role.SUPERVISOR, authority_code=None, at=datetime.now(UTC))
    assert refused.value.field == "authority"


def test_the_cli_creates_a_supervisor_key(sup_instance, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = sup_instance.settings
    monkeypatch.setenv("SEAL_HOME", str(settings.home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    if settings.database_url:
        monkeypatch.setenv("SEAL_DATABASE_URL", settings.database_url)
    code = main(
        ["apikeys", "create", "--role", "supervisor", "--authority", "jc-market", "--name", "市场监管局监管系统"]
    )
    assert code == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    client = TestClient(create_app(instance=sup_instance))
    assert client.get("/v1/supervision/events", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
