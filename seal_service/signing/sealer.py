"""The signing core: a seal applied to a PDF as a PAdES B-B, B-T, B-LT or B-LTA signature.

Example::

    >>> sealed = instance.sealer.seal_pdf(pdf_bytes, material=material, level=PadesLevel.B_LTA,
    ...                                   text=StampText(...), at=now)            # doctest: +SKIP

What makes it fast (see docs/performance.md): the private key, the pyHanko signer object, the certificate
chain and the seal appearance (image, font subset) are built once per seal certificate and reused; the CMS
container size is reserved up front instead of estimated with a throw-away signature; timestamps come from the
in-process RFC 3161 authority (the same one the HTTP endpoint serves); revocation information is the registry's
own pre-produced OCSP response and CRLs, written into the DSS directly instead of being collected by path
validation, since the service issued every certificate involved and knows their status.

The seal's status is *not* checked here: callers go through :func:`seal_service.services.sealing.seal_licence`,
which refuses inactive seals before every signature (pyHanko itself would happily sign B-B with a revoked
certificate).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from io import BytesIO
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSigningSession, PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seal_service.appearance.stamp import SealAppearance, StampText, stamp_box
from seal_service.errors import InvalidDocument
from seal_service.keys.store import PrivateKey
from seal_service.protocols.tsa import InProcessTimeStamper

if TYPE_CHECKING:
    from seal_service.instance import Instance

SIGNATURE_FIELD = "ApprovalSeal"
TIMESTAMP_FIELD = "ArchiveTimestamp"


class PadesLevel(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1)."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def timestamped(self) -> bool:
        """Whether the signature carries a signature timestamp."""
        return self is not PadesLevel.B_B

    @property
    def long_term(self) -> bool:
        """Whether validation material goes into the DSS."""
        return self in (PadesLevel.B_LT, PadesLevel.B_LTA)


class KeyHoldingSigner(signers.Signer):
    """A pyHanko signer that keeps its already-loaded private key.

    pyHanko's ``SimpleSigner`` re-parses (and cryptography re-validates) the key on every signature, which
    costs ~190 ms for RSA-3072; this signer pays that once per process.
    """

    def __init__(
        self, *, key: PrivateKey, certificate: asn1_x509.Certificate, chain: list[asn1_x509.Certificate]
    ) -> None:
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            embed_roots=True,
        )
        self._key = key
        # DER kept so each signature can get certificate objects of its own (see for_one_signature).
        self._certificate_der = certificate.dump()
        self._chain_ders = [c.dump() for c in chain]

    def for_one_signature(self) -> KeyHoldingSigner:
        """A signer for one signature: the same loaded key, but asn1crypto certificate objects of its own.

        asn1crypto values cache their parse and encoding lazily and are not thread-safe; pyHanko puts the signer's
        certificates into each new CMS structure, so concurrent sealings sharing them produced malformed CMS
        (an encoding error, or a SignerInfos with a wrong entry count) under load. Parsing three certificates
        costs microseconds.
        """
        return KeyHoldingSigner(
            key=self._key,
            certificate=asn1_x509.Certificate.load(self._certificate_der),
            chain=[asn1_x509.Certificate.load(der) for der in self._chain_ders],
        )

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """Sign ``data`` with the held key (ECDSA or RSA PKCS#1 v1.5)."""
        algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[
            digest_algorithm.lower()
        ]
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algorithm))
        assert isinstance(self._key, rsa.RSAPrivateKey)
        return self._key.sign(data, padding.PKCS1v15(), algorithm)


class _PinnedTimePdfSigner(signers.PdfSigner):
    """PdfSigner whose signing time is the caller's ``at`` rather than the wall clock."""

    def __init__(self, *args: object, at: datetime, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._at = at

    def init_signing_session(self, pdf_out, existing_fields_only=False) -> PdfSigningSession:  # type: ignore[no-untyped-def]
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._at
        return session


@dataclass(frozen=True)
class SealMaterial:
    """Everything needed to seal with one seal certificate, built once and reused."""

    seal_id: str
    certificate_id: int
    certificate: x509.Certificate
    signer: KeyHoldingSigner
    appearance: SealAppearance
    is_rsa: bool
    dss_certificates_der: tuple[bytes, ...]
    """The seal certificate and the service certificates that go into the DSS, encoded once per seal."""


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class Sealer:
    """Applies seals to PDFs. One per process; thread-safe; material cached per seal certificate."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._materials: dict[int, SealMaterial] = {}
        self._lock = threading.Lock()

    def material(
        self, *, seal_id: str, certificate_id: int, certificate_der: bytes, key_ref: str, seal_png: bytes, names: str
    ) -> SealMaterial:
        """The cached material of one seal certificate (built on first use)."""
        found = self._materials.get(certificate_id)
        if found is not None:
            return found
        with self._lock:
            found = self._materials.get(certificate_id)
            if found is not None:
                return found
            from seal_service.instance import PkiRole

            pki = self._instance.pki
            cert = x509.load_der_x509_certificate(certificate_der)
            key = self._instance.keys.resolve(key_ref)
            chain = [_to_asn1(pki.certificate(PkiRole.SEAL_CA)), _to_asn1(pki.certificate(PkiRole.ROOT))]
            material = SealMaterial(
                seal_id=seal_id,
                certificate_id=certificate_id,
                certificate=cert,
                signer=KeyHoldingSigner(key=key, certificate=_to_asn1(cert), chain=chain),
                appearance=SealAppearance.build(
                    seal_png=seal_png,
                    font_cache_dir=self._instance.settings.assets_dir / "fonts",
                    extra_chars=names,
                ),
                is_rsa=isinstance(key, rsa.RSAPrivateKey),
                dss_certificates_der=(
                    certificate_der,
                    *(
                        pki.certificate(role).public_bytes(serialization.Encoding.DER)
                        for role in (PkiRole.SEAL_CA, PkiRole.ROOT, PkiRole.TSA, PkiRole.OCSP)
                    ),
                ),
            )
            self._materials[certificate_id] = material
            return material

    def forget(self, certificate_id: int | None = None) -> None:
        """Drop cached material (after rotation or revocation)."""
        with self._lock:
            if certificate_id is None:
                self._materials.clear()
            else:
                self._materials.pop(certificate_id, None)

    def _timestamper(self, at: datetime) -> InProcessTimeStamper:
        return InProcessTimeStamper(self._instance.timestamps, clock=lambda: at)

    def _validation_material(self, material: SealMaterial, at: datetime) -> tuple[list, list, list]:  # type: ignore[type-arg]
        """Certificates, OCSP responses and CRLs that let anyone validate the signature offline, for good."""
        revocation = self._instance.revocation
        # Fresh asn1crypto objects per signature (they are not thread-safe), parsed from DER encoded once per seal.
        certs = [asn1_x509.Certificate.load(der) for der in material.dss_certificates_der]
        ocsps = [asn1_ocsp.OCSPResponse.load(revocation.ocsp.response_for(material.certificate, at=at))]
        crls = [asn1_crl.CertificateList.load(revocation.crl(role, at=at)) for role in ("root", "seal-ca")]
        return certs, ocsps, crls

    def seal_pdf(
        self,
        pdf: bytes,
        *,
        material: SealMaterial,
        level: PadesLevel,
        text: StampText,
        at: datetime,
        page: int = -1,
        national_tsa_certificates: Sequence[bytes] = (),
    ) -> bytes:
        """Seal ``pdf`` on ``page`` (default: the last) at time ``at`` and return the sealed bytes.

        ``national_tsa_certificates``: the TSA certificates (DER) of the national seal's time-stamp in ``pdf``;
        at B-LT/B-LTA they go into the DSS too when they are not there already, beside the root's CRL that speaks
        for them (docs/gm-crypto.md, "Long-term validation"). Usually it is the same certificate as the PAdES
        signature time-stamp's: both come from the instance's TSA in the same sealing."""
        writer, (x0, y0, width, height) = open_for_sealing(pdf, page)
        bx0, by0, bx1, by1 = stamp_box(width, height, material.appearance)
        box = (int(x0 + bx0), int(y0 + by0), int(x0 + bx1), int(y0 + by1))
        timestamper = self._timestamper(at) if level.timestamped else None
        meta = signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason="行政审批专用章 电子印章",
        )
        signer = _PinnedTimePdfSigner(
            meta,
            material.signer.for_one_signature(),
            timestamper=timestamper,
            stamp_style=material.appearance.stamp_style(text),
            new_field_spec=fields.SigFieldSpec(sig_field_name=SIGNATURE_FIELD, on_page=page, box=box),
            at=at,
        )
        # A fixed reservation skips pyHanko's throw-away signature used to estimate the size (pitfall 2).
        reserved = _reservation(level, rsa=material.is_rsa)
        out: BytesIO = signer.sign_pdf(writer, bytes_reserved=reserved)
        if not level.long_term:
            return out.getvalue()
        certs, ocsps, crls = self._validation_material(material, at)
        known = material.dss_certificates_der
        certs += [asn1_x509.Certificate.load(der) for der in national_tsa_certificates if der not in known]
        lt_writer = IncrementalPdfFileWriter(out, strict=False)
        DocumentSecurityStore.supply_dss_in_writer(lt_writer, None, certs=certs, ocsps=ocsps, crls=crls)
        if level is PadesLevel.B_LT:
            final = BytesIO()
            lt_writer.write(final)
            return final.getvalue()
        # B-LTA: the document timestamp goes in the same revision as the DSS, so it covers it.
        stamper = PdfTimeStamper(self._timestamper(at), field_name=TIMESTAMP_FIELD)
        final = stamper.timestamp_pdf(
            lt_writer, md_algorithm="sha256", bytes_reserved=12288 if material.is_rsa else 8192
        )
        return final.getvalue()


def open_for_sealing(pdf: bytes, page: int = -1) -> tuple[IncrementalPdfFileWriter, tuple[float, float, float, float]]:
    """pyHanko's incremental writer over ``pdf`` and the visible box of ``page``, or :class:`InvalidDocument`.

    The checks of ``signing.documents`` read the file with qpdf, which tolerates things pyHanko refuses (a stray
    token in the trailer, found by fuzzing: tests/fuzz/regressions/sign_input/); such a file is refused here as bad
    input, not left to fail as a server error. (Its serial is then a gap in the numbering, as for any failure after
    the serial is taken.)
    """
    from pyhanko.pdf_utils.misc import PdfError

    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        return writer, _page_box(writer, page)
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InvalidDocument(f"the PDF cannot be read for sealing: {detail}", field="pdf") from None


def _page_box(writer: IncrementalPdfFileWriter, page: int) -> tuple[float, float, float, float]:
    """Origin and size of the visible area of ``page`` (CropBox, else MediaBox, inherited)."""
    reader = writer.prev
    count = int(reader.root["/Pages"]["/Count"])
    index = page if page >= 0 else count + page
    page_ref = reader.find_page_for_modification(index)[0]
    page_dict = page_ref.get_object()
    box = None
    node = page_dict
    while node is not None and box is None:
        box = node.get("/CropBox") or node.get("/MediaBox")
        node = node.get("/Parent")
        node = node.get_object() if node is not None else None
    if box is None:
        return 0.0, 0.0, 595.0, 842.0
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)


def _reservation(level: PadesLevel, *, rsa: bool) -> int:
    """Hex digits reserved for the CMS container (measured sizes plus margin; see docs/performance.md)."""
    if level is PadesLevel.B_B:
        return 16384 if rsa else 10240
    return 32768 if rsa else 20480
