"""``seal-service archive renew`` as operators run it, and its faults: a dry run, ``--limit``, progress output, a
stored PDF that cannot be read (reported and skipped, nothing overwritten), a renewal waiting for a TSA rotation,
two renewals of one licence at once (one new version; SQLite and PostgreSQL), a ``kill -9`` in the middle of a run
(every licence keeps a whole current version), and the schedule ``serve`` runs."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.archive import (
    AlreadyRenewed,
    ArchiveRenewer,
    RenewalOutcomeKind,
    commit_renewal,
    licence_pdf,
)
from seal_service.archive.schedule import RenewalSchedule
from seal_service.archive.tsa_rotation import rotate_tsa
from seal_service.cli import main
from seal_service.instance import Instance
from seal_service.services.audit import verify_log
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import LicenceDocument
from tests.conftest import make_instance, make_settings
from tests.support.archive import clone_licences, parses, seal_blta, stored_versions

PASSPHRASE = "test-passphrase-not-secret"


def _env(instance) -> dict[str, str]:  # type: ignore[no-untyped-def]
    settings = instance.settings
    return {
        "SEAL_HOME": str(settings.resolved_home),
        "SEAL_PUBLIC_URL": settings.public_url,
        "SEAL_KEY_PASSPHRASE": PASSPHRASE,
        "SEAL_DATABASE_URL": settings.resolved_database_url,
    }


@pytest.fixture
def archive_instance(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An instance of its own with a rotated TSA (so renewals gain something) and four stored B-LTA licences."""
    instance = make_instance(make_settings(tmp_path / "inst"))
    yield instance
    instance.engine.dispose()


def _cli(monkeypatch, capsys, instance, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    for key in [k for k in os.environ if k.startswith("SEAL_")]:
        monkeypatch.delenv(key)
    for key, value in _env(instance).items():
        monkeypatch.setenv(key, value)
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _corrupt(instance, licence_id: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with instance.writer.begin() as session:
        session.get(LicenceDocument, licence_id).pdf = data


def test_dry_run_limit_progress_and_an_unreadable_pdf(archive_instance, licence_pdf, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    instance = archive_instance
    first = seal_blta(instance, licence_pdf)
    others = clone_licences(instance, first, 3)
    broken = others[0]
    garbage = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    _corrupt(instance, broken, garbage)
    basic = seal_licence(
        instance,
        licence_pdf,
        LicenceRequest("JC-001", "示例企业", "jc-bureau-approval", level=PadesLevel.B_B),
        actor="test",
        at=datetime.now(UTC),
    ).licence_id
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    # Not rotated yet: due, but nothing to gain.
    code, out, err = _cli(monkeypatch, capsys, instance, "archive", "renew", "--horizon", "2000", "--at", at)
    assert code == 1 and "0 renewed" in out and "3 waiting for a TSA rotation" in out and "tsa rotate" in out
    assert "unreadable" in err and broken in err

    rotate_tsa(instance, at=datetime.now(UTC), actor="test")
    dry = ("archive", "renew", "--dry-run", "--horizon", "2000", "--at", at)
    code, out, err = _cli(monkeypatch, capsys, instance, *dry)
    assert code == 1 and "3 due (dry run, nothing changed)" in out and "1 unreadable" in out
    assert all(len(stored_versions(instance, i)) == 1 for i in [first, *others])

    code, out, _ = _cli(monkeypatch, capsys, instance, "archive", "renew", "--horizon", "10", "--at", at)
    assert "0 renewed" in out and "3 not due" in out

    code, out, err = _cli(
        monkeypatch, capsys, instance, "archive", "renew", "--horizon", "2000", "--limit", "2", "--at", at
    )
    # One progress line per licence acted on (numbered in the order met; the unreadable one goes to stderr).
    progress_lines = re.findall(r"^\[\d+\] renewed +L[0-9A-F]+ v2 verifiable until ", out, re.M)
    assert "2 renewed" in out and len(progress_lines) == 2, out
    code, out, err = _cli(
        monkeypatch, capsys, instance, "archive", "renew", "--horizon", "2000", "--workers", "2", "--at", at
    )
    # The two renewed first now rest on the current TSA certificate: renewing them again would gain nothing.
    assert "1 renewed" in out and "2 waiting for a TSA rotation" in out and code == 1
    # Every readable licence is at version 2; the unreadable one is untouched; the B-B licence is not considered.
    assert {len(stored_versions(instance, i)) for i in [first, *others[1:]]} == {2}
    assert stored_versions(instance, broken) == [(1, garbage, stored_versions(instance, broken)[0][2])]
    assert len(stored_versions(instance, basic)) == 1

    code, out, _ = _cli(monkeypatch, capsys, instance, "licences", "show", first)
    assert code == 0 and "v1" in out and "v2" in out and "renewal" in out
    assert hashlib.sha256(licence_pdf_bytes(instance, first)).hexdigest() in out
    code, _, err = _cli(monkeypatch, capsys, instance, "licences", "show", "L000")
    assert code == 2 and "unknown licence" in err
    assert verify_log(instance).entries >= 3  # raises if the audit chain were broken


def licence_pdf_bytes(instance, licence_id: str) -> bytes:  # type: ignore[no-untyped-def]
    """The newest version's bytes."""
    return licence_pdf(instance, licence_id)[0]


def test_bad_arguments_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    for argv in (["--horizon", "0"], ["--horizon", "x"], ["--limit", "-3"], ["--at", "2030-01-01T00:00:00"]):
        with pytest.raises(SystemExit) as exited:
            main(["archive", "renew", *argv])
        assert exited.value.code == 2
        assert "argument" in capsys.readouterr().err


def test_two_renewals_of_one_licence_make_one_version(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence_id = seal_blta(db_instance, licence_pdf)
    at = datetime.now(UTC)
    renewer = ArchiveRenewer(db_instance)
    made = [renewer.renew_pdf(licence_pdf_bytes(db_instance, licence_id), at=at) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[object] = []

    def commit(index: int) -> None:
        barrier.wait()
        try:
            version = commit_renewal(db_instance, licence_id, base_version=1, renewed=made[index], at=at, actor="t")
            results.append(version)
        except AlreadyRenewed as exc:
            results.append(exc)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(type(r).__name__ for r in results) == ["AlreadyRenewed", "int"], results
    versions = stored_versions(db_instance, licence_id)
    assert [v for v, _, _ in versions] == [1, 2]
    assert versions[1][1] in (made[0].pdf, made[1].pdf)


@pytest.mark.slow
def test_kill_9_in_the_middle_leaves_every_licence_whole(archive_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance = archive_instance
    first = seal_blta(instance, licence_pdf)
    ids = [first, *clone_licences(instance, first, 120)]
    rotate_tsa(instance, at=datetime.now(UTC), actor="test")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")} | _env(instance)
    process = subprocess.Popen(
        [sys.executable, "-m", "seal_service.cli", "archive", "renew", "--horizon", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        seen = 0
        for line in process.stdout:
            seen += "renewed" in line
            if seen >= 3:
                os.kill(process.pid, signal.SIGKILL)  # kill -9 while it renews the next licences
                break
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    counts = {1: 0, 2: 0}
    for licence_id in ids:
        versions = stored_versions(instance, licence_id)
        assert len(versions) in (1, 2)
        counts[len(versions)] += 1
        for _, data, digest in versions:
            assert hashlib.sha256(data).hexdigest() == digest
        newest = versions[-1][1]
        assert parses(newest) and newest.startswith(versions[0][1])
    assert counts[2] >= 3 and counts[1] > 0, counts  # killed in the middle
    verify_log(instance)  # the audit hash chain is intact (raises otherwise)
    # The next run picks up where the killed one stopped.
    schedule = RenewalSchedule(instance, interval=timedelta(hours=24), horizon=timedelta(days=2000))
    done = schedule.run_once(at=datetime.now(UTC))
    assert done.renewed == counts[1] and done.count(RenewalOutcomeKind.NO_NEWER_TSA) == counts[2]
    assert all(len(stored_versions(instance, i)) == 2 for i in ids)


def test_the_schedule_follows_its_setting(tmp_path: Path) -> None:
    # Instances that are never initialised: the schedule's first round waits, so nothing reads the database.
    off = Instance(make_settings(tmp_path / "off", archive_renewal_interval_hours=0))
    with TestClient(create_app(instance=off)) as client:
        assert client.app.state.renewal_schedule is None  # type: ignore[attr-defined]
    on = Instance(make_settings(tmp_path / "on", archive_renewal_interval_hours=12))
    with TestClient(create_app(instance=on)) as client:
        schedule = client.app.state.renewal_schedule  # type: ignore[attr-defined]
        assert isinstance(schedule, RenewalSchedule) and schedule._thread is not None and schedule._thread.is_alive()
    assert schedule._thread is None  # stopped with the app
