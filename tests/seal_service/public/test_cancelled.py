"""注销 (cancelled): a licence the authority ends without revoking it. The register, the QR page and the verifier all
say it is not in force; a status the verifier does not know is never taken for "in force"."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from seal_service.errors import SealServiceError
from seal_service.instance import PkiRole
from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence
from verifier import Verifier
from verifier.cli import main
from verifier.registry import LicenceRecord


def test_a_cancelled_licence_is_shown_and_verified_as_not_in_force(
    live_instance, licence_pdf, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    instance, server = live_instance
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="晋城市注销测试有限公司",
        holder_code="11100000000013338W",
        holder_code_type="001",
        seal_id="jc-bureau-approval",
    )
    sealed = seal_licence(instance, licence_pdf, request, actor="test", at=datetime.now(UTC))
    change_licence_status(
        instance,
        sealed.licence_id,
        action=LicenceAction.CANCEL,
        reason="持证人申请注销",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    with pytest.raises(SealServiceError, match="cannot be cancelled"):
        change_licence_status(
            instance,
            sealed.licence_id,
            action=LicenceAction.CANCEL,
            reason="again",
            authority_id=None,
            actor="test",
            at=datetime.now(UTC),
        )
    [record] = httpx.get(f"{server.url}/v1/public/licences", params={"number": sealed.number}).json()["records"]
    assert (record["status"], record["status_zh"]) == ("cancelled", "注销")
    assert "证照已注销" in httpx.get(f"{server.url}/v/{sealed.licence_id}").text
    path = tmp_path / "licence.pdf"
    path.write_bytes(sealed.pdf)
    root = tmp_path / "root.pem"
    root.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    code = main([str(path), "--trust-root", str(root), "--service", server.url, "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 1 and report["verdict"] == "invalid" and report["licence"]["status"] == "cancelled"
    assert {c["name"]: c["outcome"] for c in report["checks"]}["licence-status"] == "failed"


def test_a_status_the_verifier_does_not_know_is_not_in_force(live_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, server = live_instance
    request = LicenceRequest(item_code="JC-001", holder_name="晋城市未知状态有限公司", seal_id="jc-bureau-approval")
    sealed = seal_licence(instance, licence_pdf, request, actor="test", at=datetime.now(UTC))

    class FutureService:
        service_url = server.url

        def lookup(self, licence_id: str) -> LicenceRecord:
            return LicenceRecord(
                id=sealed.licence_id,
                identifier=sealed.identifier,
                number=sealed.number,
                status="frozen",
                document_sha256=hashlib.sha256(sealed.pdf).hexdigest(),
            )

    report = Verifier.from_trust_roots([instance.pki.certificate(PkiRole.ROOT)], registry=FutureService()).verify(
        sealed.pdf
    )
    assert report.verdict.value == "indeterminate" and any("frozen" in str(m) for m in report.messages)
    assert {c.name: c.outcome.value for c in report.checks}["licence-status"] == "indeterminate"
