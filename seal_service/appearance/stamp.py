# pyHanko's PDF object constructors (NumberObject, DictionaryObject, ...) are unannotated.
# mypy: disable-error-code="no-untyped-call"
"""A fast pyHanko stamp style for the visible seal: seal image, verification QR code and Chinese text.

Stock pyHanko spends ~45% of a PAdES B-B signature on the appearance (font subsetting 26 ms, QR 10 ms, image
3.5 ms, zlib). Almost all of that work is identical for every document sealed with the same seal, so it is done
once in :meth:`SealAppearance.build`: the seal image is split into colour and alpha and deflated (with PNG
predictors) once, the CJK font is subset, deflated and described (widths, ToUnicode) once. Per document,
:meth:`SealAppearance.stamp_style` and the style's ``create_stamp`` only wrap those bytes in fresh PDF objects
(already encoded: ``/Filter`` is set and the data is never re-compressed), encode the QR code with a bit-parallel
encoder, and write a small content stream: the image, the QR modules as filled rectangles (vector, crisp at any
zoom), and the text.

The text uses the subset as a ``Type0`` font (``CIDFontType2``, ``Identity-H``, ``/CIDToGIDMap /Identity``) with
``/W`` widths and a ``ToUnicode`` CMap, so every viewer draws it from the embedded glyphs (no tofu, no reliance
on viewer CJK fonts) and text extraction and search return the real characters.

Characters outside the subset: :meth:`SealAppearance.stamp_style` rebuilds the subset once with the union of the
old and new characters (under a lock, cached on the instance and on disk) rather than failing; characters the font
itself lacks raise :class:`~seal_service.errors.InvalidInput` naming them.

Usage with pyHanko::

    appearance = SealAppearance.build(seal_png=png, font_cache_dir=instance_dir / "fonts", extra_chars=names)
    style = appearance.stamp_style(StampText(licence_number=..., sealed_at=..., verify_url=...))
    box = stamp_box(page_width, page_height, appearance)
    signer = PdfSigner(meta, signer=..., stamp_style=style,
                       new_field_spec=SigFieldSpec(sig_field_name="Seal1", on_page=-1, box=box))
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import string
import struct
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image, ImageStat
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from seal_service.appearance import _qr
from seal_service.appearance.fonts import FontSubset, extract_face, locate_cjk_font, missing_chars, subset_font
from seal_service.appearance.seal_image import load_seal_image
from seal_service.errors import ConfigurationError, InvalidInput

__all__ = [
    "CHINA_TZ",
    "LABEL_CHARS",
    "MAX_LICENCE_NUMBER_CHARS",
    "MAX_VERIFY_URL_CHARS",
    "SEAL_DIAMETER_PT",
    "SealAppearance",
    "SealStamp",
    "SealStampStyle",
    "StampText",
    "stamp_box",
]

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
"""China Standard Time. A fixed offset is exact (no DST since 1991) and needs no tz database."""

SEAL_DIAMETER_PT = 42 / 25.4 * 72
"""Printed diameter of the seal: 42 mm, the usual size of a bureau's round seal (~119 pt)."""

LABEL_LICENCE = "证照编号："
"""Label of the first text line (licence number)."""
LABEL_SEALED_AT = "盖章时间："
"""Label of the second text line (sealing time, Beijing time)."""
LABEL_SCAN = "扫码核验真伪"
"""The third text line: "scan the code to verify authenticity"."""
LABEL_CHARS = LABEL_LICENCE + LABEL_SEALED_AT + LABEL_SCAN
"""The fixed label characters of the stamp text."""

# Always in the subset besides the labels: ASCII for numbers, dates and codes, plus the punctuation and characters
# that Chinese licence numbers commonly use (e.g. 晋审批〔2026〕第12号), so a typical number needs no rebuild.
_BASE_CHARS = string.printable[:95] + "〔〕（）【】［］—－·、，。：第号字年月日证许可"

MAX_LICENCE_NUMBER_CHARS = 40
"""Longest licence number shown on the stamp."""

MAX_VERIFY_URL_CHARS = 200
"""Longest verification URL; keeps the QR code at version 10 or below (module >= 1.2 pt), which phones read."""

_MAX_QR_VERSION = 10
_MAX_SUBSET_CHARS = 4000  # bound the growth of the subset by hostile or buggy input
_MAX_IMAGE_PX = 500  # 500 px over 42 mm is ~300 dpi, print quality; more only makes every document bigger

# Layout, in pt.
_PAD = 4.0
_GAP = 8.0
_QR_SIDE = 80.0  # including the 4-module quiet zone
_FONT_SIZE = 8.5
_MIN_FONT_SIZE = 5.0
_LEADING = 13.0
_SAMPLE_TIME = "2026-11-28 13:45:00 +08:00"  # fixed-width format: its width is every timestamp's width


def _beijing_time_text(when: datetime) -> str:
    return when.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") + " +08:00"


@dataclass(frozen=True)
class StampText:
    """The per-document content of the stamp. Validated on construction (raises :class:`InvalidInput`)."""

    licence_number: str
    """The licence (证照) number, shown after 证照编号：."""
    sealed_at: datetime
    """When the seal was applied; must be timezone-aware; shown in Asia/Shanghai time (+08:00)."""
    verify_url: str
    """Public verification URL encoded in the QR code (http or https, ASCII)."""

    def __post_init__(self) -> None:
        """Reject values that would render wrongly or not at all."""
        number = self.licence_number
        if not isinstance(number, str) or not number.strip():
            raise InvalidInput("licence_number must be a non-empty string", field="licence_number")
        if len(number) > MAX_LICENCE_NUMBER_CHARS or not number.isprintable() or number != number.strip():
            raise InvalidInput(
                f"licence_number must be at most {MAX_LICENCE_NUMBER_CHARS} printable characters without "
                f"surrounding spaces: {number!r}",
                field="licence_number",
            )
        if not isinstance(self.sealed_at, datetime) or self.sealed_at.utcoffset() is None:
            raise InvalidInput("sealed_at must be a timezone-aware datetime", field="sealed_at")
        url = self.verify_url
        if (
            not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
            or len(url) > MAX_VERIFY_URL_CHARS
            or not url.isascii()
            or any(ch.isspace() or not ch.isprintable() for ch in url)
        ):
            raise InvalidInput(
                f"verify_url must be an http(s) URL of at most {MAX_VERIFY_URL_CHARS} ASCII characters without "
                f"spaces: {url!r}",
                field="verify_url",
            )

    def lines(self) -> tuple[str, str, str]:
        """The three text lines as shown, top to bottom."""
        return (LABEL_LICENCE + self.licence_number, LABEL_SEALED_AT + _beijing_time_text(self.sealed_at), LABEL_SCAN)


# --- prebuilt, per-seal PDF material ---------------------------------------------------------------------
def _png_idat(img: Image.Image) -> bytes:
    """Deflated, PNG-predicted pixel data of an 8-bit L or RGB image, straight from Pillow's PNG encoder.

    A PNG's concatenated IDAT chunks are exactly a PDF ``/FlateDecode`` stream with ``/Predictor 15``, and the
    per-row filters make flat seal colours far smaller than plain zlib.
    """
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=9)
    data = buf.getvalue()
    pos = 8
    idat = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if ctype == b"IHDR":
            bit_depth, colour_type, _, _, interlace = body[8:13]
            if bit_depth != 8 or interlace != 0 or colour_type not in (0, 2):
                raise ValueError("unexpected PNG layout from Pillow")  # cannot happen for L/RGB; guard anyway
        elif ctype == b"IDAT":
            idat.append(body)
        pos += 12 + length
    return b"".join(idat)


@dataclass(frozen=True)
class _ImageAssets:
    width: int
    height: int
    rgb: bytes  # FlateDecode with PNG predictors
    alpha: bytes | None  # same, for the SMask; None if opaque


def _prepare_image(png: bytes) -> _ImageAssets:
    img = load_seal_image(png)
    alpha = img.getchannel("A")
    rgb = img.convert("RGB")
    opaque = alpha.getextrema()[0] == 255
    if not opaque:
        # The colour under fully transparent pixels is invisible but not free: left as uploaded (often black or
        # white) it bleeds into the edges when resampling and makes the colour stream noisy (we measured 59 KB
        # instead of 1.8 KB for a drawn seal). Paint it with the seal's average ink colour first.
        solid = alpha.point(lambda a: 255 if a >= 128 else 0)
        if solid.getbbox() is not None:
            ink = tuple(round(v) for v in ImageStat.Stat(rgb, mask=solid).mean)
            rgb = Image.composite(rgb, Image.new("RGB", rgb.size, ink), alpha.point(lambda a: 255 if a else 0))
    if max(img.size) > _MAX_IMAGE_PX:
        scale = _MAX_IMAGE_PX / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        # Colour and alpha separately (no premultiplication): a flat ink colour stays exactly flat.
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        alpha = alpha.resize(size, Image.Resampling.LANCZOS)
    return _ImageAssets(
        width=rgb.width,
        height=rgb.height,
        rgb=_png_idat(rgb),
        alpha=None if opaque else _png_idat(alpha),
    )


@dataclass(frozen=True)
class _FontAssets:
    subset: FontSubset
    base_font: str  # with the six-letter subset tag
    program: bytes  # deflated font program
    program_length: int  # /Length1: the uncompressed length
    to_unicode: bytes  # deflated ToUnicode CMap
    cid_set: bytes  # deflated CIDSet (PDF/A-1 wants it for subsets)
    widths: generic.ArrayObject  # immutable contents; shared between documents (see _font_objects)
    gid_hex: dict[str, bytes]  # character -> 4 hex digits of its glyph ID


def _to_unicode_cmap(cmap: dict[str, int]) -> bytes:
    by_gid: dict[int, str] = {}
    for ch in sorted(cmap):  # deterministic; the first character wins if two share a glyph
        by_gid.setdefault(cmap[ch], ch)
    entries = [
        b"<%04X> <%s>" % (gid, ch.encode("utf-16-be").hex().upper().encode()) for gid, ch in sorted(by_gid.items())
    ]
    chunks = []
    for i in range(0, len(entries), 100):  # a bfchar block may hold at most 100 entries
        part = entries[i : i + 100]
        chunks.append(b"%d beginbfchar\n%s\nendbfchar" % (len(part), b"\n".join(part)))
    return (
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + b"\n".join(chunks)
        + b"\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )


def _prepare_font(subset: FontSubset) -> _FontAssets:
    digest = hashlib.sha256(subset.program).digest()
    tag = "".join(chr(ord("A") + b % 26) for b in digest[:6])  # deterministic subset tag, as ISO 32000 asks
    n = len(subset.widths)
    cid_set = bytearray((n + 7) // 8)
    for gid in range(n):
        cid_set[gid // 8] |= 0x80 >> (gid % 8)
    return _FontAssets(
        subset=subset,
        base_font=f"{tag}+{subset.postscript_name}",
        program=zlib.compress(subset.program, 9),
        program_length=len(subset.program),
        to_unicode=zlib.compress(_to_unicode_cmap(subset.cmap), 9),
        cid_set=zlib.compress(bytes(cid_set), 9),
        widths=generic.ArrayObject(
            [generic.NumberObject(0), generic.ArrayObject([generic.NumberObject(w) for w in subset.widths])]
        ),
        gid_hex={ch: b"%04X" % gid for ch, gid in subset.cmap.items()},
    )


_FLATE = pdf_name("/FlateDecode")


def _encoded_stream(entries: dict[str, generic.PdfObject], data: bytes) -> generic.StreamObject:
    """A stream whose data is already FlateDecode-encoded: pyHanko writes ``data`` as is."""
    d = {pdf_name(k): v for k, v in entries.items()}
    d[pdf_name("/Filter")] = _FLATE
    return generic.StreamObject(d, encoded_data=data)


def _predictor_parms(colours: int, columns: int) -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/Predictor"): generic.NumberObject(15),
            pdf_name("/Colors"): generic.NumberObject(colours),
            pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            pdf_name("/Columns"): generic.NumberObject(columns),
        }
    )


def _image_object(writer: BasePdfFileWriter, img: _ImageAssets) -> generic.IndirectObject:
    entries: dict[str, generic.PdfObject] = {
        "/Type": pdf_name("/XObject"),
        "/Subtype": pdf_name("/Image"),
        "/Width": generic.NumberObject(img.width),
        "/Height": generic.NumberObject(img.height),
        "/BitsPerComponent": generic.NumberObject(8),
    }
    if img.alpha is not None:
        smask = _encoded_stream(
            {**entries, "/ColorSpace": pdf_name("/DeviceGray"), "/DecodeParms": _predictor_parms(1, img.width)},
            img.alpha,
        )
        entries["/SMask"] = writer.add_object(smask)
    entries["/ColorSpace"] = pdf_name("/DeviceRGB")
    entries["/DecodeParms"] = _predictor_parms(3, img.width)
    return writer.add_object(_encoded_stream(entries, img.rgb))


def _font_object(writer: BasePdfFileWriter, font: _FontAssets) -> generic.IndirectObject:
    s = font.subset
    program = _encoded_stream({"/Length1": generic.NumberObject(font.program_length)}, font.program)
    descriptor = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/FontDescriptor"),
            pdf_name("/FontName"): pdf_name("/" + font.base_font),
            pdf_name("/Flags"): generic.NumberObject(4),  # symbolic: glyphs outside the Adobe standard Latin set
            pdf_name("/FontBBox"): generic.ArrayObject(generic.NumberObject(v) for v in s.bbox),
            pdf_name("/ItalicAngle"): generic.NumberObject(0),
            pdf_name("/Ascent"): generic.NumberObject(s.ascent),
            pdf_name("/Descent"): generic.NumberObject(s.descent),
            pdf_name("/CapHeight"): generic.NumberObject(s.cap_height),
            pdf_name("/StemV"): generic.NumberObject(80),
            pdf_name("/FontFile2"): writer.add_object(program),
            pdf_name("/CIDSet"): writer.add_object(_encoded_stream({}, font.cid_set)),
        }
    )
    cid_font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
            pdf_name("/BaseFont"): pdf_name("/" + font.base_font),
            pdf_name("/CIDSystemInfo"): generic.DictionaryObject(
                {
                    pdf_name("/Registry"): generic.TextStringObject("Adobe"),
                    pdf_name("/Ordering"): generic.TextStringObject("Identity"),
                    pdf_name("/Supplement"): generic.NumberObject(0),
                }
            ),
            pdf_name("/FontDescriptor"): writer.add_object(descriptor),
            pdf_name("/DW"): generic.NumberObject(1000),
            # Shared between documents: an array of immutable NumberObjects that pyHanko only ever serialises.
            pdf_name("/W"): font.widths,
            pdf_name("/CIDToGIDMap"): pdf_name("/Identity"),
        }
    )
    type0 = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type0"),
            pdf_name("/BaseFont"): pdf_name("/" + font.base_font),
            pdf_name("/Encoding"): pdf_name("/Identity-H"),
            pdf_name("/DescendantFonts"): generic.ArrayObject([writer.add_object(cid_font)]),
            pdf_name("/ToUnicode"): writer.add_object(_encoded_stream({}, font.to_unicode)),
        }
    )
    return writer.add_object(type0)


# --- the style and the stamp -----------------------------------------------------------------------------
_ONES = re.compile("1+")


def _qr_path(matrix: _qr.QRMatrix) -> bytes:
    """Dark modules as ``re`` operators in module units (row 0 at the top), one rectangle per horizontal run.

    All rectangles go into one path filled once, so adjacent modules show no anti-aliasing seams.
    """
    n = matrix.size
    out = []
    for r in range(n):
        row = matrix.row(r)
        if not row:
            continue
        bits = format(row, f"0{n}b")[::-1]  # bit c is column c
        for m in _ONES.finditer(bits):
            out.append(b"%d %d %d 1 re" % (m.start(), r, m.end() - m.start()))
    return b"\n".join(out)


@dataclass(frozen=True, eq=False, kw_only=True)
class SealStampStyle(BaseStampStyle):
    """pyHanko stamp style for one document; get it from :meth:`SealAppearance.stamp_style`.

    ``eq=False`` keeps identity hashing: the fields hold bytes-heavy assets that should not be compared.
    """

    border_width: int = 0
    """No border: the seal and QR code are the frame."""
    appearance: SealAppearance
    """The per-seal prebuilt assets."""
    text: StampText
    """What this document's stamp says and encodes."""
    font: _FontAssets = field(repr=False)
    """The font assets in force when the style was made (covering every character of ``text``)."""

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, object]
    ) -> SealStamp:
        """Add the prebuilt image and font objects to ``writer`` and return the stamp for ``box``.

        ``text_params`` (pyHanko's signer name and timestamp) are ignored: the stamp shows :attr:`text`.
        """
        return SealStamp(writer=writer, style=self, box=box)


class SealStamp(BaseStamp):
    """The appearance of one sealed document's signature widget (a form XObject)."""

    def __init__(self, writer: BasePdfFileWriter, style: SealStampStyle, box: layout.BoxConstraints) -> None:
        """Register the seal image and font with ``writer``; ``box`` defaults to the appearance's size."""
        app = style.appearance
        if box is None or not (box.width_defined and box.height_defined):
            box = layout.BoxConstraints(width=app.width, height=app.height)
        super().__init__(writer=writer, style=style, box=box)
        self.set_resource(ResourceType.XOBJECT, pdf_name("/Seal"), _image_object(writer, app._image))
        self.set_resource(ResourceType.FONT, pdf_name("/F1"), _font_object(writer, style.font))
        # Multiply, like ink: page content under the seal stays visible and white scan backgrounds vanish.
        self.set_resource(
            ResourceType.EXT_G_STATE,
            pdf_name("/Ink"),
            generic.DictionaryObject({pdf_name("/BM"): pdf_name("/Multiply")}),
        )

    def render(self) -> bytes:
        """The content stream: seal image, QR code, text (border and background are not used)."""
        style: SealStampStyle = self.style
        app = style.appearance
        text = style.text
        font = style.font
        w, h = self.box.width, self.box.height
        parts = [b"q"]
        if abs(w - app.width) > 0.01 or abs(h - app.height) > 0.01:
            # A box of another size: scale uniformly and centre rather than distort the seal.
            s = min(w / app.width, h / app.height)
            parts.append(b"%.4f 0 0 %.4f %.3f %.3f cm" % (s, s, (w - s * app.width) / 2, (h - s * app.height) / 2))

        d = SEAL_DIAMETER_PT
        parts.append(b"q /Ink gs %.3f 0 0 %.3f %.3f %.3f cm /Seal Do Q" % (d, d, _PAD, _PAD))

        matrix = _qr.encode(text.verify_url.encode("ascii"), max_version=_MAX_QR_VERSION)
        qx = _PAD + d + _GAP
        qy = (app.height - _QR_SIDE) / 2
        module = _QR_SIDE / (matrix.size + 8)
        parts.append(
            b"q 1 g %.3f %.3f %.3f %.3f re f 0 g %.5f 0 0 %.5f %.5f %.5f cm\n%s\nf Q"
            % (
                qx,
                qy,
                _QR_SIDE,
                _QR_SIDE,
                module,
                -module,
                qx + 4 * module,
                qy + _QR_SIDE - 4 * module,
                _qr_path(matrix),
            )
        )

        tx = qx + _QR_SIDE + _GAP
        lines = text.lines()
        top = app.height / 2 + _LEADING * (len(lines) - 1) / 2 - _FONT_SIZE * 0.35
        parts.append(b"BT 0 g")
        gid_hex = font.gid_hex
        for i, line in enumerate(lines):
            size = _FONT_SIZE
            width = font.subset.text_width(line, size)
            squeeze = b""
            if width > app.text_width:
                # Too long: set it smaller, down to a still legible size, then condense horizontally (Tz) so it
                # never runs out of the widget box (which viewers clip).
                size = max(_MIN_FONT_SIZE, size * app.text_width / width)
                width *= size / _FONT_SIZE
                if width > app.text_width:
                    squeeze = b"%.1f Tz " % (math.floor(1000 * app.text_width / width) / 10)  # round down
            parts.append(
                b"/F1 %.2f Tf %s1 0 0 1 %.3f %.3f Tm <%s> Tj%s"
                % (
                    size,
                    squeeze,
                    tx,
                    top - i * _LEADING,
                    b"".join(gid_hex[ch] for ch in line),
                    b" 100 Tz" if squeeze else b"",
                )
            )
        parts.append(b"ET Q")
        return b"\n".join(parts)

    def as_form_xobject(self) -> generic.StreamObject:
        """The appearance as a deflated form XObject (pyHanko's default leaves it uncompressed)."""
        content = self.render()
        return generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Form"),
                pdf_name("/BBox"): generic.ArrayObject(
                    [
                        generic.NumberObject(0),
                        generic.NumberObject(0),
                        generic.FloatObject(round(self.box.width, 3)),
                        generic.FloatObject(round(self.box.height, 3)),
                    ]
                ),
                pdf_name("/Resources"): self.resources.as_pdf_object(),
                pdf_name("/Filter"): _FLATE,
            },
            encoded_data=zlib.compress(content, 6),
        )


class SealAppearance:
    """Per-seal prebuilt assets: the deflated image XObject data (+ SMask), the deflated font subset with its
    widths and ToUnicode CMap, and the widget size. Build once per seal with :meth:`build`, keep it, and call
    :meth:`stamp_style` per document. Thread-safe.
    """

    width: float
    """Width in pt of the widget box the stamp is laid out for."""
    height: float
    """Height in pt of the widget box the stamp is laid out for."""
    text_width: float
    """Width in pt of the text column; longer lines are set smaller."""

    def __init__(self, *, image: _ImageAssets, font: _FontAssets, face_path: Path, font_cache_dir: Path) -> None:
        """Internal: use :meth:`build`."""
        self._image = image
        self._font = font
        self._face_path = face_path
        self._font_cache_dir = font_cache_dir
        self._lock = threading.Lock()
        sample = max(
            font.subset.text_width(LABEL_SEALED_AT + _SAMPLE_TIME, _FONT_SIZE),
            font.subset.text_width(LABEL_LICENCE + "9" * 20, _FONT_SIZE),
        )
        self.text_width = round(sample + 2.0, 1)
        # Whole points: pyHanko's BoxConstraints truncates the widget size to int, so a fractional size would make
        # every stamp rescale its content by a hair.
        self.width = float(math.ceil(_PAD + SEAL_DIAMETER_PT + _GAP + _QR_SIDE + _GAP + self.text_width + _PAD))
        self.height = float(math.ceil(_PAD + SEAL_DIAMETER_PT + _PAD))

    @classmethod
    def build(cls, *, seal_png: bytes, font_cache_dir: Path, extra_chars: str = "") -> SealAppearance:
        """Prepare everything that is the same for every document sealed with this seal.

        ``seal_png`` is validated with :func:`~seal_service.appearance.seal_image.load_seal_image` (raises
        :class:`InvalidInput`). ``font_cache_dir`` (e.g. under the instance directory) caches the font face
        extracted from the system .ttc and the subset. The subset covers ASCII, the labels, common licence-number
        punctuation and ``extra_chars`` (pass the authority names and any other text you expect). Measured: ~0.7 s
        with a cold font cache (face extraction ~0.3 s, subsetting ~0.35 s), ~75 ms with a warm one (almost all of
        it decoding, resampling and deflating the image).
        """
        image = _prepare_image(seal_png)
        face_path = extract_face(locate_cjk_font(), Path(font_cache_dir))
        chars = set(_BASE_CHARS) | set(LABEL_CHARS) | {ch for ch in extra_chars if ch.isprintable()}
        subset = subset_font(face_path, chars, cache_dir=Path(font_cache_dir))
        absent = sorted(set(LABEL_CHARS) & subset.missing)
        if absent:
            raise ConfigurationError(
                f"The CJK font {face_path} lacks the stamp label characters {''.join(absent)}; "
                "install fonts-wqy-zenhei or set SEAL_CJK_FONT to a Chinese font"
            )
        return cls(image=image, font=_prepare_font(subset), face_path=face_path, font_cache_dir=Path(font_cache_dir))

    @property
    def font_subset(self) -> FontSubset:
        """The font subset currently in use."""
        return self._font.subset

    def _font_for(self, needed: set[str]) -> _FontAssets:
        font = self._font
        if needed <= font.subset.cmap.keys():  # the common case: no lock, no copying
            return font
        # Check against the face's cmap (read once per process, then a set lookup) before subsetting, so a
        # request with an undrawable character costs microseconds, not a 0.3 s subset run under the lock.
        lacking = missing_chars(self._face_path, needed - font.subset.cmap.keys())
        if lacking:
            raise InvalidInput(f"The stamp font has no glyph for: {''.join(lacking)}")
        with self._lock:
            font = self._font
            missing = needed - font.subset.cmap.keys()
            if not missing:
                return font  # another thread grew the subset meanwhile
            wanted = font.subset.chars | missing
            if len(wanted) > _MAX_SUBSET_CHARS:
                raise InvalidInput(f"Too many distinct characters for the stamp font (limit {_MAX_SUBSET_CHARS})")
            subset = subset_font(self._face_path, wanted, cache_dir=self._font_cache_dir)
            if missing & subset.missing:  # only if the cmap and the subsetter disagree
                raise InvalidInput(f"The stamp font has no glyph for: {''.join(sorted(missing & subset.missing))}")
            # Later documents reuse the larger subset; styles made earlier keep the one they were made with.
            self._font = font = _prepare_font(subset)
            return font

    def stamp_style(self, text: StampText) -> SealStampStyle:
        """A pyHanko stamp style for one document showing ``text``.

        Pass it as ``PdfSigner(..., stamp_style=style, new_field_spec=SigFieldSpec(..., box=stamp_box(...)))``.
        Cheap: the image and font are prebuilt; if ``text`` needs characters outside the subset, the subset is
        rebuilt once to include them. Raises :class:`InvalidInput` if the font cannot draw a character.
        """
        if not isinstance(text, StampText):
            raise TypeError("text must be a StampText")
        needed = {ch for line in text.lines() for ch in line}
        return SealStampStyle(appearance=self, text=text, font=self._font_for(needed))


def stamp_box(
    page_width: float, page_height: float, appearance: SealAppearance, *, margin: float = 36
) -> tuple[float, float, float, float]:
    """The widget rectangle ``(x1, y1, x2, y2)`` in page space, in the bottom-right corner ``margin`` pt in.

    If the page is too small for the stamp at full size, the box is scaled down uniformly to fit (the stamp
    scales its content to the box).
    """
    if page_width <= 2 * margin + 10 or page_height <= 2 * margin + 10:
        raise InvalidInput(f"A {page_width}x{page_height} pt page has no room for a stamp with margin {margin} pt")
    scale = min(1.0, (page_width - 2 * margin) / appearance.width, (page_height - 2 * margin) / appearance.height)
    # Whole-point corners and size: pyHanko truncates the widget size to int (see SealAppearance.__init__).
    w = math.floor(appearance.width * scale)
    h = math.floor(appearance.height * scale)
    x2 = math.floor(page_width - margin)
    y1 = math.ceil(margin)
    return (float(x2 - w), float(y1), float(x2), float(y1 + h))
