"""Findings back: only the supervising department files (403 otherwise), PDFs checked like sign uploads, bad input
refused with nothing recorded; the bureau resolves through the licence-status path; every step audited and an
event back to the department — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seal_service.api.app import create_app
from seal_service.cli import main
from seal_service.services.sealing import LicenceRequest, get_licence, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.events_models import Finding, FindingAttachment, SupervisionEvent
from seal_service.storage.models import AuditEntry
from tests.seal_service.events.conftest import bearer


@pytest.fixture(scope="module")
def client(sup_instance) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(create_app(instance=sup_instance))


def _licence(instance, pdf: bytes, item: str = "JC-001") -> str:  # type: ignore[no-untyped-def]
    request = LicenceRequest(
        item_code=item,
        holder_name="晋城市示例餐饮有限公司",
        seal_id="jc-bureau-approval",
        level=PadesLevel.B_B,
        holder_code="11100000000013338W",
        holder_code_type="001",
    )
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC)).licence_id


def _counts(instance) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Finding, FindingAttachment, SupervisionEvent, AuditEntry)
        )


def _events_of(instance, licence_id: str) -> list[dict]:  # type: ignore[type-arg,no-untyped-def]
    with instance.sessions() as session:
        rows = session.scalars(
            select(SupervisionEvent.envelope)
            .where(SupervisionEvent.subject == licence_id)
            .order_by(SupervisionEvent.seq)
        ).all()
    return [json.loads(r) for r in rows]


def test_the_supervising_department_files_and_the_bureau_suspends(sup_instance, client, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence_id = _licence(sup_instance, licence_pdf)
    market, operator = bearer(sup_instance, "supervisor", "jc-market"), bearer(sup_instance, "operator")
    response = client.post(
        "/v1/supervision/findings",
        data={
            "licence_id": licence_id,
            "kind": "suspension-recommended",
            "text": "现场检查发现无证经营冷链食品。",
            "inspector_reference": "晋市监检〔2026〕12号",
        },
        files=[("attachments", ("检查记录.pdf", licence_pdf, "application/pdf"))],
        headers=market,
    )
    assert response.status_code == 201, response.text
    finding = response.json()
    assert finding["status"] == "open" and finding["department"] == "jc-market"
    assert finding["attachments"][0]["filename"] == "检查记录.pdf" and finding["attachments"][0]["size"] == len(
        licence_pdf
    )
    queue = client.get("/v1/supervision/findings", params={"status": "open"}, headers=operator).json()
    assert finding["id"] in [f["id"] for f in queue]
    # A supervisor cannot read the bureau's queue, nor resolve.
    assert client.get("/v1/supervision/findings", headers=market).status_code == 403
    assert (
        client.post(
            f"/v1/supervision/findings/{finding['id']}/resolve", json={"action": "none", "reason": "x"}, headers=market
        ).status_code
        == 403
    )
    resolved = client.post(
        f"/v1/supervision/findings/{finding['id']}/resolve",
        json={"action": "suspend", "reason": "责令停业整改"},
        headers=operator,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == "suspend" and resolved.json()["status"] == "resolved"
    assert get_licence(sup_instance, licence_id).status == "suspended"
    # Events back: filed, the suspension (usual path), resolved — all to the department.
    types = [e["type"].rsplit(".", 2)[-2:] for e in _events_of(sup_instance, licence_id)]
    assert types == [["licence", "sealed"], ["finding", "filed"], ["licence", "suspended"], ["finding", "resolved"]]
    resolved_event = _events_of(sup_instance, licence_id)[-1]
    assert "jc-market" in resolved_event["departments"] and resolved_event["data"]["resolution"] == "suspend"
    with sup_instance.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.licence_id == licence_id).order_by(AuditEntry.seq)
        ).all()
    assert actions == ["seal.use", "finding.file", "licence.suspend", "finding.resolve"]
    # Resolved once only.
    again = client.post(
        f"/v1/supervision/findings/{finding['id']}/resolve", json={"action": "none", "reason": "x"}, headers=operator
    )
    assert again.status_code == 409


def test_another_department_may_not_file(sup_instance, client, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence_id = _licence(sup_instance, licence_pdf, "JC-001")  # supervised by jc-market
    before = _counts(sup_instance)
    response = client.post(
        "/v1/supervision/findings",
        data={"licence_id": licence_id, "kind": "violation-found", "text": "越权"},
        headers=bearer(sup_instance, "supervisor", "jc-housing"),
    )
    assert response.status_code == 403 and response.json()["field"] == "licence_id"
    for role, authority in [("approval-system", "jc-bureau"), ("operator", None)]:
        r = client.post(
            "/v1/supervision/findings",
            data={"licence_id": licence_id, "kind": "violation-found", "text": "x"},
            headers=bearer(sup_instance, role, authority),
        )
        assert r.status_code == 403
    assert _counts(sup_instance)[:3] == before[:3]


@pytest.mark.parametrize(
    ("change", "files", "field", "status"),
    [
        ({"kind": "fined"}, None, "kind", 422),
        ({"text": ""}, None, "text", 422),
        ({"text": "x" * 5001}, None, "text", 422),
        ({"licence_id": "LNOPE"}, None, "licence_id", 404),
        ({"inspector_reference": "r" * 201}, None, "inspector_reference", 422),
        ({}, [("attachments", ("a.pdf", b"not a pdf at all", "application/pdf"))], "attachments", 422),
        ({}, [("attachments", ("a.pdf", b"", "application/pdf"))], "attachments", 422),
    ],
)
def test_bad_findings_are_refused_and_nothing_is_recorded(
    sup_instance, client, licence_pdf, change, files, field, status
) -> None:  # type: ignore[no-untyped-def]
    licence_id = _licence(sup_instance, licence_pdf) if change.get("licence_id") is None else "unused"
    data = {"licence_id": licence_id, "kind": "violation-found", "text": "现场检查发现问题。", **change}
    before = _counts(sup_instance)
    response = client.post(
        "/v1/supervision/findings", data=data, files=files, headers=bearer(sup_instance, "supervisor", "jc-market")
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem.get("field") == field or problem.get("errors", [{}])[0].get("field") == field, problem
    after = _counts(sup_instance)
    assert after[:3] == before[:3]


def test_attachments_are_size_limited(sup_instance, client, licence_pdf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sup_instance.settings, "finding_attachment_max_bytes", len(licence_pdf) - 1)
    licence_id = _licence(sup_instance, licence_pdf)
    response = client.post(
        "/v1/supervision/findings",
        data={"licence_id": licence_id, "kind": "violation-found", "text": "x"},
        files=[("attachments", ("big.pdf", licence_pdf, "application/pdf"))],
        headers=bearer(sup_instance, "supervisor", "jc-market"),
    )
    assert response.status_code == 422 and response.json()["field"] == "attachments"
    assert "limit" in response.json()["detail"]


def test_the_cli_lists_and_resolves_without_action(sup_instance, client, licence_pdf, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    licence_id = _licence(sup_instance, licence_pdf)
    finding = client.post(
        "/v1/supervision/findings",
        data={"licence_id": licence_id, "kind": "inspection-passed", "text": "检查合格"},
        headers=bearer(sup_instance, "supervisor", "jc-market"),
    ).json()
    settings = sup_instance.settings
    monkeypatch.setenv("SEAL_HOME", str(settings.home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    if settings.database_url:
        monkeypatch.setenv("SEAL_DATABASE_URL", settings.database_url)
    assert main(["findings", "list", "--status", "open"]) == 0
    assert finding["id"] in capsys.readouterr().out
    assert main(["findings", "resolve", finding["id"], "--action", "none", "--reason", ""]) == 2
    assert "(reason)" in capsys.readouterr().err
    assert main(["findings", "resolve", finding["id"], "--action", "none", "--reason", "检查合格，无需处理"]) == 0
    assert get_licence(sup_instance, licence_id).status == "valid"
    last = _events_of(sup_instance, licence_id)[-1]
    assert last["type"] == "cn.gov.approval.finding.resolved" and last["data"]["resolution"] == "none"
    assert main(["findings", "resolve", finding["id"], "--action", "revoke", "--reason", "again"]) == 2
    assert main(["findings", "resolve", "FNOPE", "--action", "none", "--reason", "x"]) == 2


def test_a_failed_commit_files_nothing_and_resolves_nothing(sup_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    from seal_service.events.findings import file_finding, resolve_finding
    from tests.seal_service.events.test_supervision_outbox import _FailCommit

    licence_id = _licence(sup_instance, licence_pdf)
    before = _counts(sup_instance)
    kwargs = {"department": "jc-market", "licence_id": licence_id, "kind": "violation-found", "text": "x"}
    with _FailCommit(), pytest.raises(RuntimeError):
        file_finding(sup_instance, at=datetime.now(UTC), actor="t", **kwargs)  # type: ignore[arg-type]
    assert _counts(sup_instance) == before
    finding = file_finding(sup_instance, at=datetime.now(UTC), actor="t", **kwargs)  # type: ignore[arg-type]
    with _FailCommit(), pytest.raises(RuntimeError):
        resolve_finding(sup_instance, finding.id, action="none", reason="无需处理", at=datetime.now(UTC), actor="t")
    with sup_instance.sessions() as session:
        assert session.get(Finding, finding.id).status == "open"
    assert [e["type"] for e in _events_of(sup_instance, licence_id)][-1] == "cn.gov.approval.finding.filed"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("get", "/v1/supervision/findings?status=closed", None, "status"),
        ("post", "/v1/supervision/findings/FX/resolve", {"action": "close", "reason": "x"}, "action"),
        ("post", "/v1/supervision/findings/FX/resolve", {"action": "none"}, "reason"),
        ("post", "/v1/supervision/findings/FX/resolve", {"action": "none", "reason": ""}, "reason"),
        ("post", "/v1/supervision/findings/FNOPE/resolve", {"action": "none", "reason": "x"}, "finding"),
    ],
)
def test_bad_queue_requests_name_the_field(sup_instance, client, method, path, body, field) -> None:  # type: ignore[no-untyped-def]
    response = getattr(client, method)(
        path, headers=bearer(sup_instance, "operator"), **({"json": body} if body else {})
    )
    assert 400 <= response.status_code < 500
    problem = response.json()
    assert problem.get("field") == field or problem.get("errors", [{}])[0].get("field") == field, problem


def _resolution_state(instance, licence_id: str, finding_id: str) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    """Everything a resolution with an action writes: the licence's status, the finding's, the audit entries, the
    events and the issuance-log entries of the licence."""
    from seal_service.storage.log_models import LogEntryRecord, LogPending
    from seal_service.storage.models import Licence

    with instance.sessions() as session:
        log = sum(
            int(session.scalar(select(func.count()).select_from(m).where(m.licence_id == licence_id)) or 0)
            for m in (LogPending, LogEntryRecord)
        )
        audits = int(
            session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.licence_id == licence_id)) or 0
        )
        return (
            session.get(Licence, licence_id).status,
            session.get(Finding, finding_id).status,
            audits,
            [e["type"] for e in _events_of(instance, licence_id)],
            log,
        )


def _break(target: object, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError(f"{name} failed (injected)")

    monkeypatch.setattr(target, name, broken)


@pytest.mark.parametrize(
    "point",
    [
        "the commit",
        "the licence's status event",
        "the licence's issuance-log entry",
        "the resolution's audit entry",
        "the finding.resolved event",
    ],
)
def test_a_resolution_with_an_action_commits_whole_or_not_at_all(sup_instance, licence_pdf, monkeypatch, point) -> None:  # type: ignore[no-untyped-def]
    import seal_service.events.findings as findings
    import seal_service.events.outbox as outbox
    import seal_service.services.sealing as sealing
    from seal_service.events.findings import file_finding, resolve_finding
    from tests.seal_service.events.test_supervision_outbox import _FailCommit

    licence_id = _licence(sup_instance, licence_pdf)
    finding = file_finding(
        sup_instance,
        department="jc-market",
        licence_id=licence_id,
        kind="suspension-recommended",
        text="无证经营",
        at=datetime.now(UTC),
        actor="t",
    )
    before = _resolution_state(sup_instance, licence_id, finding.id)
    assert before[:2] == ("valid", "open")

    def resolve() -> None:
        at = datetime.now(UTC)
        resolve_finding(sup_instance, finding.id, action="suspend", reason="责令停业整改", at=at, actor="t")

    with monkeypatch.context() as patch:
        failing = _FailCommit() if point == "the commit" else None
        if point == "the licence's status event":
            _break(outbox, "emit", patch)  # licence_event's emit (findings holds its own reference)
        elif point == "the licence's issuance-log entry":
            _break(sealing, "log_licence_status", patch)
        elif point == "the resolution's audit entry":
            _break(findings, "record", patch)
        elif point == "the finding.resolved event":
            _break(findings, "emit", patch)
        if failing is not None:
            failing.__enter__()
        try:
            with pytest.raises(RuntimeError, match="injected"):
                resolve()
        finally:
            if failing is not None:
                failing.__exit__()
    # Nothing of it stayed: not the suspension, nor its audit entry, event or log entry, nor the resolution.
    assert _resolution_state(sup_instance, licence_id, finding.id) == before
    resolve()
    status, finding_status, audits, events, log = _resolution_state(sup_instance, licence_id, finding.id)
    assert (status, finding_status) == ("suspended", "resolved")
    assert audits == before[2] + 2  # licence.suspend and finding.resolve
    assert events == [*before[3], "cn.gov.approval.licence.suspended", "cn.gov.approval.finding.resolved"]
    assert log == before[4] + 1
