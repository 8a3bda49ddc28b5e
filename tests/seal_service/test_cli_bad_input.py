"""The command line given bad input, as a new user would: one clear line on standard error, a non-zero exit code,
never a traceback; and the specific bugs found that way (issue 15, "Fuzzing and bad input").

Every subcommand is found by walking the argparse tree, so a command added later is covered without editing this
file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from seal_service.cli import build_parser, main
from seal_service.commands.outcome import EXIT_BUG, EXIT_CONFIG, EXIT_INPUT

BIN = Path(sys.executable).parent
PASSPHRASE = "cli-bad-input-passphrase"


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")}
    env.update(SEAL_HOME=str(home), SEAL_KEY_PASSPHRASE=PASSPHRASE)
    return env


@pytest.fixture(scope="module")
def instance_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised SQLite instance for the tests of this module (made by the console script, as a user would)."""
    home = tmp_path_factory.mktemp("cli-bad-input") / "inst"
    done = subprocess.run(
        [str(BIN / "seal-service"), "init"], env=_clean_env(home), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def in_instance(instance_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("SEAL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SEAL_HOME", str(instance_home))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", PASSPHRASE)
    return instance_home


@pytest.fixture
def no_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("SEAL_")]:
        monkeypatch.delenv(key)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    return empty


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_clear_line(err: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("seal-service: "), err


# --- Every command, enumerated from the parser -------------------------------------------------------------------


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, (*path, name))


def _bad_value(action: argparse.Action) -> str:
    """A value argparse accepts but the command must refuse (or ignore): an unknown id, a missing file."""
    if action.choices:
        return str(next(iter(action.choices)))
    kind = getattr(action.type, "__name__", "")
    if action.type is int:
        return "987654"
    if kind == "_date":
        return "2026-01-01"
    if kind == "_time":
        return "2026-01-01T00:00:00+08:00"
    names = " ".join(action.option_strings) + " " + (action.dest or "")
    # Under /dev/null, a file: nothing can be created there, even by commands that make missing directories.
    if any(word in names for word in ("output", "out", "dir")):
        return "/dev/null/no/such/dir/out.bin"
    return "/dev/null/no/such/thing"


def _bad_argv(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.nargs == 0:
            continue
        if not action.option_strings:
            if action.nargs not in ("?", "*"):
                argv.append(_bad_value(action))
        elif action.required or "key-file" in " ".join(action.option_strings):
            argv += [action.option_strings[-1], _bad_value(action)]
    return argv


COMMANDS = [(path, _bad_argv(path, p)) for path, p in _leaves(build_parser())]


def test_the_enumeration_finds_the_commands() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"sign", "seals list", "seals revoke", "audit verify", "catalogue", "demo-pdf", "licences get"} <= names
    assert len(names) >= 30


# init creates the instance, so it has no "without an instance" case; serve runs until stopped (its refusals are
# covered without an instance, where it stops before listening).
WITHOUT_INSTANCE = [(path, argv) for path, argv in COMMANDS if path != ("init",)]
# Daemons run until stopped: `serve` and `dispatch` are covered without an instance (where they stop before running);
# `log sequence` runs one pass with --once.
DAEMONS = (("init",), ("serve",), ("dispatch",))
WITH_INSTANCE = [
    (path, [*argv, "--once"] if path == ("log", "sequence") else argv) for path, argv in COMMANDS if path not in DAEMONS
]


@pytest.mark.parametrize(("path", "argv"), WITHOUT_INSTANCE, ids=[" ".join(p) for p, _ in WITHOUT_INSTANCE])
def test_every_command_without_an_instance_says_so_in_one_line(no_instance, capsys, path, argv) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, *argv)
    if path == ("demo-pdf",):
        assert code == EXIT_INPUT and "cannot write /dev/null/no/such/dir/out.bin" in err
    elif path == ("backup", "restore"):
        # A restore goes into an empty instance: no "run init" here, but its bad input refused before anything.
        assert code == EXIT_INPUT and "no instance at" not in err, err
    else:
        assert code == EXIT_CONFIG and "no instance at" in err and "seal-service init" in err, err
    _one_clear_line(err)
    assert not (no_instance / ".seal").exists(), "a refused command must not create an instance"


@pytest.mark.parametrize(("path", "argv"), WITH_INSTANCE, ids=[" ".join(p) for p, _ in WITH_INSTANCE])
def test_every_command_given_unknown_ids_and_missing_files_refuses_cleanly(in_instance, capsys, path, argv) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, *argv)
    assert code != EXIT_BUG and "Traceback" not in err, err
    if code != 0:
        _one_clear_line(err)


@pytest.fixture(scope="module")
def staff_keys(instance_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real staff keys of the module's instance, so the commands get past authorisation to the bad ids."""
    from seal_service.instance import Instance
    from seal_service.services.apikeys import Role, create_api_key
    from seal_service.settings import Settings

    folder = tmp_path_factory.mktemp("staff")
    instance = Instance(Settings(home=instance_home, key_passphrase=PASSPHRASE))
    keys = {}
    for role in ("security-officer", "auditor", "operator"):
        issued = create_api_key(
            instance, name=f"fuzzy {role}", role=Role(role), authority_code=None, at=datetime.now(UTC)
        )
        keys[role] = folder / f"{role}.key"
        keys[role].write_text(issued.secret + "\n")
    instance.engine.dispose()
    return keys


WITH_KEY = [(path, argv) for path, argv in WITH_INSTANCE if "--key-file" in argv]


@pytest.mark.parametrize(("path", "argv"), WITH_KEY, ids=[" ".join(p) for p, _ in WITH_KEY])
def test_every_staff_command_with_a_real_key_refuses_unknown_ids_cleanly(
    in_instance, staff_keys, capsys, path, argv
) -> None:  # type: ignore[no-untyped-def]
    for key in staff_keys.values():
        real = [
            str(key) if previous == "--key-file" else value for previous, value in zip(["", *argv], argv, strict=False)
        ]
        code, _, err = _run(capsys, *real)
        assert code != EXIT_BUG and "Traceback" not in err, (real, err)
        if code != 0:
            _one_clear_line(err)


# --- The named cases ----------------------------------------------------------------------------------------------


def test_seals_list_outside_an_instance_is_one_line_not_a_database_traceback(no_instance: Path) -> None:
    done = subprocess.run(
        [str(BIN / "seal-service"), "seals", "list"], cwd=no_instance, env=_clean_env(no_instance / ".seal"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == EXIT_CONFIG
    _one_clear_line(done.stderr)
    assert "no instance at" in done.stderr and "sqlalchemy" not in done.stderr.lower()


def test_sign_refuses_missing_non_pdf_and_unknown_seal(in_instance, tmp_path, capsys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.txt"
    text.write_text("not a pdf")
    good = tmp_path / "in.pdf"
    good.write_bytes(licence_pdf)
    cases = [
        ((str(tmp_path / "missing.pdf"), "--seal", "jc-bureau-approval"), "cannot read"),
        ((str(text), "--seal", "jc-bureau-approval"), "not a PDF"),
        ((str(good), "--seal", "no-such-seal"), "unknown seal"),
    ]
    for (source, *seal), words in cases:
        out = tmp_path / "out.pdf"
        code, _, err = _run(capsys, "sign", source, "-o", str(out), *seal, "--item", "JC-001", "--holder", "某公司")
        assert code == EXIT_INPUT and words in err, err
        _one_clear_line(err)
        assert not out.exists() and not (tmp_path / "out.pdf.partial").exists()


def _licence_count(home: Path) -> int:
    import sqlite3

    with sqlite3.connect(home / "seal.db") as db:
        return int(db.execute("SELECT count(*) FROM licences").fetchone()[0])


def test_sign_to_a_missing_directory_is_refused_before_sealing(in_instance, tmp_path, capsys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.pdf"
    source.write_bytes(licence_pdf)
    before = _licence_count(in_instance)
    target = tmp_path / "no" / "such" / "dir" / "out.pdf"
    code, _, err = _run(
        capsys, "sign", str(source), "-o", str(target), "--seal", "jc-bureau-approval", "--item", "JC-001",
        "--holder", "某公司", "--level", "B-B",
    )  # fmt: skip
    assert code == EXIT_INPUT and f"cannot write {target}: No such file or directory" in err
    _one_clear_line(err)
    assert _licence_count(in_instance) == before, "no licence may be recorded for an output that cannot be written"


def test_sign_whose_write_fails_after_sealing_names_the_licence_and_how_to_fetch_it(  # type: ignore[no-untyped-def]
    in_instance, tmp_path, capsys, licence_pdf, monkeypatch
) -> None:
    # The disk filling up between the check and the write cannot be produced here without a mount, so the rename
    # is made to fail as ENOSPC would; everything else (sealing, recording, fetching) is real.
    source = tmp_path / "in.pdf"
    source.write_bytes(licence_pdf)
    out = tmp_path / "out.pdf"

    def full_disk(self: Path, target: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", full_disk)
    code, _, err = _run(
        capsys, "sign", str(source), "-o", str(out), "--seal", "jc-bureau-approval", "--item", "JC-001",
        "--holder", "某公司", "--level", "B-B",
    )  # fmt: skip
    monkeypatch.undo()
    assert code == EXIT_INPUT and "was sealed and recorded" in err and "No space left on device" in err, err
    _one_clear_line(err)
    assert not out.exists() and not (tmp_path / "out.pdf.partial").exists()
    licence_id = err.split("licence ", 1)[1].split()[0]
    # The command the message names fetches exactly the recorded licence.
    monkeypatch.setenv("SEAL_HOME", str(in_instance))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", PASSPHRASE)
    fetched = tmp_path / "fetched.pdf"
    code, _, err = _run(capsys, "licences", "get", licence_id, "-o", str(fetched))
    assert code == 0, err
    import hashlib
    import sqlite3

    with sqlite3.connect(in_instance / "seal.db") as db:
        recorded = db.execute("SELECT document_sha256 FROM licences WHERE id = ?", (licence_id,)).fetchone()[0]
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == recorded


def test_a_closed_pipe_ends_quietly(in_instance: Path) -> None:
    env = _clean_env(in_instance)
    for command in ("catalogue --json", "seals list --json"):
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"{BIN / 'seal-service'} {command} | head -c 60"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert len(done.stdout) <= 60 and done.stdout[:1] in ("{", "[")
        assert done.stderr == "", f"{command}: {done.stderr}"


def test_seal_verify_ends_quietly_on_a_closed_pipe(in_instance: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from seal_service.samples import demo_licence_pdf

    root = tmp_path / "root.pem"
    assert main(["ca-cert", "-o", str(root)]) == 0
    folder = tmp_path / "received"
    folder.mkdir()
    for number in range(40):
        (folder / f"licence-{number}.pdf").write_bytes(demo_licence_pdf())
    command = f"{BIN / 'seal-verify'} --trust-root {root} --json --workers 1 {folder} | head -c 20"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert done.stdout.startswith("[") and len(done.stdout) <= 20
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


def test_seals_list_and_seals_status_agree_on_a_retired_seal(in_instance, capsys) -> None:  # type: ignore[no-untyped-def]
    # jc-market hands all its items over from today (China time): its seal is retired from today's cut-over.
    today = datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).date()
    code, _, err = _run(
        capsys, "memorandum", "record", "--department", "jc-market", "--bureau", "jc-bureau", "--all-items",
        "--effective", today.isoformat(),
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = _run(capsys, "seals", "status", "--json")
    status = {s["id"]: s["status"] for s in json.loads(out)["seals"]}
    code, out, _ = _run(capsys, "seals", "list", "--json")
    listed = {s["id"]: s for s in json.loads(out)}
    assert status["jc-market-approval"] == "retired"
    assert {k: v["status"] for k, v in listed.items()} == status
    # Its certificates are revoked (cessationOfOperation from the cut-over), as OCSP and the CRL say.
    for cert in listed["jc-market-approval"]["certificates"]:
        assert cert["status"] == "revoked" and cert["revocation_reason"] == "cessationOfOperation"
    code, out, _ = _run(capsys, "seals", "list")
    row = next(line for line in out.splitlines() if line.startswith("jc-market-approval"))
    assert row.split()[1] == "retired"


def test_holder_code_is_checked_on_the_command_line(in_instance, tmp_path, capsys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.pdf"
    source.write_bytes(licence_pdf)
    before = _licence_count(in_instance)
    code, _, err = _run(
        capsys, "sign", str(source), "-o", str(tmp_path / "out.pdf"), "--seal", "jc-bureau-approval", "--item",
        "JC-001", "--holder", "某公司", "--holder-code", "123", "--holder-code-type", "001",
    )  # fmt: skip
    assert (
        code == EXIT_INPUT and "holder code 123 is not a unified social credit code" in err and "(holder_code)" in err
    )
    _one_clear_line(err)
    assert _licence_count(in_instance) == before


def test_import_cert_refuses_a_certificate_cryptography_cannot_read(in_instance, staff_keys, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    # An X.509 version number out of range makes cryptography raise InvalidVersion, which is no ValueError (found
    # by fuzzing the trust bundle reader: tests/fuzz/regressions/trust_bundle/).
    import base64

    bundle = Path(__file__).resolve().parents[1] / "fuzz" / "regressions" / "trust_bundle"
    document = json.loads((bundle / "signer-certificate-invalid-x509-version.json").read_bytes())
    bad = tmp_path / "bad-version.der"
    bad.write_bytes(base64.b64decode(document["signature"]["certificate"]))
    code, _, err = _run(
        capsys,
        "seals",
        "import-cert",
        "jc-bureau-approval",
        str(bad),
        "--key-file",
        str(staff_keys["security-officer"]),
    )
    assert code == EXIT_INPUT and "not an X.509 certificate" in err
    _one_clear_line(err)


def test_an_empty_or_unreachable_postgresql_database_is_one_line(no_instance, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import secrets

    import psycopg

    from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _postgres_available

    problem = _postgres_available()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable ({problem})")
    name = f"seal_empty_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgres@", "postgres:hunter2@")
        monkeypatch.setenv("SEAL_DATABASE_URL", f"{base}/{name}")
        code, _, err = _run(capsys, "seals", "list")
        assert code == EXIT_CONFIG and "is not initialised" in err and "seal-service init" in err, err
        assert "hunter2" not in err
        _one_clear_line(err)
        monkeypatch.setenv("SEAL_DATABASE_URL", "postgresql://postgres:hunter2@127.0.0.1:1/nothing")
        code, _, err = _run(capsys, "catalogue")
        assert code == EXIT_CONFIG and "cannot use the database" in err and "hunter2" not in err, err
        _one_clear_line(err)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
