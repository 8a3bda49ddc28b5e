"""The operator's command line, run as a user would (console script in a subprocess) and in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from seal_service.cli import main


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "inst"
    for key in [k for k in os.environ if k.startswith("SEAL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SEAL_HOME", str(home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "cli-test-passphrase")
    return home


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_list_sign_and_verify_the_record(cli_env: Path, tmp_path: Path, capsys, licence_pdf: bytes) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "init")
    assert code == 0 and "created  seal jc-bureau-approval" in out
    code, out, _ = _run(capsys, "init")
    assert code == 0 and "nothing was overwritten" in out

    code, out, _ = _run(capsys, "seals", "list", "--json")
    seals = {s["id"]: s for s in json.loads(out)}
    assert seals["jc-bureau-approval"]["authority_code"] == "jc-bureau"
    assert seals["jc-bureau-approval"]["status"] == "active"

    code, out, _ = _run(capsys, "catalogue", "--json")
    assert {i["code"] for i in json.loads(out)["items"]} >= {"JC-001", "JC-004"}

    source = tmp_path / "in.pdf"
    source.write_bytes(licence_pdf)
    target = tmp_path / "out.pdf"
    code, out, err = _run(
        capsys,
        "sign",
        str(source),
        "-o",
        str(target),
        "--seal",
        "jc-bureau-approval",
        "--item",
        "JC-001",
        "--holder",
        "晋城市示例餐饮有限公司",
        "--level",
        "B-T",
    )
    assert code == 0, err
    assert target.read_bytes().startswith(licence_pdf)
    assert "identifier 1.2.156.3005.2." in out and "verify     http://127.0.0.1:8000/v/L" in out

    # Refuses to overwrite, names the cause, exit code 2, and leaves the file as it was.
    before = target.read_bytes()
    code, _, err = _run(
        capsys,
        "sign",
        str(source),
        "-o",
        str(target),
        "--seal",
        "jc-bureau-approval",
        "--item",
        "JC-001",
        "--holder",
        "x",
    )
    assert code == 2 and "exists" in err and target.read_bytes() == before

    code, out, _ = _run(capsys, "ca-cert", "-o", str(tmp_path / "root.pem"))
    root = x509.load_pem_x509_certificate((tmp_path / "root.pem").read_bytes())
    assert root.subject == root.issuer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seal", "nope", "--item", "JC-001"], "unknown seal 'nope'"),
        (["--seal", "jc-bureau-approval", "--item", "NOPE"], "unknown approval item 'NOPE'"),
        (["--seal", "jc-market-approval", "--item", "JC-001"], "sealed by jc-bureau"),
    ],
)
def test_sign_refusals_exit_2_with_a_message(cli_env, tmp_path, capsys, licence_pdf, args, message) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "init")[0] == 0
    source = tmp_path / "in.pdf"
    source.write_bytes(licence_pdf)
    target = tmp_path / "out.pdf"
    code, _, err = _run(capsys, "sign", str(source), "-o", str(target), "--holder", "x", *args)
    assert code == 2 and message in err
    assert not target.exists() and not (tmp_path / "out.pdf.partial").exists()


def test_sign_a_missing_or_non_pdf_file(cli_env, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "init")[0] == 0
    base = ["--seal", "jc-bureau-approval", "--item", "JC-001", "--holder", "x", "-o", str(tmp_path / "o.pdf")]
    code, _, err = _run(capsys, "sign", str(tmp_path / "missing.pdf"), *base)
    assert code == 2 and "cannot read" in err
    (tmp_path / "x.pdf").write_text("hello")
    code, _, err = _run(capsys, "sign", str(tmp_path / "x.pdf"), *base)
    assert code == 2 and "not a PDF" in err


def test_production_with_dev_passphrase_exits_3(cli_env, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEAL_ENV", "production")
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "development-only-passphrase")
    code, _, err = _run(capsys, "init")
    assert code == 3 and "development key passphrase" in err


def test_apikeys_print_the_secret_once_as_the_last_line(cli_env, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(capsys, "init")[0] == 0
    code, out, _ = _run(capsys, "apikeys", "create", "--authority", "jc-bureau", "--name", "晋城市审批系统")
    secret = out.strip().splitlines()[-1]
    assert code == 0 and secret.startswith("sk_")
    code, out, _ = _run(capsys, "apikeys", "list", "--json")
    listed = json.loads(out)
    assert len(listed) == 1 and secret not in out
    code, _, _ = _run(capsys, "apikeys", "revoke", listed[0]["key_id"])
    assert code == 0
    assert json.loads(_run(capsys, "apikeys", "list", "--json")[1])[0]["revoked_at"] is not None
    code, _, err = _run(capsys, "apikeys", "create", "--name", "no authority")
    assert code == 2 and "authority" in err


def test_console_script_runs_as_installed(cli_env: Path) -> None:
    script = Path(sys.executable).parent / "seal-service"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "sign" in result.stdout and "seals" in result.stdout
    result = subprocess.run([str(script), "frobnicate"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
