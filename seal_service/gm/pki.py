"""SM2 certificates: the SM2 root, the SM2 seal CA (the seal maker, 制章者) and SM2 seal certificates.

Built as asn1crypto structures and signed through gmalglib (``cryptography`` cannot handle SM2 keys):
signatureAlgorithm SM2-with-SM3 (1.2.156.10197.1.501, no parameters), public keys ``id-ecPublicKey`` on the
curve SM2 (1.2.156.10197.1.301), signatures over DER(tbsCertificate) with the user id 1234567812345678, so
``openssl verify -vfyopt distid:1234567812345678`` accepts the chain.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from asn1crypto import keys, x509

from seal_service.gm.keys import Sm2Signer
from verifier.gm_structures import SM2_CURVE, SM2_WITH_SM3

ROOT_VALIDITY = timedelta(days=20 * 365)
CA_VALIDITY = timedelta(days=10 * 365)
SEAL_VALIDITY = timedelta(days=3 * 365)


class Sm2Role(StrEnum):
    """The SM2 service certificates."""

    ROOT = "sm2-root"
    SEAL_CA = "sm2-seal-ca"


def spki(public_key: bytes) -> keys.PublicKeyInfo:
    """SubjectPublicKeyInfo of an SM2 point: id-ecPublicKey with the SM2 curve."""
    return keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters("named", SM2_CURVE)},
            "public_key": public_key,
        }
    )


def public_key_pem(public_key: bytes) -> bytes:
    """The SM2 public key as a PEM ``PUBLIC KEY`` (what ``openssl dgst -verify`` reads)."""
    from asn1crypto import pem

    return bytes(pem.armor("PUBLIC KEY", spki(public_key).dump()))


def _time(at: datetime) -> x509.Time:
    return x509.Time({"utc_time": at} if at.year < 2050 else {"general_time": at})


def _name(common_name: str, organisation: str, extra: dict[str, str] | None = None) -> x509.Name:
    values = {"country_name": "CN", "organization_name": organisation, **(extra or {}), "common_name": common_name}
    return x509.Name.build(values)


def _key_id(public_key: bytes) -> bytes:
    return hashlib.sha1(public_key, usedforsecurity=False).digest()


def build_certificate(
    *,
    subject: x509.Name,
    public_key: bytes,
    issuer: x509.Certificate | None,
    issuer_key: Sm2Signer,
    at: datetime,
    validity: timedelta,
    ca: bool,
    crl_url: str | None = None,
) -> x509.Certificate:
    """An SM2 certificate for ``public_key``, signed by ``issuer_key`` (self-signed when ``issuer`` is None), with
    a CRL distribution point when ``crl_url`` is given."""
    start = (at - timedelta(minutes=1)).replace(microsecond=0)
    issuer_name = subject if issuer is None else issuer.subject
    issuer_point = public_key if issuer is None else issuer.public_key["public_key"].native
    extensions = [
        {
            "extn_id": "basic_constraints",
            "critical": True,
            "extn_value": {"ca": ca, "path_len_constraint": 0 if ca and issuer else None},
        },
        {
            "extn_id": "key_usage",
            "critical": True,
            "extn_value": {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"},
        },
        {"extn_id": "key_identifier", "critical": False, "extn_value": _key_id(public_key)},
    ]
    if issuer is not None:
        extensions.append(
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": _key_id(issuer_point)},
            }
        )
    if ca and issuer is None:
        extensions[0]["extn_value"] = {"ca": True, "path_len_constraint": 1}
    if crl_url is not None:
        extensions.append(
            {
                "extn_id": "crl_distribution_points",
                "critical": False,
                "extn_value": [
                    {
                        "distribution_point": x509.DistributionPointName(
                            name="full_name",
                            value=[x509.GeneralName(name="uniform_resource_identifier", value=crl_url)],
                        )
                    },
                ],
            }
        )
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": secrets.randbits(159) | 1,
            "signature": {"algorithm": SM2_WITH_SM3},
            "issuer": issuer_name,
            "validity": {"not_before": _time(start), "not_after": _time(start + validity)},
            "subject": subject,
            "subject_public_key_info": spki(public_key),
            "extensions": extensions,
        }
    )
    signature = issuer_key.sign(tbs.dump())
    return x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": {"algorithm": SM2_WITH_SM3}, "signature_value": signature}
    )


def build_sm2_root(*, key: Sm2Signer, at: datetime) -> x509.Certificate:
    """The self-signed SM2 root (development)."""
    subject = _name("山西省电子印章 SM2 根证书（开发）", "One-Seal Development PKI")
    return build_certificate(
        subject=subject, public_key=key.public_key, issuer=None, issuer_key=key, at=at, validity=ROOT_VALIDITY, ca=True
    )


def build_sm2_seal_ca(*, key: Sm2Signer, root: x509.Certificate, root_key: Sm2Signer, at: datetime) -> x509.Certificate:
    """The SM2 seal CA: issues SM2 seal certificates and signs seal data (SES_Seal) as the seal maker."""
    subject = _name("晋城市电子印章制章中心 SM2（开发）", "One-Seal Development PKI")
    return build_certificate(
        subject=subject,
        public_key=key.public_key,
        issuer=root,
        issuer_key=root_key,
        at=at,
        validity=CA_VALIDITY,
        ca=True,
    )


def build_sm2_seal_certificate(
    *,
    seal_name: str,
    authority_name: str,
    credit_code: str,
    seal_id: str,
    public_key: bytes,
    ca: x509.Certificate,
    ca_key: Sm2Signer,
    at: datetime,
    validity: timedelta = SEAL_VALIDITY,
    crl_url: str | None = None,
) -> x509.Certificate:
    """An SM2 seal (signer) certificate: key usage digitalSignature + nonRepudiation (electronic seals); its CRL
    distribution point is ``crl_url`` (the SM2 seal CA's CRL) when given."""
    subject = x509.Name.build(
        {
            "country_name": "CN",
            "organization_name": authority_name,
            "organization_identifier": credit_code,
            "pseudonym": seal_id,
            "common_name": seal_name,
        }
    )
    return build_certificate(
        subject=subject,
        public_key=public_key,
        issuer=ca,
        issuer_key=ca_key,
        at=at,
        validity=validity,
        ca=False,
        crl_url=crl_url,
    )
