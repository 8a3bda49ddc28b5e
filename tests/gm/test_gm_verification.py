"""National seals (国密, GB/T 38540): what the verifier accepts and every tampering it must catch, by message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509
from gmalglib.sm2 import SM2

from seal_service.gm.keys import SoftwareSm2Key
from seal_service.gm.pdf import embed_ses_signature
from seal_service.gm.pki import build_sm2_root, build_sm2_seal_ca, build_sm2_seal_certificate
from seal_service.gm.seal_data import SealDataSpec, build_ses_seal, build_ses_signature
from seal_service.gm.service import gm_keys, gm_material_for
from seal_service.storage.gm_models import GmLicenceSeal, GmPkiCertificate
from tests.support.pdfs import sample_licence_pdf
from verifier import verify_pdf
from verifier.gm import verify_national_seals
from verifier.gm_structures import SESeal, raw_to_der, sm3


@dataclass(frozen=True)
class _OtherUserId:
    """The seal's own key, signing with a user id other than 1234567812345678."""

    key: SoftwareSm2Key

    @property
    def public_key(self) -> bytes:
        return self.key.public_key

    def sign(self, message: bytes) -> bytes:
        return raw_to_der(SM2(sk=self.key.secret, pk=self.key.public_key, uid=b"ALICE123@YAHOO.COM").sign(message))


def _material(dual):  # type: ignore[no-untyped-def]
    material = gm_material_for(dual.instance, "jc-bureau-approval", at=dual.sealed_at)
    assert material is not None
    return material


def _gm_pdf(dual, *, at=None, seal_der=None, signer=None, cert=None, mutate=None):  # type: ignore[no-untyped-def]
    """The sample licence with a national seal only, built from the instance's real material unless overridden."""
    material = _material(dual)
    at = at or dual.sealed_at

    def sign(data_hash: bytes) -> bytes:
        der = bytes(
            build_ses_signature(
                seal=SESeal.load(seal_der or material.ses_seal_der),
                signer_certificate=cert or material.certificate_der,
                signer_key=signer or material.signer,
                data_hash=data_hash,
                at=at,
                property_info="licence.pdf",
            ).dump()
        )
        return mutate(der, data_hash) if mutate else der

    return embed_ses_signature(sample_licence_pdf(), sign=sign, at=at, reserved=len(material.ses_seal_der) + 8192)


def _one(dual, pdf: bytes, *, roots=None):  # type: ignore[no-untyped-def]
    results = verify_national_seals(pdf, sm2_roots=[dual.sm2_root] if roots is None else roots)
    assert len(results) == 1
    return results[0]


def _ca(dual):  # type: ignore[no-untyped-def]
    with dual.instance.sessions() as session:
        row = session.get(GmPkiCertificate, "sm2-seal-ca")
        return x509.Certificate.load(row.certificate_der), gm_keys(dual.instance).resolve(row.key_ref)


def test_a_dual_sealed_licence_is_valid_with_both_seals_reported(dual) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.registry import list_seals  # noqa: F401 - the instance is initialised

    report = dual.verifier().verify(dual.pdf)
    assert report.verdict.value == "valid", report.messages
    assert report.level == "B-LTA"
    (national,) = report.national_seals
    assert national.valid and national.trust_checked and national.time_stamped
    assert national.revocation == "good" and national.time_stamp_at is not None
    assert national.es_id == "jc-bureau-approval-1"
    assert any("国密电子签章有效" in str(m) for m in report.messages)
    assert report.to_json()["national_seals"][0]["valid"] is True
    with dual.instance.sessions() as session:
        assert session.get(GmLicenceSeal, dual.licence_id) is not None


def test_altered_document_bytes_are_caught(dual) -> None:  # type: ignore[no-untyped-def]
    pdf = _gm_pdf(dual)
    position = pdf.index(b"/MediaBox")
    tampered = pdf[:position] + b"/MediaBoy" + pdf[position + 9 :]
    result = _one(dual, tampered)
    assert not result.valid
    assert "document bytes were altered" in result.reason.en


def test_altered_data_hash_is_caught(dual) -> None:  # type: ignore[no-untyped-def]
    def flip_hash(der: bytes, data_hash: bytes) -> bytes:
        assert der.count(data_hash) == 1
        return der.replace(data_hash, bytes([data_hash[0] ^ 1]) + data_hash[1:])

    result = _one(dual, _gm_pdf(dual, mutate=flip_hash))
    assert not result.valid
    # The signature over TBS_Sign no longer matches (the dataHash now fails the document too: checked first).
    assert "dataHash" in result.reason.en or "signature over TBS_Sign" in result.reason.en


def test_altered_data_hash_matching_a_changed_document_still_fails_the_signature(dual) -> None:  # type: ignore[no-untyped-def]
    # An attacker who changes the document and sets dataHash to its new SM3 cannot re-sign TBS_Sign.
    pdf = _gm_pdf(dual)
    position = pdf.index(b"/MediaBox")
    tampered = pdf[:position] + b"/MediaBoy" + pdf[position + 9 :]
    from verifier.gm import _national_fields, _signed_bytes

    (found,) = _national_fields(tampered).found
    new_hash = sm3(_signed_bytes(tampered, found.byte_range))
    old_hash = sm3(_signed_bytes(pdf, found.byte_range))
    old_hex = old_hash.hex().encode()
    if old_hex not in tampered:
        old_hex, new_hex = old_hex.upper(), new_hash.hex().upper().encode()
    else:
        new_hex = new_hash.hex().encode()
    assert tampered.count(old_hex) == 1
    forged = tampered.replace(old_hex, new_hex)
    result = _one(dual, forged)
    assert not result.valid
    assert "SM2 signature over TBS_Sign does not verify" in result.reason.en


def test_a_signature_made_with_another_user_id_is_caught(dual) -> None:  # type: ignore[no-untyped-def]
    material = _material(dual)
    result = _one(dual, _gm_pdf(dual, signer=_OtherUserId(material.signer)))
    assert not result.valid
    assert "user id other than 1234567812345678" in result.reason.en


def test_a_signer_not_in_the_seal_certificate_list_is_caught(dual) -> None:  # type: ignore[no-untyped-def]
    ca, ca_key = _ca(dual)
    intruder = SoftwareSm2Key.generate()
    cert = build_sm2_seal_certificate(
        seal_name="晋城市行政审批服务管理局行政审批专用章",
        authority_name="晋城市行政审批服务管理局",
        credit_code="11430000006122244L",
        seal_id="jc-bureau-approval",
        public_key=intruder.public_key,
        ca=ca,
        ca_key=ca_key,
        at=dual.sealed_at,
    )
    result = _one(dual, _gm_pdf(dual, signer=intruder, cert=cert.dump()))
    assert not result.valid
    assert "not in the seal data's certificate list" in result.reason.en


def test_seal_data_outside_its_validity_is_caught(dual) -> None:  # type: ignore[no-untyped-def]
    material = _material(dual)
    result = _one(dual, _gm_pdf(dual, at=material.not_after + timedelta(days=1)))
    assert not result.valid
    assert "outside its validity" in result.reason.en


def _rogue_seal(dual, maker_key, maker_cert):  # type: ignore[no-untyped-def]
    material = _material(dual)
    genuine = SESeal.load(material.ses_seal_der)["eseal_info"]
    return build_ses_seal(
        SealDataSpec(
            es_id="jc-bureau-approval-1",
            name=genuine["property"]["name"].native,
            signer_certificates=(material.certificate_der,),
            picture_png=genuine["picture"]["data"].native,
            created_at=dual.sealed_at,
            valid_start=material.not_before,
            valid_end=material.not_after,
        ),
        maker_certificate=maker_cert,
        maker_key=maker_key,
    ).dump()


def test_seal_data_from_an_untrusted_seal_maker_is_caught(dual) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    rogue_root_key, rogue_ca_key = SoftwareSm2Key.generate(), SoftwareSm2Key.generate()
    rogue_root = build_sm2_root(key=rogue_root_key, at=now)
    rogue_ca = build_sm2_seal_ca(key=rogue_ca_key, root=rogue_root, root_key=rogue_root_key, at=now)
    result = _one(dual, _gm_pdf(dual, seal_der=_rogue_seal(dual, rogue_ca_key, rogue_ca)))
    assert not result.valid
    assert result.reason.en == "the seal data was not signed by a trusted seal maker"
    # The same document is fine for whoever trusts the rogue root: the maker check is what caught it.
    assert _one(dual, _gm_pdf(dual, seal_der=_rogue_seal(dual, rogue_ca_key, rogue_ca)), roots=[rogue_root.dump()])


def test_a_swapped_picture_is_caught(dual) -> None:  # type: ignore[no-untyped-def]
    material = _material(dual)
    seal = SESeal.load(material.ses_seal_der)
    picture = seal["eseal_info"]["picture"]["data"].native
    swapped = picture[:-40] + bytes(b ^ 0xFF for b in picture[-40:])
    assert material.ses_seal_der.count(picture) == 1
    seal_der = material.ses_seal_der.replace(picture, swapped)
    result = _one(dual, _gm_pdf(dual, seal_der=seal_der))
    assert not result.valid
    assert "picture" in result.reason.en and "seal maker's signature does not verify" in result.reason.en


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9])
def test_truncated_signature_data_is_caught(dual, keep: float) -> None:  # type: ignore[no-untyped-def]
    result = _one(dual, _gm_pdf(dual, mutate=lambda der, _h: der[: int(len(der) * keep)]))
    assert not result.valid
    assert "truncated or malformed" in result.reason.en


def test_an_invalid_national_seal_makes_the_dual_sealed_document_invalid(dual) -> None:  # type: ignore[no-untyped-def]
    root = dual.instance.pki.certificate("root")
    # Without trusting this instance's SM2 root, the seal maker is unknown: the whole document is invalid.
    from tests.gm.test_gm_verification import _rogue_sm2_root

    report = verify_pdf(dual.pdf, trust_roots=[root], sm2_roots=[_rogue_sm2_root()])
    assert report.verdict.value == "invalid"
    assert "trusted seal maker" in str(report.messages[0])


def _rogue_sm2_root() -> bytes:
    key = SoftwareSm2Key.generate()
    return bytes(build_sm2_root(key=key, at=datetime.now(UTC)).dump())


def test_policy_can_require_the_national_seal(dual) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.sealing import LicenceRequest, seal_licence

    root = dual.instance.pki.certificate("root")
    request = LicenceRequest(item_code="JC-001", holder_name="测试", seal_id="jc-bureau-approval", gm=False)
    pades_only = seal_licence(dual.instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    assert pades_only.seals == ("pades",)
    assert verify_pdf(pades_only.pdf, trust_roots=[root], sm2_roots=[dual.sm2_root]).verdict.value == "valid"
    required = verify_pdf(pades_only.pdf, trust_roots=[root], sm2_roots=[dual.sm2_root], require_national_seal=True)
    assert required.verdict.value == "invalid"
    assert "requires a national seal" in str(required.messages[0])
    dual_required = dual.verifier(require_national_seal=True).verify(dual.pdf)
    assert dual_required.verdict.value == "valid"
