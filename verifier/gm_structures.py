"""GB/T 38540-2019 (GM/T 0031 v4) electronic seal structures and the SM2/SM3 primitives used to check them.

The ASN.1 follows GB/T 38540 v4 as implemented by ofdrw (``org.ofdrw.gm.ses.v4``)::

    SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING, signatureAlgID OBJECT IDENTIFIER,
                                 signature BIT STRING, timeStamp [0] EXPLICIT BIT STRING OPTIONAL }
    TBS_Sign ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo GeneralizedTime, dataHash BIT STRING,
                            propertyInfo IA5String, extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }
    SESeal ::= SEQUENCE { esealInfo SES_SealInfo, cert OCTET STRING, signAlgID OBJECT IDENTIFIER,
                          signedValue BIT STRING }

The service (``seal_service.gm``) builds with these classes and the verifier (``verifier.gm``) reads with them:
one definition, in the package that ships alone. SM2 signatures are DER ``SEQUENCE { r, s }`` (GM/T 0009) made
with the user id :data:`DEFAULT_USER_ID`; the C library ``gmalglib`` computes them (never a pure-Python SM2).
"""

from __future__ import annotations

import hashlib
from typing import Any

from asn1crypto import algos, core, x509
from gmalglib.sm2 import SM2

#: GM/T 0009 default SM2 user id (distinguishing identifier); OpenSSL needs it spelt out: ``distid:1234567812345678``.
DEFAULT_USER_ID = b"1234567812345678"
#: The SM2 curve (``id-ecPublicKey`` parameters in certificates).
SM2_CURVE = "1.2.156.10197.1.301"
#: SM3 hash.
SM3 = "1.2.156.10197.1.401"
#: SM2 signature with SM3 (certificates, SESeal.signAlgID, SES_Signature.signatureAlgID).
SM2_WITH_SM3 = "1.2.156.10197.1.501"
#: ``SES_Header.id`` and version of GB/T 38540 v4 seals.
SES_ID = "ES"
SES_VERSION = 4


class ExtData(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """One extension of seal or signature data."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    """``ExtensionDatas ::= SEQUENCE OF ExtData``."""

    _child_spec = ExtData


class SesHeader(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``SES_Header``: ``ES``, version 4, vendor id."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertInfoList(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    """``SES_CertList`` of certListType 1: the permitted signers' certificates (DER in OCTET STRINGs)."""

    _child_spec = core.OctetString


class SesPropertyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``SES_ESPropertyInfo``: seal type, name, permitted signers and validity."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", CertInfoList),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SesPictureInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``SES_ESPictrueInfo``: the seal image (type, data, width and height in millimetres)."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class SesSealInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``SES_SealInfo``: what the seal maker signs."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", SesPropertyInfo),
        ("picture", SesPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``SESeal``: seal data (印章数据) signed by the seal maker."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("eseal_info", SesSealInfo),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class TbsSign(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``TBS_Sign``: what the signer signs."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SesSignature(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``SES_Signature``: electronic signature data (电子签章数据)."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("to_sign", TbsSign),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (OpenSSL through hashlib when it has SM3, else gmalglib)."""
    try:
        return hashlib.new("sm3", data).digest()
    except ValueError:  # pragma: no cover - an OpenSSL without SM3
        from gmalglib.sm3 import SM3 as _Sm3

        digest: bytes = _Sm3(data).digest()
        return digest


def raw_to_der(raw: bytes) -> bytes:
    """An SM2 signature r||s (64 bytes) as DER ``SEQUENCE { r, s }``."""
    return bytes(algos.DSASignature.from_p1363(raw).dump())


def der_to_raw(der: bytes) -> bytes:
    """A DER SM2 signature as r||s (64 bytes); ValueError when it is not one."""
    parsed = algos.DSASignature.load(der)
    r, s = parsed["r"].native, parsed["s"].native
    if not isinstance(r, int) or not isinstance(s, int) or r <= 0 or s <= 0 or r >> 256 or s >> 256:
        raise ValueError("not an SM2 signature")
    if parsed.dump() != der:
        raise ValueError("SM2 signature is not DER")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sm2_public_key(certificate: x509.Certificate) -> bytes:
    """The uncompressed SM2 public point (65 bytes) of ``certificate``; ValueError if it is not an SM2 key."""
    spki = certificate["tbs_certificate"]["subject_public_key_info"]
    algorithm = spki["algorithm"]
    if algorithm["algorithm"].dotted != "1.2.840.10045.2.1":
        raise ValueError("the certificate's key is not an elliptic-curve key")
    curve: Any = algorithm["parameters"]
    if curve.name != "named" or curve.chosen.dotted != SM2_CURVE:
        raise ValueError("the certificate's key is not on the SM2 curve")
    point = bytes(spki["public_key"].contents[1:])
    if len(point) != 65 or point[0] != 4:
        raise ValueError("the certificate's SM2 point is not uncompressed")
    return point


def sm2_verify(public_key: bytes, message: bytes, signature_der: bytes, *, user_id: bytes = DEFAULT_USER_ID) -> bool:
    """Whether ``signature_der`` is an SM2-with-SM3 signature of ``message`` under ``public_key`` and ``user_id``."""
    try:
        raw = der_to_raw(signature_der)
    except ValueError:
        return False
    ok: bool = SM2(pk=public_key, uid=user_id).verify(message, raw)
    return ok


def certificate_signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s SM2 key signed ``certificate`` (SM2-with-SM3, default user id)."""
    if certificate["signature_algorithm"]["algorithm"].dotted != SM2_WITH_SM3:
        return False
    try:
        key = sm2_public_key(issuer)
    except ValueError:
        return False
    return sm2_verify(key, certificate["tbs_certificate"].dump(), bytes(certificate["signature_value"].native))


def is_sm2_certificate(der: bytes) -> bool:
    """Whether ``der`` is an X.509 certificate with an SM2 key."""
    try:
        sm2_public_key(x509.Certificate.load(der))
    except (ValueError, TypeError, KeyError):
        return False
    return True
