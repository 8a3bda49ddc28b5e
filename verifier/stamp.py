"""Reading the licence a seal vouches for from the seal's own stamp: the QR code's URL and the stamp text.

Example::

    facts = read_stamp(signature)            # an EmbeddedPdfSignature of pyHanko
    facts.licence_id, facts.number           # "L3F2A9C41B7D0E5A6C1B2", "140500-20260000001"

The service's stamp (``seal_service.appearance.stamp``) is the signature widget's appearance stream: the seal
image, the QR code of the verification URL drawn as filled rectangles (one per horizontal run of dark modules, in
module units under a ``cm`` that flips the y axis), and three text lines in a Type0 font with a ``ToUnicode``
CMap: ``证照编号：<number>``, ``盖章时间：<time>``, ``扫码核验真伪``. The appearance belongs to the signed revision,
so once the seal is verified and coverage shows nothing changed after it, what is read here is what the seal
vouches for.

Why not render the page and scan it: reading the rectangles back gives the exact module matrix in well under a
millisecond, with no renderer or image library, and :mod:`verifier._qr` refuses any matrix that is not an
error-free QR code. A stamp of another shape (another issuer's) simply yields ``None``.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from verifier._qr import QRDecodeError, decode_matrix

__all__ = ["StampFacts", "read_stamp", "read_stamp_stream"]

LABEL_NUMBER = "证照编号："
LABEL_SEALED_AT = "盖章时间："
_LICENCE_PATH = re.compile(r"^(?P<base>.*)/v/(?P<id>[A-Za-z0-9_-]{1,64})$")
# "a 0 0 -a e f cm" followed by "x y w 1 re" lines and one fill: the QR modules in module units.
_QR_BLOCK = re.compile(
    rb"([0-9.]+)\s+0\s+0\s+(-[0-9.]+)\s+(-?[0-9.]+)\s+(-?[0-9.]+)\s+cm\s+((?:\d+\s+\d+\s+\d+\s+1\s+re\s+)+)f\b"
)
_RUN = re.compile(rb"(\d+)\s+(\d+)\s+(\d+)\s+1\s+re")
_SHOW = re.compile(rb"/(\w+)\s+[0-9.]+\s+Tf[^<]*?<([0-9A-Fa-f\s]*)>\s*Tj")
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.DOTALL)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.DOTALL)
_HEXPAIR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_HEXTRIPLE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_MAX_QR_SIDE = 177  # version 40


@dataclass(frozen=True)
class StampFacts:
    """What the seal's stamp says (claimed; it is vouched for only when the seal verifies and nothing changed)."""

    verify_url: str | None
    """The URL in the QR code, e.g. ``https://seal.example.gov.cn/v/L3F2A9C41B7D0E5A6C1B2``."""

    licence_id: str | None
    """The licence id: the last path segment of a ``.../v/{id}`` URL."""

    service_url: str | None
    """The issuing service's base URL: the URL before ``/v/{id}``."""

    number: str | None
    """The licence number printed after 证照编号：."""

    sealed_at_text: str | None
    """The sealing time printed after 盖章时间： (Beijing time, as text)."""

    def to_licence(self) -> dict[str, str]:
        """The non-empty facts as a report's ``licence`` mapping."""
        values = {
            "id": self.licence_id,
            "verify_url": self.verify_url,
            "number": self.number,
            "service_url": self.service_url,
        }
        return {key: value for key, value in values.items() if value}


def _qr_url(content: bytes) -> str | None:
    for block in _QR_BLOCK.finditer(content):
        runs = _runs(block.group(5))
        size = max(x + w for x, _, w in runs)
        if not 21 <= size <= _MAX_QR_SIDE or max(y for _, y, _ in runs) >= size:
            continue
        dark = [[False] * size for _ in range(size)]
        for x, y, w in runs:
            end = min(x + w, size)
            if end > x:
                dark[y][x:end] = [True] * (end - x)
        try:
            payload = decode_matrix(dark)
        except QRDecodeError:
            continue
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _runs(rectangles: bytes) -> list[tuple[int, int, int]]:
    """``(x, y, w)`` of each ``x y w 1 re`` in ``rectangles`` (group 5 of a ``_QR_BLOCK`` match), as
    ``_RUN.findall`` gives them: that group is nothing but such units, each ``\\d+ \\d+ \\d+ 1 re`` and whitespace
    (``\\s``, the bytes ``bytes.split`` splits at), so its tokens come in fives."""
    tokens = rectangles.split()
    return list(zip(map(int, tokens[0::5]), map(int, tokens[1::5]), map(int, tokens[2::5]), strict=True))


@functools.lru_cache(maxsize=256)
def _to_unicode(cmap: bytes) -> Mapping[bytes, str]:
    """The ToUnicode table of a CMap (a pure function of its bytes, so cached: every licence of a seal shares
    its font subset). Read-only: callers share it."""
    table: dict[bytes, str] = {}
    for section in _BFCHAR.findall(cmap):
        for src, dst in _HEXPAIR.findall(section):
            table[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be", "replace")
    for section in _BFRANGE.findall(cmap):
        for low, high, dst in _HEXTRIPLE.findall(section):
            start, end, width = int(low, 16), int(high, 16), len(low) // 2
            first = int(dst, 16)
            for offset in range(min(end - start + 1, 65536)):
                table[(start + offset).to_bytes(width, "big")] = chr(first + offset)
    return MappingProxyType(table)


def _text_lines(content: bytes, fonts: dict[str, Mapping[bytes, str]]) -> list[str]:
    lines = []
    for font_name, hex_text in _SHOW.findall(content):
        table = fonts.get(font_name.decode("ascii", "replace"))
        if not table:
            continue
        raw = bytes.fromhex(re.sub(rb"\s", b"", hex_text).decode())
        width = len(next(iter(table)))
        lines.append("".join(table.get(raw[i : i + width], "\ufffd") for i in range(0, len(raw), width)))
    return lines


#: A seal stamp's content stream, or a font's ToUnicode CMap, decodes to tens of kilobytes. Anything that decodes
#: to more is no stamp of ours, and may be a "zip bomb": a 470 KB PDF whose appearance stream inflated to 300 MB
#: took 500 MB of memory to verify before this bound (tests/verifier/test_stamp_bomb.py).
MAX_STAMP_STREAM_BYTES = 4 * 1024 * 1024
#: Streams with filters other than FlateDecode are decoded by pyHanko only when their encoded form is this small.
_MAX_OTHER_ENCODED_BYTES = 64 * 1024


class _TooLarge(ValueError):
    """A stream decodes to more than :data:`MAX_STAMP_STREAM_BYTES`."""


def bounded_stream_data(stream: Any, limit: int = MAX_STAMP_STREAM_BYTES) -> bytes:
    """The decoded bytes of a pyHanko stream object, never more than ``limit`` (else ``ValueError``).

    FlateDecode (what the service writes) is inflated here with a bound; no filter is read as it is; any other
    filter chain is left to pyHanko only when the encoded stream is small.
    """
    filters = stream.get("/Filter")
    if isinstance(filters, list) and len(filters) == 1:
        filters = filters[0]
    encoded = bytes(stream.encoded_data)
    if filters is None:
        if len(encoded) > limit:
            raise _TooLarge("stream too large for a stamp")
        return encoded
    if filters == "/FlateDecode" and "/DecodeParms" not in stream:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(encoded, limit + 1)
        except zlib.error as exc:
            raise ValueError(f"FlateDecode: {exc}") from None
        if len(data) > limit:
            raise _TooLarge("stream decodes to more than a stamp can be")
        return data
    if len(encoded) > _MAX_OTHER_ENCODED_BYTES:
        raise _TooLarge("stream with other filters too large for a stamp")
    data = bytes(stream.data)
    if len(data) > limit:
        raise _TooLarge("stream decodes to more than a stamp can be")
    return data


def _fonts(resources: Any) -> dict[str, Mapping[bytes, str]]:
    fonts: dict[str, Mapping[bytes, str]] = {}
    font_dict = resources.get("/Font") if resources is not None else None
    if font_dict is None:
        return fonts
    for name, ref in font_dict.get_object().items():
        font = ref.get_object()
        cmap = font.get("/ToUnicode")
        if cmap is not None:
            fonts[str(name).lstrip("/")] = _to_unicode(bounded_stream_data(cmap.get_object()))
    return fonts


def read_stamp_stream(content: bytes, fonts: dict[str, Mapping[bytes, str]]) -> StampFacts | None:
    """The facts in one appearance content stream whose fonts' ToUnicode tables are ``fonts``."""
    url = _qr_url(content)
    lines = _text_lines(content, fonts)
    number = next((line[len(LABEL_NUMBER) :] for line in lines if line.startswith(LABEL_NUMBER)), None)
    sealed = next((line[len(LABEL_SEALED_AT) :] for line in lines if line.startswith(LABEL_SEALED_AT)), None)
    if url is None and number is None:
        return None
    licence_id = service_url = None
    if url is not None:
        parts = urlsplit(url)
        match = _LICENCE_PATH.match(parts.path)
        if parts.scheme in ("http", "https") and match is not None:
            licence_id = match.group("id")
            service_url = f"{parts.scheme}://{parts.netloc}{match.group('base')}"
    return StampFacts(url, licence_id, service_url, number, sealed)


def read_stamp(sig: Any) -> StampFacts | None:
    """The facts on the stamp of pyHanko's ``EmbeddedPdfSignature`` ``sig``; None without a readable stamp."""
    try:
        field = sig.sig_field
        widget = field if "/AP" in field else field["/Kids"][0].get_object()
        appearance = widget["/AP"]["/N"].get_object()
        # An appearance sub-dictionary by state is not a seal stamp. (Not ``hasattr(appearance, "data")``: that
        # property decodes the whole stream, unbounded.)
        if not hasattr(appearance, "encoded_data"):
            return None
        return read_stamp_stream(bounded_stream_data(appearance), _fonts(appearance.get("/Resources")))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
