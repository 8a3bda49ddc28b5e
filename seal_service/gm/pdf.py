"""The national seal in a PDF: an SES_Signature in a signature field and revision of its own.

Layout (docs/gm-crypto.md): ``/Type /Sig /Filter /Adobe.PPKLite /SubFilter /GB.T38540.SES.v4``; ``/ByteRange``
covers the whole file as of that revision except the ``/Contents`` hex string (ISO 32000-1 §12.8.1, the same
rule as PAdES); ``/Contents`` holds DER(SES_Signature) whose ``dataHash`` is SM3 over the ByteRange bytes. The
PAdES seal is applied afterwards, in a later revision, so it covers the national seal. pyHanko, poppler and
the service's verifier skip signatures with a SubFilter they do not know, so the PAdES seal's checks are
unaffected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from pyhanko.pdf_utils.generic import NameObject
from pyhanko.sign import fields
from pyhanko.sign.signers.cms_embedder import PdfCMSEmbedder, SigIOSetup, SigObjSetup
from pyhanko.sign.signers.pdf_byterange import SignatureObject

from seal_service.signing.sealer import open_for_sealing
from verifier.gm_structures import sm3

GM_FIELD = "NationalSeal"
GM_SUBFILTER = "/GB.T38540.SES.v4"
#: Bytes reserved for DER(SES_Signature): seal picture (~10-20 kB PNG), three certificates, signatures.
GM_RESERVED = 65536


class ReservationTooSmall(ValueError):
    """The SES_Signature did not fit the bytes reserved for it (``needed`` says how many it takes)."""

    def __init__(self, needed: int, reserved: int) -> None:
        super().__init__(f"SES_Signature of {needed} bytes does not fit the {reserved} reserved")
        self.needed = needed


def embed_ses_signature(
    pdf: bytes, *, sign: Callable[[bytes], bytes], at: datetime, reserved: int = GM_RESERVED
) -> bytes:
    """Append a revision with an invisible signature field whose ``/Contents`` is ``sign(sm3(signed bytes))``.

    ``sign`` gets the SM3 data hash and returns DER(SES_Signature).
    """
    # Read as the PAdES sealer reads it: a PDF that qpdf tolerates but pyHanko refuses is bad input (a 422), not a
    # server error (seal_service.signing.sealer.open_for_sealing).
    writer, _box = open_for_sealing(pdf)
    embedder = PdfCMSEmbedder(new_field_spec=fields.SigFieldSpec(sig_field_name=GM_FIELD))
    coroutine = embedder.write_cms(field_name=GM_FIELD, writer=writer)
    next(coroutine)
    placeholder = SignatureObject(timestamp=at, bytes_reserved=2 * reserved, reason="国密电子签章 GB/T 38540")
    placeholder[NameObject("/SubFilter")] = NameObject(GM_SUBFILTER)
    coroutine.send(SigObjSetup(sig_placeholder=placeholder))
    prepared, output = coroutine.send(SigIOSetup(md_algorithm="sha256", in_place=False))
    view = output.getbuffer()
    signed = bytes(view[: prepared.reserved_region_start]) + bytes(view[prepared.reserved_region_end :])
    del view
    der = sign(sm3(signed))
    if len(der) > reserved:
        raise ReservationTooSmall(len(der), reserved)
    coroutine.send(der)
    return bytes(output.getvalue())


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def national_time_stamp_certificates(pdf: bytes) -> tuple[bytes, ...]:
    """The DER of the certificates carried by the national seals' time-stamp tokens in ``pdf`` (empty without a
    national seal, or when one cannot be read: the verifier reports that, sealing and renewal go on).

    These are the validation data of the national seal's time-stamp that B-LT/B-LTA sealing and archive renewal put
    into the DSS beside the PAdES seal's (docs/gm-crypto.md, "Long-term validation"). Read from the raw bytes (a
    search for the SubFilter, the ByteRange of that signature dictionary, its /Contents), so a PAdES-only licence
    costs one ``bytes.find``.
    """
    from asn1crypto import cms

    from verifier.gm_structures import SesSignature

    found: list[bytes] = []
    marker = GM_SUBFILTER.encode()
    at = pdf.find(marker)
    while at >= 0:
        try:
            # pyHanko writes /Contents, then /ByteRange, then /Type, /Filter, /SubFilter: the ByteRange just before.
            match = _BYTE_RANGE.search(pdf, max(0, pdf.rfind(b"/ByteRange", max(0, at - 1024), at)), at)
            if match is not None:
                first, second = int(match.group(2)), int(match.group(3))
                der = bytes.fromhex(pdf[first + 1 : second - 1].decode("ascii"))
                token = SesSignature.load(der, strict=False)["time_stamp"].native
                if token is not None:
                    signed = cms.ContentInfo.load(bytes(token))["content"]
                    found += [c.chosen.dump() for c in signed["certificates"] or () if c.name == "certificate"]
        except Exception:  # noqa: S110 - unreadable: nothing to add; the verifier reports the national seal
            pass
        at = pdf.find(marker, at + len(marker))
    return tuple(dict.fromkeys(found))
