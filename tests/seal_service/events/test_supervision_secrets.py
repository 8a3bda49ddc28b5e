"""Webhook secrets at rest: the database holds them encrypted under the instance's key passphrase (a dump alone
does not give them), deliveries still verify with the ``standardwebhooks`` reference, a wrong instance key is a
clear error in the subscription's status (not a 500, nothing delivered unsigned), and the migration encrypts the
plain secrets of an existing database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text, update

from seal_service.api.app import create_app
from seal_service.events.dispatcher import Dispatcher
from seal_service.events.receivers import create_subscription, receiver_status
from seal_service.events.secret_box import SecretBox, SecretUnreadable
from seal_service.storage.events_models import EventReceiver
from tests.seal_service.events.conftest import bearer, write_events
from tests.support.server import free_port
from tests.support.webhooks import WebhookReceiver


def _subscribe(instance):  # type: ignore[no-untyped-def]
    with instance.writer.begin() as session:
        session.execute(update(EventReceiver).values(status="disabled", status_reason="earlier test"))
    issued = create_subscription(
        instance, department="jc-market", url="http://127.0.0.1:9/x", at=datetime.now(UTC), actor="t"
    )
    receiver = WebhookReceiver(issued.secret, free_port()).start()
    with instance.writer.begin() as session:
        session.get(EventReceiver, issued.id).url = receiver.url
    return issued, receiver


def test_the_database_does_not_hold_the_secret(sup_instance) -> None:  # type: ignore[no-untyped-def]
    issued, receiver = _subscribe(sup_instance)
    receiver.stop()
    with sup_instance.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM event_receivers WHERE id = :id"), {"id": issued.id}).one()
    stored = dict(row._mapping)
    assert "secret" not in stored  # the plain column is gone
    # Neither the secret nor its key bytes appear in any column, in any encoding the secret is given in.
    key_b64 = issued.secret.removeprefix("whsec_")
    for value in stored.values():
        assert issued.secret not in str(value) and key_b64 not in str(value)
    assert stored["sealed_secret"].startswith("v1:")
    # It opens with this instance's passphrase, for this receiver only.
    box = SecretBox(sup_instance.settings.passphrase())
    assert box.open(stored["sealed_secret"], receiver_id=issued.id) == issued.secret
    with pytest.raises(SecretUnreadable):
        box.open(stored["sealed_secret"], receiver_id="wh_000000000000")


def test_deliveries_verify_with_the_reference_implementation(sup_instance) -> None:  # type: ignore[no-untyped-def]
    _issued, receiver = _subscribe(sup_instance)
    try:
        ids = write_events(sup_instance, ["LSECRET1", "LSECRET2"])
        dispatcher = Dispatcher(sup_instance)
        try:
            dispatcher.run_once()
        finally:
            dispatcher.close()
        assert sorted(a.webhook_id for a in receiver.accepted) == sorted(ids)  # two licences: in parallel
        assert all(a.verified for a in receiver.attempts)  # standardwebhooks' Webhook(secret).verify passed
    finally:
        receiver.stop()


def test_a_wrong_instance_key_is_a_clear_error_not_a_500(sup_instance, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    issued, receiver = _subscribe(sup_instance)
    try:
        write_events(sup_instance, ["LWRONGKEY"])
        monkeypatch.setattr(sup_instance.settings, "key_passphrase", SecretStr("another-instance-passphrase"))
        dispatcher = Dispatcher(sup_instance)
        try:
            report = dispatcher.run_once()
        finally:
            dispatcher.close()
        assert report.failed == 1 and receiver.attempts == []  # nothing sent, nothing signed with a wrong key
        [status] = receiver_status(sup_instance, issued.id)
        assert "does not decrypt with this instance's key passphrase" in (status.last_error or "")
        assert status.backlog == 1 and status.next_attempt_at is not None
        client = TestClient(create_app(instance=sup_instance))
        listed = client.get("/v1/admin/subscriptions", headers=bearer(sup_instance, "operator"))
        assert listed.status_code == 200
        assert "SEAL_KEY_PASSPHRASE" in next(s for s in listed.json() if s["id"] == issued.id)["last_error"]
        # The right key again: the event goes out once its backoff has passed.
        monkeypatch.undo()
        with sup_instance.writer.begin() as session:
            session.get(EventReceiver, issued.id).next_attempt_at = None
        dispatcher = Dispatcher(sup_instance)
        try:
            dispatcher.run_once()
        finally:
            dispatcher.close()
        assert len(receiver.accepted) == 1 and receiver.accepted[0].verified
    finally:
        receiver.stop()


def test_the_migration_encrypts_existing_plain_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config

    from seal_service.storage.database import MIGRATIONS_DIR, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0005_supervision")
    db = sqlite3.connect(tmp_path / "old.db")
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    db.execute(
        "INSERT INTO event_receivers (id, kind, department, url, secret, status, cursor, attempts, delivered,"
        " created_at) VALUES ('wh_0123456789ab', 'webhook', 'jc-market', 'https://x.example/h', ?, 'active', 0, 0,"
        " 0, '2026-12-01 08:00:00.000000')",
        (secret,),
    )
    db.commit()
    # Without the instance's passphrase the migration refuses to run (it cannot encrypt).
    with pytest.raises(RuntimeError, match="key passphrase"):
        upgrade(url)
    upgrade(url, passphrase=b"the-instance-passphrase")
    columns = [r[1] for r in db.execute("PRAGMA table_info(event_receivers)")]
    assert "secret" not in columns
    [(stored,)] = db.execute("SELECT sealed_secret FROM event_receivers").fetchall()
    assert secret not in stored and stored.startswith("v1:")
    assert SecretBox(b"the-instance-passphrase").open(stored, receiver_id="wh_0123456789ab") == secret
    with pytest.raises(SecretUnreadable, match="SEAL_KEY_PASSPHRASE"):
        SecretBox(b"another-passphrase").open(stored, receiver_id="wh_0123456789ab")
    db.close()
