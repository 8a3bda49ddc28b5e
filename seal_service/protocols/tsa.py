"""RFC 3161 time-stamp authority (with RFC 5816 ``signingCertificateV2``), EC or RSA keys.

Example::

    tsa = TimestampAuthority(certificate=tsa_cert, private_key=tsa_key, chain=[issuing_ca])
    response_der = tsa.respond(request_der, at=datetime.now(UTC))  # body of application/timestamp-reply

    # pyHanko, without any HTTP round trip:
    timestamper = InProcessTimeStamper(tsa, clock=lambda: datetime.now(UTC))
    PdfTimeStamper(timestamper).timestamp_pdf(IncrementalPdfFileWriter(pdf), "sha256", output=out)

The authority never reads the clock itself: ``at`` is always a parameter, so tests and replays are
deterministic. ``genTime`` is truncated to whole seconds (the advertised accuracy is >= 1 s anyway).
Tokens are spliced together from DER fragments encoded once at start-up (see
:mod:`seal_service.protocols._der` for why), which keeps an EC token at ~0.3 ms.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError

from seal_service.protocols import _der

__all__ = [
    "DEFAULT_TSA_POLICY_OID",
    "SUPPORTED_IMPRINT_ALGORITHMS",
    "InProcessTimeStamper",
    "TimestampAuthority",
]

logger = logging.getLogger(__name__)

DEFAULT_TSA_POLICY_OID = "1.3.6.1.4.1.61142.1.1.1"
"""TSA policy OID put in every TSTInfo unless another one is configured."""

SUPPORTED_IMPRINT_ALGORITHMS: dict[str, int] = {
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
}
"""Message-imprint hash algorithms (asn1crypto names) accepted, with their digest length.

SHA-1 and MD5 are deliberately absent: a time-stamp over a collidable hash proves nothing.
"""

# A TimeStampReq is ~100 bytes; refusing large bodies before parsing keeps a hostile client from
# making us build big ASN.1 trees.
_MAX_REQUEST_BYTES = 8192


_OID_SIGNED_DATA: bytes = cms.ContentType("signed_data").dump()
_OID_TST_INFO: bytes = cms.ContentType("tst_info").dump()
_OID_MESSAGE_DIGEST: bytes = cms.CMSAttributeType("message_digest").dump()
_CONTENT_TYPE_TST_INFO: bytes = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
_GRANTED: bytes = tsp.PKIStatusInfo({"status": "granted"}).dump()


class _TimeStampResp(core.Sequence):
    """TimeStampResp with an OPTIONAL token, as in RFC 3161.

    asn1crypto 1.5's ``tsp.TimeStampResp`` makes the token mandatory, so it can neither build nor
    parse a rejection.
    """

    _fields = [  # noqa: RUF012 — asn1crypto's class-level schema
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _Rejection(Exception):
    """Internal: the request must be answered with a PKIStatus of ``rejection``."""

    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class TimestampAuthority:
    """RFC 3161 responder over one TSA certificate + key.

    The key object stays in memory for the life of the authority; everything that does not depend on
    the request (ESS attribute, signer identifier, certificate set) is prepared once here so that a
    token costs one hash, one signature and a little DER encoding.
    """

    def __init__(
        self,
        *,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        chain: Sequence[x509.Certificate] = (),
        policy_oid: str = DEFAULT_TSA_POLICY_OID,
        accuracy_seconds: int = 1,
    ) -> None:
        """Check the configuration and precompute the request-independent parts of a token.

        :raises ValueError: key does not match the certificate, the certificate lacks the critical
            ``timeStamping`` extended key usage RFC 3161 §2.3 requires, or accuracy is not positive.
        :raises TypeError: the key is neither EC nor RSA.
        """
        _check_key_matches(certificate, private_key)
        _check_tsa_eku(certificate)
        if accuracy_seconds < 1:
            raise ValueError("accuracy_seconds must be >= 1 (genTime has one-second resolution)")
        self._key = private_key
        self._policy = policy_oid
        self._signer_hash, digest_name, signature_name = _signature_profile(private_key)
        tsa_cert = _to_asn1(certificate)
        # Everything below is DER, encoded once by asn1crypto; _build_token only splices it (see _der).
        self._tst_info_head = _der.integer(1) + core.ObjectIdentifier(policy_oid).dump()
        self._tst_info_accuracy = tsp.Accuracy({"seconds": accuracy_seconds}).dump()
        tsa_name = asn1_x509.GeneralName(name="directory_name", value=tsa_cert.subject)
        self._tst_info_tsa = _der.context(0, tsa_name.dump())
        self._digest_algorithm = algos.DigestAlgorithm({"algorithm": digest_name}).dump()
        self._signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": signature_name}).dump()
        self._sid = cms.IssuerAndSerialNumber(
            {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
        ).dump()
        self._ess_attribute = _signing_certificate_v2(tsa_cert).dump()
        certificate_ders = [tsa_cert.dump(), *(_to_asn1(c).dump() for c in chain)]
        self._certificate_der: bytes = certificate_ders[0]
        # [0] IMPLICIT CertificateSet: a SET OF, so DER-sorted.
        self._certificates = _der.context(0, *sorted(certificate_ders))

    @property
    def certificate_der(self) -> bytes:
        """DER of the TSA certificate that signs every token."""
        return self._certificate_der

    @property
    def policy_oid(self) -> str:
        """The TSA policy OID stamped into every TSTInfo."""
        return self._policy

    def respond(self, request_der: bytes, *, at: datetime) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp.

        Malformed requests, unsupported hash algorithms, wrong imprint length, unsupported policy,
        extensions etc. are answered with a ``rejection`` PKIStatusInfo (failInfo ``badDataFormat``,
        ``badAlg``, ``badRequest``, ``unacceptedPolicy`` or ``unacceptedExtension``) and never raise.
        An unexpected failure while signing is logged and answered with ``systemFailure``.

        :param at: the time to certify (timezone-aware); becomes ``genTime``.
        :raises ValueError: only if ``at`` is naive — a caller bug, not a client error.
        """
        gen_time = _utc_seconds(at)
        try:
            request = _parse_request(request_der)
            _check_request(request, self._policy)
        except _Rejection as rejection:
            return _rejection_response(rejection.fail_info, rejection.text)
        try:
            token = self._build_token(
                # Re-encoded (force) so a BER-encoded request still gets a DER token.
                imprint=request["message_imprint"].dump(force=True),
                nonce=request["nonce"].native,
                gen_time=gen_time,
                include_certs=bool(request["cert_req"].native),
            )
        except Exception:
            # A TSA must answer something; a stack trace is for our logs, not for the client.
            logger.exception("time-stamp token signing failed")
            return _rejection_response("system_failure", "internal error while signing the token")
        return _der.tlv(_der.SEQUENCE, _GRANTED, token)

    def token(
        self,
        *,
        message_imprint: bytes,
        hash_algorithm: str,
        nonce: int | None,
        at: datetime,
        include_certs: bool = True,
    ) -> cms.ContentInfo:
        """The TimeStampToken (CMS SignedData over TSTInfo) for an imprint, without a request.

        Used in-process by the signer; :meth:`respond` goes through the same builder.

        :param message_imprint: the digest being time-stamped.
        :param hash_algorithm: asn1crypto name of the digest algorithm (``"sha256"``, ``"sha3_256"``…),
            one of :data:`SUPPORTED_IMPRINT_ALGORITHMS`.
        :param nonce: echoed in the TSTInfo when not ``None``.
        :param at: timezone-aware time to certify.
        :param include_certs: put the TSA certificate and chain in ``SignedData.certificates``.
        :raises ValueError: unsupported algorithm, wrong digest length or naive ``at``.
        """
        return cms.ContentInfo.load(
            self.token_der(
                message_imprint=message_imprint,
                hash_algorithm=hash_algorithm,
                nonce=nonce,
                at=at,
                include_certs=include_certs,
            )
        )

    def token_der(
        self,
        *,
        message_imprint: bytes,
        hash_algorithm: str,
        nonce: int | None,
        at: datetime,
        include_certs: bool = True,
    ) -> bytes:
        """:meth:`token` as DER bytes (no asn1crypto object built: archive renewal embeds the bytes as they are).

        :raises ValueError: as :meth:`token`.
        """
        expected_length = SUPPORTED_IMPRINT_ALGORITHMS.get(hash_algorithm)
        if expected_length is None:
            raise ValueError(f"unsupported imprint hash algorithm {hash_algorithm!r}")
        if len(message_imprint) != expected_length:
            raise ValueError(f"{hash_algorithm} imprint must be {expected_length} bytes")
        imprint = tsp.MessageImprint(
            {"hash_algorithm": {"algorithm": hash_algorithm}, "hashed_message": message_imprint}
        ).dump()
        return self._build_token(imprint=imprint, nonce=nonce, gen_time=_utc_seconds(at), include_certs=include_certs)

    def _build_token(self, *, imprint: bytes, nonce: int | None, gen_time: datetime, include_certs: bool) -> bytes:
        """DER ContentInfo(SignedData(TSTInfo)) — RFC 3161 §2.4.2, RFC 5652 §5."""
        tst_info = self._tst_info(imprint, nonce, gen_time)
        attributes = self._signed_attributes(tst_info)
        # The signature covers the attributes as a SET OF; the SignerInfo carries them as [0] IMPLICIT.
        signature = self._sign(_der.set_of(*attributes))
        signer_info = _der.tlv(
            _der.SEQUENCE,
            _der.integer(1),
            self._sid,
            self._digest_algorithm,
            _der.context(0, *sorted(attributes)),
            self._signature_algorithm,
            _der.octet_string(signature),
        )
        signed_data = _der.tlv(
            _der.SEQUENCE,
            # v3 because the encapsulated content type is not id-data (RFC 5652 §5.1).
            _der.integer(3),
            _der.tlv(_der.SET, self._digest_algorithm),
            _der.tlv(_der.SEQUENCE, _OID_TST_INFO, _der.context(0, _der.octet_string(tst_info))),
            self._certificates if include_certs else b"",
            _der.tlv(_der.SET, signer_info),
        )
        return _der.tlv(_der.SEQUENCE, _OID_SIGNED_DATA, _der.context(0, signed_data))

    def _tst_info(self, imprint: bytes, nonce: int | None, gen_time: datetime) -> bytes:
        return _der.tlv(
            _der.SEQUENCE,
            self._tst_info_head,  # version 1, policy
            imprint,
            # 127 random bits (odd, so never 0): unique without state shared between workers/restarts.
            _der.integer(secrets.randbits(128) | 1),
            _der.generalized_time(gen_time),
            self._tst_info_accuracy,
            # ordering is DEFAULT FALSE, hence absent
            _der.integer(nonce) if nonce is not None else b"",
            self._tst_info_tsa,
        )

    def _signed_attributes(self, tst_info: bytes) -> list[bytes]:
        digest = hashlib.new(self._signer_hash.name, tst_info).digest()
        message_digest = _der.tlv(_der.SEQUENCE, _OID_MESSAGE_DIGEST, _der.tlv(_der.SET, _der.octet_string(digest)))
        return [_CONTENT_TYPE_TST_INFO, message_digest, self._ess_attribute]

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(self._signer_hash))
        return self._key.sign(data, padding.PKCS1v15(), self._signer_hash)


class InProcessTimeStamper(TimeStamper):
    """A pyHanko :class:`~pyhanko.sign.timestamps.TimeStamper` asking a :class:`TimestampAuthority` directly.

    Use it wherever pyHanko takes a timestamper: ``PdfSigner(..., timestamper=...)`` for signature
    time-stamps, ``PdfTimeStamper(timestamper)`` for document time-stamps. The request still goes
    through DER, exactly as over HTTP, so pyHanko's own nonce check applies; the imprint is checked
    here as well because pyHanko does not compare it.
    """

    def __init__(
        self, authority: TimestampAuthority, *, clock: Callable[[], datetime], include_nonce: bool = True
    ) -> None:
        """:param clock: returns the (timezone-aware) time the authority certifies for each request."""
        super().__init__(include_nonce=include_nonce)
        self._authority = authority
        self._clock = clock

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Hand the request to the authority; no I/O, so no need to leave the event loop.

        :raises TimestampRequestError: the authority rejected the request. (Raised here because
            asn1crypto's ``TimeStampResp``, which pyHanko uses, cannot even parse a rejection.)
        """
        response_der = self._authority.respond(req.dump(), at=self._clock())
        status = _TimeStampResp.load(response_der)["status"]
        if status["status"].native not in ("granted", "granted_with_mods"):
            texts = "; ".join(status["status_string"].native or ())
            fail_info = "; ".join(sorted(status["fail_info"].native or ()))
            raise TimestampRequestError(f'time-stamp request rejected: "{texts}", failInfo "{fail_info}"')
        return tsp.TimeStampResp.load(response_der)

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """Obtain a token and make sure it certifies ``message_digest`` (pyHanko only checks the nonce)."""
        token = await super().async_timestamp(message_digest, md_algorithm)
        imprint = token["content"]["encap_content_info"]["content"].parsed["message_imprint"]
        if (
            imprint["hash_algorithm"]["algorithm"].native != md_algorithm
            or imprint["hashed_message"].native != message_digest
        ):
            raise TimestampRequestError("time-stamp token does not certify the requested digest")
        return token


def _parse_request(request_der: bytes) -> tsp.TimeStampReq:
    if len(request_der) > _MAX_REQUEST_BYTES:
        raise _Rejection("bad_data_format", "request too large")
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        _ = request.native  # asn1crypto parses lazily: force every field now, while we can reject.
    except Exception as exc:  # the parser raises ValueError, TypeError, … on hostile input
        raise _Rejection("bad_data_format", "request is not a DER TimeStampReq") from exc
    return request


def _check_request(request: tsp.TimeStampReq, policy_oid: str) -> None:
    if request["version"].native != "v1":
        raise _Rejection("bad_request", "unsupported TimeStampReq version")
    imprint = request["message_imprint"]
    algorithm = imprint["hash_algorithm"]
    expected_length = SUPPORTED_IMPRINT_ALGORITHMS.get(algorithm["algorithm"].native)
    if expected_length is None or algorithm["parameters"].native is not None:
        raise _Rejection("bad_alg", "unsupported message imprint hash algorithm")
    if len(imprint["hashed_message"].native) != expected_length:
        raise _Rejection("bad_data_format", "message imprint length does not match its algorithm")
    requested_policy = request["req_policy"].native
    if requested_policy is not None and request["req_policy"].dotted != policy_oid:
        raise _Rejection("unaccepted_policy", "requested TSA policy is not supported")
    if request["extensions"].native:
        # We understand no TimeStampReq extension, so we may not silently ignore any (RFC 3161 §2.4.1).
        raise _Rejection("unaccepted_extensions", "request extensions are not supported")


def _rejection_response(fail_info: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail_info})}
    )
    der: bytes = _TimeStampResp({"status": status}).dump()
    return der


def _signing_certificate_v2(tsa_cert: asn1_x509.Certificate) -> cms.CMSAttribute:
    # RFC 5816: ESSCertIDv2 with SHA-256 (the DEFAULT, hence omitted in DER) plus issuerSerial, so a
    # verifier can bind the signer to exactly this certificate.
    ess_cert_id = tsp.ESSCertIDv2(
        {
            "hash_algorithm": {"algorithm": "sha256"},
            "cert_hash": hashlib.sha256(tsa_cert.dump()).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
                "serial_number": tsa_cert.serial_number,
            },
        }
    )
    value = tsp.SigningCertificateV2({"certs": [ess_cert_id]})
    return cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]})


def _signature_profile(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> tuple[hashes.HashAlgorithm, str, str]:
    """(pyca hash, asn1crypto digest name, asn1crypto signature algorithm name) for the key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # Match the hash strength to the curve (P-384 -> SHA-384), as ETSI TS 119 312 suggests.
        if key.curve.key_size > 384:
            return hashes.SHA512(), "sha512", "sha512_ecdsa"
        if key.curve.key_size > 256:
            return hashes.SHA384(), "sha384", "sha384_ecdsa"
        return hashes.SHA256(), "sha256", "sha256_ecdsa"
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256(), "sha256", "rsassa_pkcs1v15"
    raise TypeError(f"unsupported TSA key type {type(key).__name__}")


def _check_key_matches(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"unsupported TSA key type {type(key).__name__}")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != certificate.public_key().public_bytes(der, spki):
        raise ValueError("TSA private key does not match the TSA certificate")


def _check_tsa_eku(certificate: x509.Certificate) -> None:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise ValueError("TSA certificate needs a critical extendedKeyUsage of exactly id-kp-timeStamping")


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _utc_seconds(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return at.astimezone(UTC).replace(microsecond=0)
