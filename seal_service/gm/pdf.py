"""The national seal in a PDF: an SES_Signature in a signature field and revision of its own.

Layout (docs/gm-crypto.md): ``/Type /Sig /Filter /Adobe.PPKLite /SubFilter /GB.T38540.SES.v4``; ``/ByteRange``
covers the whole file as of that revision except the ``/Contents`` hex string (ISO 32000-1 §12.8.1, the same
rule as PAdES); ``/Contents`` holds DER(SES_Signature) whose ``dataHash`` is SM3 over the ByteRange bytes. The
PAdES seal is applied afterwards, in a later revision, so it covers the national seal. pyHanko, poppler and
the service's verifier skip signatures with a SubFilter they do not know, so the PAdES seal's checks are
unaffected.
"""

from __future__ import annotations

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
