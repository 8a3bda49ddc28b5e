"""``seal-service tsa rotate``: dual control like seal keys, a new TSA certificate with the configured lifetime,
the old one still published (``/pki/tsa/{serial}.cer``, the trust bundle), new time-stamps from the new key."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from seal_service.api.app import create_app
from seal_service.archive.tsa_rotation import retired_tsa_certificates
from seal_service.cli import main
from seal_service.errors import DualControlRefused, InvalidInput, NotAuthorised
from seal_service.instance import PkiRole
from seal_service.services.key_requests import approve_request, create_request
from seal_service.services.trust_bundle import bundle_content
from seal_service.storage.keys_models import KeyRequestAction
from seal_service.storage.models import AuditEntry
from tests.conftest import make_instance, make_settings
from tests.support.archive import seal_blta
from tests.support.custody import make_staff


@pytest.fixture
def instance(tmp_path):  # type: ignore[no-untyped-def]
    """An instance of its own whose TSA certificates live 90 days."""
    inst = make_instance(make_settings(tmp_path / "inst", tsa_certificate_days=90))
    yield inst
    inst.engine.dispose()


def test_rotation_under_dual_control_keeps_the_old_certificate_published(instance, licence_pdf, capsys) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    old = instance.pki.certificate(PkiRole.TSA)
    assert old.not_valid_after_utc - old.not_valid_before_utc == timedelta(days=90)  # the setting, at init too
    staff = make_staff(instance, at=now)

    # Only security officers request; the requester cannot approve; the target must be the TSA.
    with pytest.raises(NotAuthorised):
        create_request(instance, staff.system.caller, action=KeyRequestAction.ROTATE_TSA, seal_id="tsa", at=now)
    with pytest.raises(InvalidInput):
        create_request(
            instance, staff.officer_a, action=KeyRequestAction.ROTATE_TSA, seal_id="jc-bureau-approval", at=now
        )
    request = create_request(instance, staff.officer_a, action=KeyRequestAction.ROTATE_TSA, seal_id="tsa", at=now)
    with pytest.raises(DualControlRefused):
        approve_request(instance, staff.officer_a, request.id, at=now)
    assert instance.pki.certificate(PkiRole.TSA).serial_number == old.serial_number  # nothing happened yet

    done = approve_request(instance, staff.officer_b, request.id, at=now + timedelta(minutes=1))
    assert done.status == "executed" and done.result is not None
    new = instance.pki.certificate(PkiRole.TSA)
    assert new.serial_number != old.serial_number
    assert done.result["new_serial"] == format(new.serial_number, "x")
    assert new.not_valid_after_utc - new.not_valid_before_utc == timedelta(days=90)
    assert [c.serial_number for c in retired_tsa_certificates(instance)] == [old.serial_number]
    with instance.sessions() as session:
        assert session.query(AuditEntry).filter_by(action="tsa.rotate").count() == 1

    # Both published: the trust bundle and the certificate endpoint.
    pki = bundle_content(instance, at=now)["pki"]
    assert f"tsa-{old.serial_number:x}" in pki and "tsa" in pki
    client = TestClient(create_app(instance=instance))
    for cert in (old, new):
        served = client.get(f"/pki/tsa/{cert.serial_number:x}.cer")
        assert served.status_code == 200 and x509.load_der_x509_certificate(served.content) == cert
    missing = client.get("/pki/tsa/abc123.cer")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")

    # New seals are time-stamped by the new key.
    licence_id = seal_blta(instance, licence_pdf)
    from seal_service.archive import licence_pdf as stored_pdf

    reader = PdfFileReader(BytesIO(stored_pdf(instance, licence_id)[0]))
    assert reader.embedded_timestamp_signatures[-1].signer_cert.serial_number == new.serial_number

    # The CLI lists both.
    env = {"SEAL_HOME": str(instance.settings.resolved_home), "SEAL_KEY_PASSPHRASE": "test-passphrase-not-secret"}
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("SEAL_")}
    os.environ.update(env)
    try:
        assert main(["tsa", "list"]) == 0
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)
    out = capsys.readouterr().out
    assert f"current  serial {new.serial_number:x}" in out and f"retired  serial {old.serial_number:x}" in out
