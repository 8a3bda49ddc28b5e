"""Rotating a seal while it seals: no request fails, every licence verifies and names the certificate that was
current when it was sealed, and licences sealed before the rotation keep validating (pyHanko AdES, offline).

Runs on SQLite and PostgreSQL, and (through test_keys_hsm_suite.py) once more with SoftHSM2 keys.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from seal_service.instance import PkiRole
from seal_service.services.audit import verify_log
from seal_service.services.rotation import retire_key, rotate_seal, seal_history
from seal_service.services.sealing import LicenceRequest, get_licence, get_licence_pdf, seal_licence
from seal_service.signing.sealer import PadesLevel
from tests.support.custody import fresh_seal
from tests.support.verifiers import pyhanko_ades_lta

SEALERS = 3
ROTATIONS = 3


@dataclass(frozen=True)
class Sealed:
    """One licence and the wall-clock window of the call that sealed it."""

    licence_id: str
    started: float
    finished: float


def _request(seal_id: str, level: PadesLevel = PadesLevel.B_B) -> LicenceRequest:
    return LicenceRequest(item_code="JC-001", holder_name="晋城市示例餐饮有限公司", seal_id=seal_id, level=level)


def _signer_serial(pdf: bytes) -> int:
    signature = PdfFileReader(BytesIO(pdf)).embedded_regular_signatures[0]
    return int(signature.signer_cert.serial_number)


def test_rotation_under_load_keeps_every_licence_valid(keys_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance = keys_instance
    seal_id = fresh_seal(instance)
    root_der = instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER)
    before = seal_licence(instance, licence_pdf, _request(seal_id, PadesLevel.B_LTA), actor="t", at=datetime.now(UTC))
    first_cert = get_licence(instance, before.licence_id).certificate_id

    sealed: list[Sealed] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    progress = threading.Condition()
    rotations: list[tuple[float, float, int]] = []  # (call started, call returned, new certificate id)

    def sealer() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                made = seal_licence(instance, licence_pdf, _request(seal_id), actor="t", at=datetime.now(UTC))
            except BaseException as exc:  # collected and asserted below: no sealing may fail
                errors.append(exc)
                with progress:
                    progress.notify_all()
                return
            with progress:
                sealed.append(Sealed(made.licence_id, started, time.monotonic()))
                progress.notify_all()

    def sealings_started_after(moment: float) -> int:
        return sum(1 for item in sealed if item.started > moment)

    def await_sealings(after: float) -> None:
        # Ordering, not sleeping: go on once every sealer has sealed a licence it started after `after`.
        with progress:
            if not progress.wait_for(lambda: errors or sealings_started_after(after) >= SEALERS, timeout=120):
                raise AssertionError("the sealers made no progress (liveness)")

    def rotator() -> None:
        try:
            await_sealings(after=0.0)
            for _ in range(ROTATIONS):
                started = time.monotonic()
                result = rotate_seal(instance, seal_id, at=datetime.now(UTC), actor="security-officer:test")
                assert result.certificate_id is not None
                rotations.append((started, time.monotonic(), result.certificate_id))
                await_sealings(after=rotations[-1][1])  # sealings that can only have used the new certificate
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=sealer) for _ in range(SEALERS)] + [threading.Thread(target=rotator)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(rotations) == ROTATIONS

    # (1) The succession is one line: each certificate succeeds the previous one; exactly one is current.
    history = seal_history(instance, seal_id)
    ids = [c.id for c in history.certificates]
    assert ids == [first_cert] + [r[2] for r in rotations]
    assert [c.successor_of for c in history.certificates] == [None, *ids[:-1]]
    assert [c.status for c in history.certificates] == ["superseded"] * ROTATIONS + ["current"]
    serial_of = {c.id: int(c.serial_number, 16) for c in history.certificates}

    # (2) When each certificate could have been current, in wall-clock time: from the start of the rotation that
    # made it until the end of the rotation that replaced it.
    windows = {first_cert: (0.0, rotations[0][1])}
    for k, (started, _returned, cert_id) in enumerate(rotations):
        windows[cert_id] = (started, rotations[k + 1][1] if k + 1 < ROTATIONS else float("inf"))

    root = asn1_x509.Certificate.load(root_der)
    context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
    used = set()
    for item in sealed:
        cert_id = get_licence(instance, item.licence_id).certificate_id
        pdf = get_licence_pdf(instance, item.licence_id)
        # (3) the licence names the certificate that actually signed it...
        assert _signer_serial(pdf) == serial_of[cert_id]
        # ...and that certificate was current while the sealing call ran.
        low, high = windows[cert_id]
        assert low <= item.finished and item.started <= high, (item, cert_id, windows)
        # (4) every licence verifies with an independent validator.
        status = validate_pdf_signature(PdfFileReader(BytesIO(pdf)).embedded_signatures[0], context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        used.add(cert_id)
    # Each certificate sealed licences: the sealers went on across every rotation.
    assert used == set(ids), (used, ids)

    # (5) The licence sealed before the rotations still passes AdES LTA validation, also after its key is retired
    # (destroyed): validation needs only the certificate, kept in the registry and embedded in the PDF.
    assert pyhanko_ades_lta(before.pdf, root_der) == ("PASSED", None)
    retire_key(instance, seal_id, first_cert, at=datetime.now(UTC), actor="security-officer:test")
    assert pyhanko_ades_lta(before.pdf, root_der) == ("PASSED", None)
    after = seal_licence(instance, licence_pdf, _request(seal_id, PadesLevel.B_LTA), actor="t", at=datetime.now(UTC))
    assert _signer_serial(after.pdf) == serial_of[ids[-1]]
    assert pyhanko_ades_lta(after.pdf, root_der) == ("PASSED", None)
    # (6) and the audit log, written by all of that at once, is one unbroken chain.
    verify_log(instance)


def test_concurrent_signatures_with_fresh_material_are_well_formed(live_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    # Regression: concurrent sealings shared the signer's asn1crypto certificate objects, which are not
    # thread-safe; right after a rotation (fresh material) about one signature in twelve came out malformed
    # (no signer certificate found, or a SignerInfos with a wrong entry count). Each signature now gets its own.
    from seal_service.appearance.stamp import StampText
    from seal_service.signing.sealer import Sealer
    from seal_service.storage.models import Seal

    instance, _ = live_instance
    with instance.sessions() as session:
        seal = session.get(Seal, "jc-bureau-approval")
        cert = next(c for c in reversed(seal.certificates) if c.status == "current")
        spec = {
            "seal_id": seal.id,
            "certificate_id": cert.id,
            "certificate_der": cert.certificate_der,
            "key_ref": cert.key_ref,
            "seal_png": seal.image_png,
            "names": seal.authority.name + seal.name,
        }
    root = asn1_x509.Certificate.load(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
    for _ in range(4):
        sealer = Sealer(instance)  # cold: material built now, then shared by eight threads at once
        material = sealer.material(**spec)
        outputs: list[bytes] = []
        start = threading.Barrier(8)

        def sign(sealer: Sealer = sealer, material=material, outputs=outputs, start=start) -> None:  # type: ignore[no-untyped-def]
            start.wait()
            at = datetime.now(UTC)
            text = StampText(licence_number="140500-1", sealed_at=at, verify_url="http://127.0.0.1/v/x")
            outputs.append(sealer.seal_pdf(licence_pdf, material=material, level=PadesLevel.B_B, text=text, at=at))

        threads = [threading.Thread(target=sign) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outputs) == 8
        for pdf in outputs:
            status = validate_pdf_signature(PdfFileReader(BytesIO(pdf)).embedded_signatures[0], context)
            assert status.intact and status.valid and status.trusted
