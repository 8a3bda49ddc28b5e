"""The key-custody and audit commands, run in-process against an instance of their own (SQLite and PostgreSQL).

The acting staff member is identified by an API key from ``--key-file`` or ``SEAL_OFFICER_KEY``; the check is the
admin API's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select, text

from seal_service.cli import EXIT_INTEGRITY, main
from seal_service.storage.models import AuditEntry
from tests.support.custody import Staff, fresh_seal, make_staff


@pytest.fixture(scope="module")
def staff(keys_instance) -> Staff:  # type: ignore[no-untyped-def]
    return make_staff(keys_instance)


@pytest.fixture
def cli(keys_instance, staff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):  # type: ignore[no-untyped-def]
    """Run ``seal-service`` on the keys instance; returns (exit code, stdout, stderr)."""
    settings = keys_instance.settings
    for key in [k for k in os.environ if k.startswith("SEAL_") and k != "SEAL_TEST_KEY_BACKEND"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SEAL_HOME", str(settings.resolved_home))
    monkeypatch.setenv("SEAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    monkeypatch.setenv("SEAL_PUBLIC_URL", settings.public_url)
    if settings.pkcs11_module is not None:
        monkeypatch.setenv("SEAL_PKCS11_MODULE", str(settings.pkcs11_module))
        monkeypatch.setenv("SEAL_PKCS11_PIN", settings.pkcs11_pin_value())
    for who in ("alice", "bob", "auditor", "operator"):
        (tmp_path / f"{who}.key").write_text(getattr(staff, who).secret + "\n", encoding="utf-8")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _key(tmp_path: Path, who: str) -> list[str]:
    return ["--key-file", str(tmp_path / f"{who}.key")]


def _request_id(out: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith("request "))


def test_rotation_needs_two_officers(cli, keys_instance, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    code, out, err = cli("seals", "rotate", seal_id, *_key(tmp_path, "alice"))
    assert code == 0, err
    request_id = _request_id(out)
    assert "waiting for a second security officer" in out
    code, _, err = cli("requests", "approve", request_id, *_key(tmp_path, "alice"))
    assert code == 2 and "different security officer" in err
    code, _, err = cli("requests", "approve", request_id, *_key(tmp_path, "auditor"))
    assert code == 2 and "needs the role security-officer" in err
    # Officer B's key from the environment instead of a file.
    monkeypatch.setenv("SEAL_OFFICER_KEY", (tmp_path / "bob.key").read_text().strip())
    code, out, err = cli("requests", "approve", request_id)
    assert code == 0 and "status    executed" in out, err
    monkeypatch.delenv("SEAL_OFFICER_KEY")
    code, out, _ = cli("seals", "history", seal_id, "--json", *_key(tmp_path, "auditor"))
    history = json.loads(out)
    assert [c["status"] for c in history["certificates"]] == ["superseded", "current"]
    code, out, _ = cli("requests", "list", "--seal", seal_id, "--json", *_key(tmp_path, "bob"))
    assert [r["status"] for r in json.loads(out)] == ["executed"]


def test_commands_without_a_staff_key_are_refused(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for argv in (["requests", "list"], ["audit", "verify"], ["seals", "rotate", "jc-bureau-approval"]):
        code, _, err = cli(*argv)
        assert code == 2 and "needs your staff API key" in err, (argv, err)
    (tmp_path / "bogus.key").write_text("sk_kbogus_notakey")
    code, _, err = cli("audit", "verify", "--key-file", tmp_path / "bogus.key")
    assert code == 2 and "unknown or revoked" in err


def test_seals_revoke_is_a_dual_control_request(cli, keys_instance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    code, out, err = cli("seals", "revoke", seal_id, "--reason", "cessationOfOperation", *_key(tmp_path, "bob"))
    assert code == 0, err
    code, out, _ = cli("seals", "history", seal_id, *_key(tmp_path, "bob"))
    assert "(active)" in out  # nothing happened yet
    code, out, err = cli("requests", "approve", _request_id_from_list(cli, tmp_path, seal_id), *_key(tmp_path, "alice"))
    assert code == 0, err
    code, out, _ = cli("seals", "history", seal_id, *_key(tmp_path, "bob"))
    assert "(revoked)" in out and "cessationOfOperation" in out


def _request_id_from_list(cli, tmp_path: Path, seal_id: str) -> str:  # type: ignore[no-untyped-def]
    _, out, _ = cli("requests", "list", "--seal", seal_id, "--status", "pending", "--json", *_key(tmp_path, "alice"))
    return str(json.loads(out)[0]["id"])


def test_csr_rotation_with_an_offline_ca(cli, keys_instance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    csr_path = tmp_path / "seal.csr"
    code, out, err = cli("seals", "rotate", seal_id, "--csr", csr_path, *_key(tmp_path, "alice"))
    assert code == 0, err
    code, out, err = cli("requests", "approve", _request_id(out), *_key(tmp_path, "bob"))
    assert code == 0 and f"wrote CSR to {csr_path}" in out, err
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    cert_path = tmp_path / "seal.pem"
    code, _, err = cli("seals", "issue-cert", seal_id, "--csr", csr_path, "-o", cert_path, *_key(tmp_path, "alice"))
    assert code == 0, err
    # A certificate for another key is refused; the right one becomes current.
    other = tmp_path / "other.pem"
    code, _, _ = cli("ca-cert", "-o", other, "--role", "ocsp")
    code, _, err = cli("seals", "import-cert", seal_id, other, *_key(tmp_path, "bob"))
    assert code == 2 and "not for the pending key" in err
    code, out, err = cli("seals", "import-cert", seal_id, cert_path, *_key(tmp_path, "bob"))
    assert code == 0 and "is current" in out, err
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.public_key().public_bytes(*_spki()) == csr.public_key().public_bytes(*_spki())


def _spki():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def test_audit_commands(cli, keys_instance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seal_id = fresh_seal(keys_instance)
    code, out, err = cli("audit", "checkpoint", *_key(tmp_path, "operator"))
    assert code == 0 and "checkpoint" in out, err
    code, out, err = cli("audit", "verify", *_key(tmp_path, "auditor"))
    assert code == 0 and "audit log intact" in out and "signed checkpoint(s) verified" in out, err
    target = tmp_path / "export.csv"
    code, out, err = cli(
        "audit", "export", "--seal", seal_id, "--from", "2020-01-01T00:00:00+08:00", "--format", "csv", "-o", target,
        *_key(tmp_path, "auditor"),
    )  # fmt: skip
    assert code == 0 and "wrote 1 entries" in out, err
    assert "seal.create" in target.read_text()
    code, _, err = cli("audit", "export", *_key(tmp_path, "operator"))
    assert code == 2 and "needs the role auditor" in err
    # Tampering makes `audit verify` exit 4 and name the entry.
    with keys_instance.sessions() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    with keys_instance.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET action = 'nothing' WHERE id = :id"), {"id": last.id})
    try:
        code, _, err = cli("audit", "verify", *_key(tmp_path, "auditor"))
        assert code == EXIT_INTEGRITY and f"entry {last.seq} (id {last.id}, nothing) was modified" in err
        assert err.count(f"entry {last.seq} (id {last.id}, nothing) was modified") == 1, err
    finally:
        with keys_instance.engine.begin() as conn:
            conn.execute(text("UPDATE audit_entries SET action = :a WHERE id = :id"), {"a": last.action, "id": last.id})
    assert cli("audit", "verify", *_key(tmp_path, "auditor"))[0] == 0
