"""``seal-verify``: exit codes, line / JSON / CSV output, directory walking, workers, progress, no tracebacks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from verifier.cli import main

CONTRACT_KEYS = {"file", "verdict", "indication", "subindication", "seal", "licence", "signed_at", "messages"}


@pytest.fixture(scope="module")
def corpus(sealed, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """A directory tree: two valid licences (one nested, one upper-case .PDF), a tampered one, a B-B one, a note."""
    base = tmp_path_factory.mktemp("corpus")
    (base / "2025" / "06").mkdir(parents=True)
    (base / "a-valid.pdf").write_bytes(sealed.b_lta)
    (base / "2025" / "06" / "b-valid.PDF").write_bytes(sealed.b_lta)
    (base / "2025" / "c-tampered.pdf").write_bytes(sealed.b_lta.replace(b"Food Business", b"Fake Business"))
    (base / "2025" / "d-b-b.pdf").write_bytes(sealed.b_b)
    (base / "notes.txt").write_text("not a licence")
    return base


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_valid_file_exits_0_with_one_readable_line(sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(sealed.b_lta)
    code, out, err = run(capsys, licence, "--trust-root", sealed.root_pem)
    assert code == 0, (out, err)
    [line] = out.splitlines()
    assert line.startswith("VALID ") and str(licence) in line and "晋城市行政审批服务管理局行政审批专用章" in line
    assert err == ""


def test_a_directory_is_walked_for_pdfs_and_any_bad_file_exits_1(corpus: Path, sealed, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, corpus, "--trust-root", sealed.root_pem)
    assert code == 1
    lines = out.splitlines()
    # Walk order: a directory's files (sorted), then its subdirectories (sorted); notes.txt is skipped.
    assert [Path(line.split()[1]).name for line in lines] == [
        "a-valid.pdf",
        "c-tampered.pdf",
        "d-b-b.pdf",
        "b-valid.PDF",
    ]
    assert [line.split()[0] for line in lines] == ["VALID", "INVALID", "INDETERMINATE", "VALID"]
    assert "altered after sealing" in lines[1]


def test_json_prints_one_object_per_file_with_the_contract_keys(corpus: Path, sealed, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, corpus, "--trust-root", sealed.root_pem, "--json")
    assert code == 1
    reports = json.loads(out)
    assert len(reports) == 4
    for report in reports:
        assert set(report) >= CONTRACT_KEYS
        assert report["verdict"] in {"valid", "invalid", "indeterminate", "modified"}
        assert report["indication"] in {"TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"}
        assert report["messages"] and all(" / " in message for message in report["messages"])
    by_name = {Path(report["file"]).name: report for report in reports}
    assert by_name["a-valid.pdf"]["seal"]["seal_id"] == "jc-bureau-approval"
    assert by_name["c-tampered.pdf"]["subindication"] == "HASH_FAILURE"


def test_csv_writes_the_same_fields(corpus: Path, sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "report.csv"
    code, out, _ = run(capsys, corpus, "--trust-root", sealed.root_pem, "--csv", target)
    assert code == 1
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and len(out.splitlines()) == 4
    assert {"file", "verdict", "indication", "subindication", "seal_name", "signed_at", "messages"} <= set(rows[0])
    valid = [row for row in rows if row["verdict"] == "valid"]
    assert len(valid) == 2 and all(row["seal_id"] == "jc-bureau-approval" and row["signed_at"] for row in valid)


def test_workers_verify_in_parallel_with_the_same_results(corpus: Path, sealed, capsys) -> None:  # type: ignore[no-untyped-def]
    serial = run(capsys, corpus, "--trust-root", sealed.root_pem, "--json")
    parallel = run(capsys, corpus, "--trust-root", sealed.root_pem, "--json", "--workers", "2")
    assert parallel[0] == serial[0] == 1
    assert json.loads(parallel[1]) == json.loads(serial[1])


def test_at_moves_the_clock(sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(sealed.b_lta)
    earlier = (sealed.sealed_at - timedelta(days=1)).isoformat()
    code, out, _ = run(capsys, licence, "--trust-root", sealed.root_pem, "--at", earlier)
    assert code == 1 and out.startswith("INDETERMINATE")


def test_more_than_20_files_show_progress_on_stderr(sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for number in range(21):
        (tmp_path / f"unsigned-{number:02}.pdf").write_bytes(sealed.unsigned)
    code, out, err = run(capsys, tmp_path, "--trust-root", sealed.root_pem)
    assert code == 1 and len(out.splitlines()) == 21
    assert "verified 21/21 files" in err


def test_a_non_pdf_given_explicitly_is_reported_invalid(sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    code, out, _ = run(capsys, notes, "--trust-root", sealed.root_pem)
    assert code == 1 and out.startswith("INVALID") and "not a readable PDF" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{pdf}"], "at least one trust root is required"),
        (["{tmp}/missing.pdf", "--trust-root", "{root}"], "no such file or directory"),
        (["{pdf}", "--trust-root", "{tmp}/garbage.pem"], "not a certificate file"),
        (["{pdf}", "--trust-root", "{tmp}/missing.pem"], "cannot read trust root file"),
        (["{tmp}/empty", "--trust-root", "{root}"], "no PDF files found"),
        (["{pdf}", "--trust-root", "{root}", "--at", "2030-01-01T00:00:00"], "give a time zone"),
        (["{pdf}", "--trust-root", "{root}", "--workers", "0"], "must be at least 1"),
        (["{pdf}", "--trust-root", "{root}", "--json", "--csv", "x.csv"], "not allowed with argument"),
        ([], "the following arguments are required"),
    ],
    ids=[
        "no-root",
        "missing-file",
        "garbage-pem",
        "missing-pem",
        "empty-dir",
        "naive-at",
        "workers-0",
        "json-csv",
        "none",
    ],
)
def test_usage_and_input_errors_exit_2_with_a_clear_message(  # type: ignore[no-untyped-def]
    sealed, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    (tmp_path / "licence.pdf").write_bytes(sealed.b_lta)
    (tmp_path / "garbage.pem").write_text("garbage")
    (tmp_path / "empty").mkdir()
    values = {"pdf": str(tmp_path / "licence.pdf"), "tmp": str(tmp_path), "root": str(sealed.root_pem)}
    code, out, err = run(capsys, *(arg.format(**values) for arg in argv))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert out == ""


def test_help_mentions_the_trust_bundle_stopgap(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--trust-bundle" in out and "PEM file of root certificates" in " ".join(out.split())


def test_the_console_script_never_prints_a_traceback(sealed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    script = Path(sys.executable).with_name("seal-verify")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "verifier"]
    result = subprocess.run(
        [*command, str(broken), str(tmp_path / "b-b.pdf"), "--trust-root", str(sealed.root_pem), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        input="",
    )
    assert result.returncode == 2  # b-b.pdf does not exist: input error
    assert "no such file or directory" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "b-b.pdf").write_bytes(sealed.b_b)
    result = subprocess.run(
        [*command, str(broken), str(tmp_path / "b-b.pdf"), "--trust-root", str(sealed.root_pem), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr == "", result.stderr  # pyHanko's logged tracebacks are silenced
    verdicts = [report["verdict"] for report in json.loads(result.stdout)]
    assert verdicts == ["invalid", "indeterminate"]


def test_an_unreadable_file_found_in_a_directory_exits_2_after_the_others(sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a-valid.pdf").write_bytes(sealed.b_lta)
    (tmp_path / "b-dangling.pdf").symlink_to(tmp_path / "nowhere.pdf")
    code, out, err = run(capsys, tmp_path, "--trust-root", sealed.root_pem)
    assert code == 2 and "Traceback" not in err
    first, second = out.splitlines()
    assert first.startswith("VALID") and second.startswith("INDETERMINATE") and "cannot be read" in second


def test_an_unexpected_error_becomes_an_indeterminate_report(  # type: ignore[no-untyped-def]
    sealed, tmp_path: Path, capsys, monkeypatch
) -> None:
    # The one stand-in in these tests: a verifier bug, to prove the safety net holds in library and CLI alike.
    import verifier.verify

    def broken(*args: object) -> None:
        raise RuntimeError("simulated verifier bug")

    monkeypatch.setattr(verifier.verify, "_check_coverage", broken)
    (tmp_path / "licence.pdf").write_bytes(sealed.b_lta)
    code, out, err = run(capsys, tmp_path / "licence.pdf", "--trust-root", sealed.root_pem, "--json")
    assert code == 1 and err == ""
    [report] = json.loads(out)
    assert (report["verdict"], report["indication"], report["subindication"]) == (
        "indeterminate",
        "INDETERMINATE",
        None,
    )
    assert "simulated verifier bug" in report["messages"][0]
