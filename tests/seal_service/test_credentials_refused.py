"""A real key id with a wrong secret, and a revoked key, are refused for every role, over HTTP and in the CLI.

Each case also runs the genuine key on the same route or command, so a refusal cannot come from elsewhere (a wrong
route, a missing permission): only the secret or the revocation differs.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.cli import main
from seal_service.services.apikeys import Role, create_api_key, revoke_api_key
from tests.support.instances import server_env

#: Per role: an HTTP route it may use, the genuine key's status there, and a CLI command that authenticates it.
ROUTES = {
    Role.APPROVAL_SYSTEM: ("/v1/licences/LNOSUCHLICENCE000000", 404, ["requests", "list"]),
    Role.SECURITY_OFFICER: ("/v1/admin/requests", 200, ["requests", "list"]),
    Role.AUDITOR: ("/v1/admin/audit/verify", 200, ["audit", "verify"]),
    Role.OPERATOR: ("/v1/admin/audit/verify", 200, ["audit", "verify"]),
}


def _keys(instance, role: Role) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """(genuine secret, the same key id with another secret, a revoked key's secret) for ``role``."""
    authority = "jc-bureau" if role is Role.APPROVAL_SYSTEM else None
    now = datetime.now(UTC)
    genuine = create_api_key(instance, name=f"{role.value} 1", role=role, authority_code=authority, at=now)
    revoked = create_api_key(instance, name=f"{role.value} 2", role=role, authority_code=authority, at=now)
    revoke_api_key(instance, revoked.key_id, at=now)
    wrong = f"sk_{genuine.key_id}_{secrets.token_urlsafe(20)}"
    assert wrong != genuine.secret and wrong.split("_")[1] == genuine.key_id
    return genuine.secret, wrong, revoked.secret


@pytest.mark.parametrize("role", list(ROUTES), ids=[r.value for r in ROUTES])
def test_http_refuses_a_wrong_secret_and_a_revoked_key(db_instance, role: Role) -> None:  # type: ignore[no-untyped-def]
    genuine, wrong, revoked = _keys(db_instance, role)
    path, allowed, _ = ROUTES[role]
    with TestClient(create_app(instance=db_instance)) as client:
        assert client.get(path, headers={"Authorization": f"Bearer {genuine}"}).status_code == allowed
        for secret in (wrong, revoked):
            response = client.get(path, headers={"Authorization": f"Bearer {secret}"})
            assert response.status_code == 401, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "unknown or revoked" in response.json()["detail"]
        if role is Role.APPROVAL_SYSTEM:  # and sealing itself
            response = client.post(
                "/v1/licences",
                headers={"Authorization": f"Bearer {wrong}"},
                data={"item_code": "JC-001", "holder_name": "x"},
                files={"pdf": ("l.pdf", b"%PDF-1.7", "application/pdf")},
            )
            assert response.status_code == 401


@pytest.mark.parametrize("role", list(ROUTES), ids=[r.value for r in ROUTES])
def test_cli_refuses_a_wrong_secret_and_a_revoked_key(  # type: ignore[no-untyped-def]
    db_instance, role: Role, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in server_env(db_instance.settings).items():
        if name.startswith("SEAL_"):
            monkeypatch.setenv(name, value)
    genuine, wrong, revoked = _keys(db_instance, role)
    command = ROUTES[role][2]
    outcomes = {}
    for label, secret in (("genuine", genuine), ("wrong", wrong), ("revoked", revoked)):
        key_file = tmp_path / f"{label}.key"
        key_file.write_text(secret + "\n", encoding="utf-8")
        code = main([*command, "--key-file", str(key_file)])
        outcomes[label] = (code, capsys.readouterr().err)
    genuine_code, genuine_err = outcomes["genuine"]
    if role is Role.APPROVAL_SYSTEM:  # authenticated, then refused for its role: not the key's fault
        assert genuine_code == 2 and "unknown or revoked" not in genuine_err and "role" in genuine_err
    else:
        assert genuine_code == 0, genuine_err
    for label in ("wrong", "revoked"):
        code, err = outcomes[label]
        assert code == 2 and "unknown or revoked" in err and "Traceback" not in err, (label, err)
