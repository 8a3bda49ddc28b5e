"""``seal-verify`` beyond offline PKI: ``--service`` (licence status online), ``--crl``, the terminal progress bar."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support import forgeries
from verifier import Verifier
from verifier.cli import _Progress, main
from verifier.registry import RegistryError


def run(capsys, *args: object) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_service_mode_reads_status_and_record_from_the_issuer(live_instance, licence_pdf, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from seal_service.instance import PkiRole
    from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence

    instance, server = live_instance
    root = tmp_path / "root.pem"
    root.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    request = LicenceRequest(item_code="JC-001", holder_name="王五", seal_id="jc-bureau-approval")
    sealed = seal_licence(instance, licence_pdf, request, actor="test", at=datetime.now(UTC))
    path = tmp_path / "licence.pdf"
    path.write_bytes(sealed.pdf)

    code, out, _ = run(capsys, path, "--trust-root", root, "--service", server.url, "--json")
    [report] = json.loads(out)
    assert code == 0 and report["verdict"] == "valid"
    assert (report["licence"]["status"], report["licence"]["record"]) == ("valid", "matches")
    assert report["licence"]["identifier"] == sealed.identifier
    assert {c["name"]: c["outcome"] for c in report["checks"]}["licence-status"] == "passed"

    change_licence_status(
        instance,
        sealed.licence_id,
        action=LicenceAction.SUSPEND,
        reason="test",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    code, out, _ = run(capsys, path, "--trust-root", root, "--service", server.url)
    assert code == 1 and out.startswith("INDETERMINATE") and "suspended" in out

    # Offline the same file is valid: the status is known only to the issuer.
    code, out, _ = run(capsys, path, "--trust-root", root)
    assert code == 0 and out.startswith("VALID")

    # The service named is asked, whatever the QR code says; nothing answers there: indeterminate, never valid.
    code, out, _ = run(capsys, path, "--trust-root", root, "--service", "http://127.0.0.1:9", "--json")
    [report] = json.loads(out)
    assert code == 1 and (report["verdict"], report["subindication"]) == ("indeterminate", "TRY_LATER")
    assert {c["name"]: c["outcome"] for c in report["checks"]}["licence-status"] == "indeterminate"
    assert "http://127.0.0.1:9" in report["messages"][0] and report["licence"]["asked"] == "http://127.0.0.1:9"

    # The issuer unreachable: indeterminate (try later), never a crash.
    class Unreachable:
        service_url = server.url

        def lookup(self, licence_id: str) -> None:
            raise RegistryError("connection refused")

    report = Verifier.from_trust_roots([instance.pki.certificate(PkiRole.ROOT)], registry=Unreachable()).verify(
        sealed.pdf
    )
    assert (report.verdict.value, report.subindication) == ("indeterminate", "TRY_LATER")
    assert "try later" in str(report.messages[0])


def test_crl_files_add_revocation_knowledge(sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # A B-T file carries no revocation information: without CRLs the chain cannot be checked at all; with the
    # issuer's CRLs given on the command line it can, at the time its signature time-stamp proves: valid.
    now = datetime.now(UTC)
    crl_paths = []
    for role in ("root", "seal-ca"):
        crl_path = tmp_path / f"{role}.crl"
        crl_path.write_bytes(sealed.instance.revocation.crl(role, at=now))
        crl_paths += ["--crl", crl_path]
    b_t = tmp_path / "b-t.pdf"
    b_t.write_bytes(forgeries.signed_revision(sealed.b_lta))
    _, out, _ = run(capsys, b_t, "--trust-root", sealed.root_pem, "--json")
    assert json.loads(out)[0]["subindication"] == "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    code, out, _ = run(capsys, b_t, "--trust-root", sealed.root_pem, "--json", *crl_paths)
    assert code == 0 and (json.loads(out)[0]["verdict"], json.loads(out)[0]["level"]) == ("valid", "B-T")
    # The library takes the same CRLs (DER).
    crls = [p.read_bytes() for p in crl_paths[1::2]]
    assert Verifier.from_trust_roots(sealed.roots, crls=crls).verify(b_t.read_bytes()).verdict.value == "valid"
    bad = tmp_path / "bad.crl"
    bad.write_bytes(b"not a crl")
    code, _, err = run(capsys, b_t, "--trust-root", sealed.root_pem, "--crl", bad)
    assert code == 2 and "bad.crl: not a CRL" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_updating_line_on_a_terminal() -> None:
    terminal = _Terminal()
    progress = _Progress(40, terminal)
    for _ in range(40):
        progress.tick()
    text = terminal.getvalue()
    assert text.startswith("\rseal-verify: [") and text.endswith("40/40 files, " + text.rsplit(", ", 1)[1])
    assert text.count("\n") == 1 and "[##############################]" in text
    piped = io.StringIO()
    progress = _Progress(40, piped)
    for _ in range(40):
        progress.tick()
    assert "\r" not in piped.getvalue() and "verified 40/40 files" in piped.getvalue()
