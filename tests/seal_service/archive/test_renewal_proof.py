"""The proof that archive renewal keeps a licence verifiable past its TSA certificate: seal a B-LTA licence now,
rotate the TSA (dual control) when its certificate nears expiry, renew, and verify after the first TSA certificate
expired, with the clock moved by libfaketime (Debian ``faketime``): valid with ``seal-verify`` and with pyHanko's
AdES validation; the same licence not renewed is indeterminate, saying its time-stamp expired. Then three
generations of renewals.

The service side runs with its injectable clock (``at=``); the verifiers run as separate processes under
``faketime`` because pyHanko's past validation reads the wall clock (verifier/archive_chain.py).
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from seal_service import archive
from seal_service.archive import ArchiveRenewer, RenewalOutcomeKind, renew_licence, renewal
from seal_service.instance import PkiRole
from seal_service.services.key_requests import approve_request, create_request
from seal_service.storage.keys_models import KeyRequestAction
from tests.conftest import make_instance, make_settings
from tests.support.archive import faketime_available, pyhanko_ades_at, run_at, seal_blta
from tests.support.custody import make_staff

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not faketime_available(), reason="Debian faketime (libfaketime) is not installed"),
]

SEAL_VERIFY = str(Path(sys.executable).with_name("seal-verify"))
HORIZON = timedelta(days=365)


@pytest.fixture
def instance(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An instance per test (TSA rotations change it); TSA certificates live two years here."""
    home = tmp_path_factory.mktemp("proof")
    inst = make_instance(make_settings(home, tsa_certificate_days=730))
    yield inst
    inst.engine.dispose()


@pytest.fixture(autouse=True)
def direct_revisions(monkeypatch):  # type: ignore[no-untyped-def]
    """Every renewal here is written directly (seal_service/archive/fast_revision.py), not through pyHanko's
    fallback: these proofs are the ones for the direct path."""
    built: list[bool] = []
    original = renewal.build_renewal_revision

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(*args, **kwargs)
        built.append(result is not None)
        return result

    monkeypatch.setattr(renewal, "build_renewal_revision", recording)
    yield built
    assert built and all(built), built


def _rotate_tsa(instance, at):  # type: ignore[no-untyped-def]
    """A TSA rotation as operators do it: one officer requests, another approves (at ``at``)."""
    staff = make_staff(instance, at=at)
    request = create_request(instance, staff.officer_a, action=KeyRequestAction.ROTATE_TSA, seal_id="tsa", at=at)
    done = approve_request(instance, staff.officer_b, request.id, at=at)
    assert done.status == "executed", done.error
    return instance.pki.certificate(PkiRole.TSA)


def _seal_verify(moment, root: Path, *pdfs: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    done = run_at(moment, [SEAL_VERIFY, "--trust-root", str(root), "--json", *map(str, pdfs)])
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return {Path(r["file"]).name: r for r in json.loads(done.stdout)}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_renewed_licence_verifies_after_the_first_tsa_certificate_expired(instance, licence_pdf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tsa1 = instance.pki.certificate(PkiRole.TSA)
    renewed_id = seal_blta(instance, licence_pdf)
    neglected_id = seal_blta(instance, licence_pdf)
    # The TSA certificate nears expiry: rotate, then renew (the renewal's horizon finds it due).
    rotation_at = tsa1.not_valid_after_utc - timedelta(days=30)
    tsa2 = _rotate_tsa(instance, rotation_at)
    assert tsa2.serial_number != tsa1.serial_number and tsa2.not_valid_before_utc <= rotation_at
    outcome = renew_licence(instance, renewed_id, at=rotation_at + timedelta(hours=1), horizon=HORIZON)
    assert outcome.kind is RenewalOutcomeKind.RENEWED and outcome.version == 2
    assert outcome.verifiable_until == tsa2.not_valid_after_utc

    root = tmp_path / "root.pem"
    root.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    renewed = _write(tmp_path, "renewed.pdf", archive.licence_pdf(instance, renewed_id)[0])
    neglected = _write(tmp_path, "neglected.pdf", archive.licence_pdf(instance, neglected_id)[0])
    issued = _write(tmp_path, "issued.pdf", archive.licence_pdf(instance, renewed_id, version=1)[0])
    after_expiry = tsa1.not_valid_after_utc + timedelta(days=60)
    # A forged renewal: the same licence re-time-stamped by a TSA the verifier does not trust (another instance).
    foreign = make_instance(make_settings(tmp_path / "foreign"))
    forged_pdf = ArchiveRenewer(foreign).renew_pdf(issued.read_bytes(), at=rotation_at + timedelta(hours=1)).pdf
    forged = _write(tmp_path, "forged.pdf", forged_pdf)
    foreign.engine.dispose()
    # A bent renewal: one digit of the new time-stamp's signature value changed (it lies in the /Contents gap,
    # outside every digest, so only the token's own signature check can notice).
    data = renewed.read_bytes()
    stamp = PdfFileReader(BytesIO(data)).embedded_timestamp_signatures[-1]
    signature_hex = stamp.signer_info["signature"].native.hex().encode()
    at_byte = data.lower().index(signature_hex) + 10
    bent_pdf = data[:at_byte] + (b"1" if data[at_byte : at_byte + 1] != b"1" else b"2") + data[at_byte + 1 :]
    bent = _write(tmp_path, "bent.pdf", bent_pdf)

    reports = _seal_verify(after_expiry, root, renewed, neglected, issued, forged, bent)
    assert reports["renewed.pdf"]["verdict"] == "valid", reports["renewed.pdf"]
    assert reports["forged.pdf"]["verdict"] != "valid", reports["forged.pdf"]
    assert reports["bent.pdf"]["verdict"] != "valid", reports["bent.pdf"]
    for name in ("neglected.pdf", "issued.pdf"):
        report = reports[name]
        assert report["verdict"] == "indeterminate", report
        assert any("newest document time-stamp" in m and "expired" in m for m in report["messages"]), report
        assert any("最新的文档时间戳" in m and "过期" in m for m in report["messages"]), report

    der_root = tmp_path / "root.der"
    der_root.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER))
    ades = pyhanko_ades_at(after_expiry, der_root, [renewed, neglected])
    assert ades[str(renewed)][0] == "PASSED", ades
    assert ades[str(neglected)][0] == "INDETERMINATE", ades

    # Before the expiry both are valid: renewal changes nothing a verifier sees today.
    before = _seal_verify(rotation_at + timedelta(days=1), root, renewed, neglected)
    assert {r["verdict"] for r in before.values()} == {"valid"}, before

    # Too late: once the newest time-stamp has expired, renewal refuses (a new time-stamp would prove nothing).
    late = renew_licence(instance, neglected_id, at=after_expiry, horizon=HORIZON)
    assert late.kind is RenewalOutcomeKind.TOO_LATE and late.version == 1


def test_a_chain_of_three_generations(instance, licence_pdf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    licence_id = seal_blta(instance, licence_pdf)
    for generation in (2, 3):
        at = instance.pki.certificate(PkiRole.TSA).not_valid_after_utc - timedelta(days=20)
        _rotate_tsa(instance, at)
        outcome = renew_licence(instance, licence_id, at=at + timedelta(hours=2), horizon=HORIZON)
        assert outcome.kind is RenewalOutcomeKind.RENEWED and outcome.version == generation, outcome
    pdf, info = archive.licence_pdf(instance, licence_id)
    assert info.version == 3
    stamps = PdfFileReader(BytesIO(pdf)).embedded_timestamp_signatures
    assert [s.field_name for s in stamps] == ["ArchiveTimestamp", "ArchiveTimestamp2", "ArchiveTimestamp3"]
    root = tmp_path / "root.pem"
    root.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    third = _write(tmp_path, "third.pdf", pdf)
    second = _write(tmp_path, "second.pdf", archive.licence_pdf(instance, licence_id, version=2)[0])
    # After the second TSA certificate expired (the third generation's TSA is still valid).
    later = stamps[1].signer_cert["tbs_certificate"]["validity"]["not_after"].native + timedelta(days=30)
    reports = _seal_verify(later, root, third, second)
    assert reports["third.pdf"]["verdict"] == "valid", reports["third.pdf"]
    assert reports["second.pdf"]["verdict"] == "indeterminate", reports["second.pdf"]
