"""A dual-sealed licence (national SM2 seal + PAdES B-LTA) from a throwaway instance, for the 国密 tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.support.pdfs import sample_licence_pdf


@dataclass(frozen=True)
class DualSealed:
    """A dual-sealed licence and what it takes to check it."""

    instance: object
    pdf: bytes
    licence_id: str
    sealed_at: datetime
    sm2_root: bytes
    sm2_seal_ca: bytes

    def sm2_crl(self) -> bytes:
        """The instance's current SM2 CRL (DER), signed by the SM2 seal CA."""
        return self.instance.revocation.crl("sm2-seal-ca", at=datetime.now(UTC))  # type: ignore[attr-defined,no-any-return]

    def verifier(self, **kwargs):  # type: ignore[no-untyped-def]
        """A verifier trusting the instance's roots with its current SM2 CRL (the national seal's revocation data)."""
        from verifier import Verifier

        crls = kwargs.pop("crls", [self.sm2_crl()])
        return Verifier.from_trust_roots(
            [self.instance.pki.certificate("root")],
            sm2_roots=[self.sm2_root],
            crls=crls,
            **kwargs,  # type: ignore[attr-defined]
        )


@pytest.fixture(scope="session")
def dual(tmp_path_factory: pytest.TempPathFactory) -> DualSealed:
    from seal_service.gm import Sm2Role, sm2_certificate
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from tests.conftest import make_instance, make_settings

    # File keys even in the suite's HSM run: an instance keeping seal keys in a token gets no software SM2 keys.
    instance = make_instance(make_settings(tmp_path_factory.mktemp("gm"), key_backend="file"))
    at = datetime.now(UTC)
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="晋城市示例餐饮有限公司",
        seal_id="jc-bureau-approval",
        holder_code="11430000006122244L",
        holder_code_type="001",
    )
    sealed = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=at)
    return DualSealed(
        instance=instance,
        pdf=sealed.pdf,
        licence_id=sealed.licence_id,
        sealed_at=at,
        sm2_root=sm2_certificate(instance, Sm2Role.ROOT),
        sm2_seal_ca=sm2_certificate(instance, Sm2Role.SEAL_CA),
    )
