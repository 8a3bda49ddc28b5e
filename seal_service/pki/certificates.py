"""Certificate profiles of the service's PKI: province root, seal CA, TSA, OCSP responder, seal certificates.

Every builder takes the issuing time ``at`` (time is a parameter) and the public base URL that goes into the
OCSP (AIA) and CRL distribution point extensions, so verifiers can fetch revocation from the service itself.

Example::

    >>> root = build_root(key=root_key, at=now)                                              # doctest: +SKIP
    >>> cert = build_seal_certificate(subject=SealSubject(...), public_key=k.public_key(),
    ...                               issuer=ca_cert, issuer_key=ca_key, at=now, urls=PkiUrls(base))  # doctest: +SKIP
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from seal_service.keys.store import PrivateKey

#: id-kp-documentSigning (RFC 9336).
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
#: Microsoft document signing, recognised by Acrobat and some PDF tools.
MS_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
#: id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients need not check the responder certificate's status.
OCSP_NO_CHECK = ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")

ROOT_VALIDITY = timedelta(days=20 * 365)
CA_VALIDITY = timedelta(days=10 * 365)
SERVICE_VALIDITY = timedelta(days=5 * 365)
SEAL_VALIDITY = timedelta(days=3 * 365)


@dataclass(frozen=True)
class PkiUrls:
    """Where the service publishes revocation and issuer certificates."""

    base: str

    @property
    def ocsp(self) -> str:
        """OCSP responder (RFC 6960 POST, RFC 5019 GET)."""
        return f"{self.base}/ocsp"

    def crl(self, issuer_role: str) -> str:
        """CRL distribution point of one CA."""
        return f"{self.base}/crl/{issuer_role}.crl"

    def issuer_cert(self, issuer_role: str) -> str:
        """caIssuers URL: the DER certificate of one CA."""
        return f"{self.base}/pki/{issuer_role}.cer"


@dataclass(frozen=True)
class SealSubject:
    """Who a seal certificate names: the seal and its authority."""

    seal_name: str
    """For example 晋城市行政审批服务管理局行政审批专用章."""
    authority_name: str
    credit_code: str
    jurisdiction_code: str
    seal_id: str


def _signing_hash(key: PrivateKey) -> hashes.HashAlgorithm:
    return hashes.SHA256()


def _serial() -> int:
    # 159 random bits: positive, unpredictable, within RFC 5280's 20 octets.
    return secrets.randbits(159) | 1


def _name(common_name: str, organisation: str, *, unit: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _base(
    subject: x509.Name, issuer: x509.Name, public_key: object, at: datetime, validity: timedelta
) -> x509.CertificateBuilder:
    # Back-date by a minute so a certificate issued "now" is already valid for a signature made now.
    start = at - timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
    )


def _issued_by(builder: x509.CertificateBuilder, issuer: x509.Certificate) -> x509.CertificateBuilder:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)


def _revocation_pointers(
    builder: x509.CertificateBuilder, urls: PkiUrls, issuer_role: str, *, ocsp: bool
) -> x509.CertificateBuilder:
    access = [
        x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(urls.issuer_cert(issuer_role)),
        )
    ]
    if ocsp:
        access.insert(
            0,
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
            ),
        )
    return builder.add_extension(x509.AuthorityInformationAccess(access), critical=False).add_extension(
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(urls.crl(issuer_role))],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        critical=False,
    )


def _key_usage(
    *, digital_signature: bool = False, non_repudiation: bool = False, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build_root(*, key: PrivateKey, at: datetime, name: str = "山西省电子印章根证书（开发）") -> x509.Certificate:
    """Self-signed province root CA."""
    subject = _name(name, "One-Seal Development PKI")
    builder = (
        _base(subject, subject, key.public_key(), at, ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
    )
    return builder.sign(key, _signing_hash(key))


def build_ca(
    *,
    key: PrivateKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    urls: PkiUrls,
    name: str = "晋城市电子印章签发中心（开发）",
) -> x509.Certificate:
    """The seal CA that issues seal certificates and the OCSP responder certificate."""
    builder = _base(_name(name, "One-Seal Development PKI"), issuer.subject, key.public_key(), at, CA_VALIDITY)
    builder = _issued_by(builder, issuer)
    builder = _revocation_pointers(builder, urls, "root", ocsp=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
        _key_usage(cert_sign=True), critical=True
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))


def build_tsa_certificate(
    *,
    key: PrivateKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    urls: PkiUrls,
    name: str = "One-Seal 时间戳服务（开发）",
    validity: timedelta = SERVICE_VALIDITY,
) -> x509.Certificate:
    """RFC 3161 TSA certificate: critical EKU timeStamping only (RFC 3161 §2.3), valid for ``validity``."""
    builder = _base(_name(name, "One-Seal Development PKI"), issuer.subject, key.public_key(), at, validity)
    builder = _issued_by(builder, issuer)
    builder = _revocation_pointers(builder, urls, "root", ocsp=False)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, non_repudiation=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))


def build_ocsp_certificate(
    *,
    key: PrivateKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    urls: PkiUrls,
    name: str = "One-Seal OCSP 响应服务（开发）",
) -> x509.Certificate:
    """Delegated OCSP responder certificate of the seal CA (EKU OCSPSigning, ocsp-nocheck)."""
    builder = _base(_name(name, "One-Seal Development PKI"), issuer.subject, key.public_key(), at, SERVICE_VALIDITY)
    builder = _issued_by(builder, issuer)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.UnrecognizedExtension(OCSP_NO_CHECK, b"\x05\x00"), critical=False)
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))


def build_seal_certificate(
    *,
    subject: SealSubject,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    urls: PkiUrls,
    validity: timedelta = SEAL_VALIDITY,
) -> x509.Certificate:
    """A seal certificate naming the seal (CN) and its authority (O, organizationIdentifier = credit code).

    Key usage digitalSignature + nonRepudiation; extended key usage emailProtection (what NSS, and so poppler's
    ``pdfsig``, checks for signers), documentSigning (RFC 9336) and Microsoft document signing; OCSP and CRL
    pointers at the service's own endpoints.
    """
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, subject.jurisdiction_code),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.authority_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, subject.credit_code),
            x509.NameAttribute(NameOID.PSEUDONYM, subject.seal_id),
            x509.NameAttribute(NameOID.COMMON_NAME, subject.seal_name),
        ]
    )
    builder = _base(name, issuer.subject, public_key, at, validity)
    builder = _issued_by(builder, issuer)
    builder = _revocation_pointers(builder, urls, "seal-ca", ocsp=True)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, non_repudiation=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING, MS_DOCUMENT_SIGNING]),
            critical=False,
        )
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))


def build_audit_certificate(
    *,
    key: PrivateKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    urls: PkiUrls,
    name: str = "One-Seal 审计日志签名（开发）",
) -> x509.Certificate:
    """The audit log signer: signs checkpoints of the hash-chained audit log (digitalSignature, nonRepudiation).

    A dedicated key, so that a checkpoint signature can only ever mean "the service saw this log head", never a
    seal, a timestamp or a certificate.
    """
    builder = _base(_name(name, "One-Seal Development PKI"), issuer.subject, key.public_key(), at, SERVICE_VALIDITY)
    builder = _issued_by(builder, issuer)
    builder = _revocation_pointers(builder, urls, "root", ocsp=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(
        _key_usage(digital_signature=True, non_repudiation=True), critical=True
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))


#: id-kp-oneSealTrustBundleSigning: a UUID-derived OID (ITU-T X.667, arc 2.25) for the trust bundle signer's
#: extended key usage. ``verifier/bundle.py`` carries the same value (it never imports this package).
TRUST_BUNDLE_SIGNING = ObjectIdentifier("2.25.204790046195683481055966156548470354339")


def build_bundle_certificate(
    *,
    key: PrivateKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    urls: PkiUrls,
    name: str = "One-Seal 信任包签名（开发）",
) -> x509.Certificate:
    """The trust bundle signer (issued by the root): critical EKU id-kp-oneSealTrustBundleSigning only.

    A dedicated key and a critical, single-purpose EKU, so a bundle signature can only ever mean "the service
    published this trust bundle" and an offline verifier needs nothing but the root to check it.
    """
    builder = _base(_name(name, "One-Seal Development PKI"), issuer.subject, key.public_key(), at, SERVICE_VALIDITY)
    builder = _issued_by(builder, issuer)
    builder = _revocation_pointers(builder, urls, "root", ocsp=False)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([TRUST_BUNDLE_SIGNING]), critical=True)
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))
