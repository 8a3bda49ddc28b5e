"""Seal data (印章数据, GB/T 38540 v4 ``SESeal``) and signature data (电子签章数据, ``SES_Signature``).

Example::

    >>> seal = build_ses_seal(SealDataSpec(...), maker_certificate=ca, maker_key=ca_key)   # doctest: +SKIP
    >>> sig = build_ses_signature(seal=seal, signer_certificate=cert, signer_key=key,
    ...                           data_hash=sm3(signed_bytes), at=now, property_info="licence.pdf")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

from asn1crypto import x509

from seal_service.gm.keys import Sm2Signer
from verifier.gm_structures import (
    SES_ID,
    SES_VERSION,
    SM2_WITH_SM3,
    CertInfoList,
    SESeal,
    SesHeader,
    SesPictureInfo,
    SesPropertyInfo,
    SesSealInfo,
    SesSignature,
    TbsSign,
)

#: The vendor id in SES_Header (制章系统厂商标识).
VENDOR_ID = "ONE-SEAL"
#: SES_ESPropertyInfo.type: 1 = organisation seal (单位印章), 2 = personal seal.
ORGANISATION_SEAL = 1
#: certListType 1: the certificate list holds the certificates themselves.
CERT_LIST_CERTIFICATES = 1


@dataclass(frozen=True)
class SealDataSpec:
    """What goes into one seal's data."""

    es_id: str
    """The seal's code (印章编码): the registry's seal id and the generation, e.g. ``jc-bureau-approval-1``."""
    name: str
    signer_certificates: tuple[bytes, ...]
    """DER of the certificates allowed to sign with this seal."""
    picture_png: bytes
    created_at: datetime
    valid_start: datetime
    valid_end: datetime
    width_mm: int = 42
    height_mm: int = 42


def compact_picture(png: bytes) -> bytes:
    """The seal image as a 16-colour palette PNG (same size): ~21 KB instead of ~85 KB for the demo seals.

    The picture travels in every SES_Signature (hex-encoded in the PDF, so twice its size), and a red seal on a
    transparent ground needs no more colours.
    """
    from PIL import Image

    with Image.open(BytesIO(png)) as image:
        palette = image.convert("RGBA").quantize(colors=16, method=Image.Quantize.FASTOCTREE)
    out = BytesIO()
    palette.save(out, "PNG", optimize=True)
    return out.getvalue()


def build_ses_seal(spec: SealDataSpec, *, maker_certificate: x509.Certificate, maker_key: Sm2Signer) -> SESeal:
    """The seal data for ``spec``, signed by the seal maker over DER(SES_SealInfo)."""
    info = SesSealInfo(
        {
            "header": SesHeader({"id": SES_ID, "version": SES_VERSION, "vid": VENDOR_ID}),
            "es_id": spec.es_id,
            "property": SesPropertyInfo(
                {
                    "type": ORGANISATION_SEAL,
                    "name": spec.name,
                    "cert_list_type": CERT_LIST_CERTIFICATES,
                    "cert_list": CertInfoList(list(spec.signer_certificates)),
                    "create_date": spec.created_at.replace(microsecond=0),
                    "valid_start": spec.valid_start.replace(microsecond=0),
                    "valid_end": spec.valid_end.replace(microsecond=0),
                }
            ),
            "picture": SesPictureInfo(
                {"type": "PNG", "data": spec.picture_png, "width": spec.width_mm, "height": spec.height_mm}
            ),
        }
    )
    return SESeal(
        {
            "eseal_info": info,
            "cert": maker_certificate.dump(),
            "sign_alg_id": SM2_WITH_SM3,
            "signed_value": maker_key.sign(info.dump()),
        }
    )


def build_ses_signature(
    *,
    seal: SESeal,
    signer_certificate: bytes,
    signer_key: Sm2Signer,
    data_hash: bytes,
    at: datetime,
    property_info: str,
    time_stamp: Callable[[bytes], bytes] | None = None,
) -> SesSignature:
    """Signature data: TBS_Sign (version 4, the seal data, time, SM3 data hash) signed by the seal's key.

    ``time_stamp``, when given, gets the signature value and returns the DER RFC 3161 token over it.
    """
    tbs = TbsSign(
        {
            "version": SES_VERSION,
            "eseal": SESeal.load(seal.dump()),
            "time_info": at.replace(microsecond=0),
            "data_hash": data_hash,
            "property_info": property_info,
        }
    )
    signature = signer_key.sign(tbs.dump())
    values = {"to_sign": tbs, "cert": signer_certificate, "signature_alg_id": SM2_WITH_SM3, "signature": signature}
    if time_stamp is not None:
        values["time_stamp"] = time_stamp(signature)
    return SesSignature(values)
