"""The transactional outbox: every change a supervisor must learn commits with its event, or neither commits —
on SQLite and PostgreSQL; the cursor increases strictly in commit order, also with concurrent writers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from seal_service.events import EventType
from seal_service.memoranda import china_day
from seal_service.services.lifecycle import record_memorandum
from seal_service.services.registry import revoke_seal
from seal_service.services.rotation import create_seal
from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.events_models import SupervisionEvent, SupervisionEventRoute
from seal_service.storage.models import AuditEntry, Licence

HOLDER = "11430000006122244L"


def _request(**changes: object) -> LicenceRequest:
    fields: dict[str, object] = {
        "item_code": "JC-001",
        "holder_name": "晋城市示例餐饮有限公司",
        "seal_id": "jc-bureau-approval",
        "level": PadesLevel.B_B,
        "holder_code": HOLDER,
        "holder_code_type": "001",
        "valid_until": date(2031, 12, 31),
    }
    fields.update(changes)
    return LicenceRequest(**fields)  # type: ignore[arg-type]


def _events(instance, after: int = 0) -> list[tuple[int, dict, list[str]]]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        rows = session.scalars(select(SupervisionEvent).where(SupervisionEvent.seq > after).order_by("seq")).all()
        routes: dict[int, list[str]] = {}
        for r in session.scalars(select(SupervisionEventRoute).where(SupervisionEventRoute.seq > after)):
            routes.setdefault(r.seq, []).append(r.department)
    return [(r.seq, json.loads(r.envelope), sorted(routes.get(r.seq, []))) for r in rows]


def _last_seq(instance) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return int(session.scalar(select(func.coalesce(func.max(SupervisionEvent.seq), 0))) or 0)


def _count(instance, model) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


class _FailCommit:
    """Makes the next commit of a writer session that wrote events fail, like a crash or a lost connection."""

    def __init__(self) -> None:
        self.fired = 0

    def __enter__(self) -> _FailCommit:
        event.listen(Session, "before_commit", self._fail)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Session, "before_commit", self._fail)

    def _fail(self, session: Session) -> None:
        if session.info.get("supervision_events"):
            self.fired += 1
            raise RuntimeError("commit failed (injected)")


def test_a_sealed_licence_is_an_event_with_what_a_supervisor_needs(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    before = _last_seq(db_instance)
    at = datetime.now(UTC)
    sealed = seal_licence(db_instance, licence_pdf, _request(), actor="test", at=at)
    [(seq, envelope, routes)] = _events(db_instance, before)
    assert seq == before + 1
    assert envelope["specversion"] == "1.0" and envelope["type"] == "cn.gov.approval.licence.sealed"
    assert envelope["subject"] == sealed.licence_id and envelope["sequence"] == str(seq)
    assert envelope["source"] == f"{db_instance.settings.public_url}/v1/supervision"
    assert datetime.fromisoformat(envelope["time"]) == at
    data = envelope["data"]
    assert data["licence_number"] == sealed.number and data["identifier"] == sealed.identifier
    assert data["item"] == {"code": "JC-001", "name": "食品经营许可", "licence_type": "食品经营许可证"}
    assert data["holder"] == {"name": "晋城市示例餐饮有限公司", "code": HOLDER, "code_type": "001"}
    assert data["validity"]["valid_until"] == "2031-12-31"
    assert data["issuing_authority"]["code"] == "jc-bureau"
    assert data["seal_id"] == "jc-bureau-approval" and data["document_sha256"] == sealed.document_sha256
    assert data["links"]["pdf"].endswith(f"/v1/supervision/licences/{sealed.licence_id}/pdf")
    # Routed to the item's supervisor and to the department owning the seal; nobody else.
    assert routes == ["jc-bureau", "jc-market"]


def test_a_failed_commit_leaves_neither_licence_nor_event(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    before, licences = _last_seq(db_instance), _count(db_instance, Licence)
    with _FailCommit() as failing, pytest.raises(RuntimeError, match="injected"):
        seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    assert failing.fired == 1
    assert _last_seq(db_instance) == before and _count(db_instance, Licence) == licences
    # The failed transaction did not use up a sequence number: the next event takes the next one.
    seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    assert [seq for seq, _e, _r in _events(db_instance, before)] == [before + 1]


def test_a_failing_event_write_leaves_no_licence(db_instance, licence_pdf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import seal_service.events.outbox as outbox

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("outbox unavailable (injected)")

    monkeypatch.setattr(outbox, "emit", broken)
    before, licences, audits = _last_seq(db_instance), _count(db_instance, Licence), _count(db_instance, AuditEntry)
    with pytest.raises(RuntimeError, match="injected"):
        seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    assert (_last_seq(db_instance), _count(db_instance, Licence), _count(db_instance, AuditEntry)) == (
        before,
        licences,
        audits,
    )


@pytest.mark.parametrize(
    ("action", "status", "event_type"),
    [
        (LicenceAction.SUSPEND, "suspended", EventType.LICENCE_SUSPENDED),
        (LicenceAction.REINSTATE, "valid", EventType.LICENCE_REINSTATED),
        (LicenceAction.REVOKE, "revoked", EventType.LICENCE_REVOKED),
    ],
)
def test_status_changes_are_events_or_nothing(db_instance, licence_pdf, action, status, event_type) -> None:  # type: ignore[no-untyped-def]
    licence_id = _status_licence(db_instance, licence_pdf)
    before = _last_seq(db_instance)
    at = datetime.now(UTC)
    with db_instance.sessions() as session:
        status_before = session.get(Licence, licence_id).status
    with _FailCommit(), pytest.raises(RuntimeError):
        change_licence_status(db_instance, licence_id, action=action, reason="检查", authority_id=None, actor="", at=at)
    assert _last_seq(db_instance) == before
    with db_instance.sessions() as session:
        assert session.get(Licence, licence_id).status == status_before != status
    change_licence_status(db_instance, licence_id, action=action, reason="检查", authority_id=None, actor="t", at=at)
    [(_seq, envelope, routes)] = _events(db_instance, before)
    assert envelope["type"] == event_type and envelope["subject"] == licence_id
    assert envelope["data"]["status"] == status and envelope["data"]["reason"] == "检查"
    assert routes == ["jc-bureau", "jc-housing"]  # JC-003 is supervised by the housing department


_status_licences: dict[str, str] = {}


def _status_licence(instance, pdf: bytes) -> str:  # type: ignore[no-untyped-def]
    key = instance.settings.resolved_database_url
    if key not in _status_licences:
        sealed = seal_licence(instance, pdf, _request(item_code="JC-003"), actor="test", at=datetime.now(UTC))
        _status_licences[key] = sealed.licence_id
    return _status_licences[key]


def test_a_seal_revocation_is_an_event_or_nothing(db_instance) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC)
    seal_id = f"jc-housing-test-{db_instance.settings.resolved_database_url[-6:].replace('.', '')}"
    create_seal(db_instance, authority_code="jc-housing", seal_id=seal_id, at=at, actor="t")
    before = _last_seq(db_instance)
    with _FailCommit(), pytest.raises(RuntimeError):
        revoke_seal(db_instance, seal_id, reason="keyCompromise", at=at)
    assert _last_seq(db_instance) == before
    revoke_seal(db_instance, seal_id, reason="keyCompromise", at=at)
    [(_seq, envelope, routes)] = _events(db_instance, before)
    assert envelope["type"] == EventType.SEAL_REVOKED and envelope["subject"] == seal_id
    assert envelope["data"]["reason"] == "keyCompromise"
    assert "jc-housing" in routes and "jc-market" not in routes


@pytest.fixture(params=["sqlite", "postgresql"])
def memo_instance(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """An instance of this test's own: recording jc-housing's memorandum retires its seal, which must not reach the
    shared instances other modules rotate and retire that seal in."""
    from tests.conftest import make_instance, make_settings

    if request.param == "sqlite":
        instance = make_instance(make_settings(tmp_path / "memo", publication_interval_seconds=0, dispatcher=False))
        yield instance
        instance.engine.dispose()
        return
    import secrets

    import psycopg

    base_database = request.getfixturevalue("postgres_database")
    base, _, name = str(base_database).rpartition("/")
    own = f"{name}_memo_{secrets.token_hex(3)}"
    with psycopg.connect(base_database, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{own}"')
    settings = make_settings(
        tmp_path / "memo", database_url=f"{base}/{own}", publication_interval_seconds=0, dispatcher=False
    )
    instance = make_instance(settings)
    try:
        yield instance
    finally:
        instance.engine.dispose()
        with psycopg.connect(base_database, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')


def test_a_memorandum_is_recorded_with_its_catalogue_change_and_retirement(memo_instance) -> None:  # type: ignore[no-untyped-def]
    instance = memo_instance
    at = datetime.now(UTC)
    day = china_day(at) + timedelta(days=400)
    before = _last_seq(instance)
    kwargs = {"department": "jc-housing", "bureau": "jc-bureau", "items": None, "effective_on": day, "at": at}
    with _FailCommit(), pytest.raises(RuntimeError):
        record_memorandum(instance, actor="t", **kwargs)  # type: ignore[arg-type]
    assert _last_seq(instance) == before and not instance.lifecycle.state().memoranda
    outcome = record_memorandum(instance, actor="t", **kwargs)  # type: ignore[arg-type]
    events = _events(instance, before)
    types = [e["type"] for _s, e, _r in events]
    assert types[:2] == [EventType.MEMORANDUM_RECORDED, EventType.CATALOGUE_CHANGED]
    assert set(types[2:]) == {EventType.SEAL_RETIRED} and len(types[2:]) == len(outcome.retired_seals) >= 1
    memo = events[0][1]["data"]
    assert memo["items"] == ["JC-005"] and memo["effective_on"] == day.isoformat()
    assert events[0][2] == ["jc-bureau", "jc-housing"]
    changed = events[1][1]["data"]["items"][0]
    assert changed["code"] == "JC-005" and changed["sealed_by"][-1]["authority"] == "jc-bureau"
    assert [s for s, _e, _r in events] == list(range(before + 1, before + 1 + len(events)))


def test_concurrent_writers_get_gapless_numbers_in_commit_order(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    """Eight threads seal at once; every event's number is unique and gapless, and a reader polling meanwhile
    never sees a number appear below one it has already seen (the cursor is safe)."""
    before = _last_seq(db_instance)
    seen: list[list[int]] = []
    violations: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seqs = [s for s, _e, _r in _events(db_instance, before)]
            # Whatever is visible is a gapless run from the start: nothing can still appear below the highest.
            if seqs != list(range(before + 1, before + 1 + len(seqs))):
                violations.append(f"saw {seqs}")
            seen.append(seqs)

    def writer() -> None:
        seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))

    watcher = threading.Thread(target=reader)
    watcher.start()
    writers = [threading.Thread(target=writer) for _ in range(8)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    watcher.join()
    assert [s for s, _e, _r in _events(db_instance, before)] == list(range(before + 1, before + 9))
    assert len(seen) > 1 and not violations
