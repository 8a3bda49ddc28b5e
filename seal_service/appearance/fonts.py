"""Locating, extracting and subsetting the CJK font used by the seal image and the stamp text.

Three facts shape this module (see /work/shared/brief/pyhanko-notes.md):

* Debian ships CJK fonts as ``.ttc`` collections, which pyHanko cannot open, and the stamp needs a plain font
  program anyway, so one face is extracted with fontTools and cached on disk (extraction takes ~1.2 s).
* Embedding a whole CJK font costs over a second per document, so the stamp embeds a subset, built once per seal
  (~0.25 s) and cached on disk under a key derived from the face and the character set.
* PDF viewers render a TrueType-outline subset as a ``CIDFontType2`` most reliably. Noto CJK ships CFF outlines,
  so CFF subsets are converted to quadratic (``glyf``) outlines after subsetting, which is cheap for a few hundred
  glyphs; the stamp then has a single embedding path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools import subset as ft_subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, TTLibError, newTable

from seal_service.errors import ConfigurationError

__all__ = [
    "DEBIAN_FONT_PACKAGE",
    "FONT_ENV_VAR",
    "CJKFont",
    "FontSubset",
    "extract_face",
    "locate_cjk_font",
    "missing_chars",
    "subset_font",
]

DEBIAN_FONT_PACKAGE = "fonts-wqy-zenhei"
"""The Debian package that provides the preferred CJK font."""

FONT_ENV_VAR = "SEAL_CJK_FONT"
"""Environment variable overriding the font: a path, optionally followed by ``#<face index>`` for collections."""

# Preferred first: WenQuanYi Zen Hei is TrueType-outlined (no conversion) and covers GB 18030's common ideographs.
_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)

# Bump when the subset format or options change, so stale cache files are not reused.
_SUBSET_CACHE_VERSION = "1"


@dataclass(frozen=True)
class CJKFont:
    """A font file and the face to use in it (``index`` is 0 for plain .ttf/.otf files)."""

    path: Path
    index: int = 0

    @property
    def is_collection(self) -> bool:
        """Whether the file is a TrueType/OpenType collection (``ttcf`` header)."""
        with self.path.open("rb") as fh:
            return fh.read(4) == b"ttcf"


def _pick_face(path: Path) -> int:
    """In a collection, prefer the Simplified Chinese face (Noto CJK puts JP first), else face 0."""
    try:
        coll = TTCollection(str(path), lazy=True)
    except (TTLibError, OSError, ValueError) as exc:
        raise ConfigurationError(f"CJK font {path} cannot be read: {exc}") from exc
    try:
        for i, face in enumerate(coll.fonts):
            family = face["name"].getDebugName(1) or ""
            if family.endswith(" SC") or " SC " in family:
                return i
    finally:
        coll.close()
    return 0


def locate_cjk_font() -> CJKFont:
    """Find the CJK font: ``$SEAL_CJK_FONT`` if set, else WenQuanYi Zen Hei, else Noto CJK.

    Raises :class:`ConfigurationError` naming the Debian package to install if none is present, or if the
    override points at a missing file (an explicit setting must not silently fall back).
    """
    override = os.environ.get(FONT_ENV_VAR, "").strip()
    if override:
        path_text, _, index_text = override.partition("#")
        path = Path(path_text)
        if not path.is_file():
            raise ConfigurationError(f"{FONT_ENV_VAR}={override!r}: no such font file")
        if index_text:
            try:
                index = int(index_text)
            except ValueError:
                raise ConfigurationError(f"{FONT_ENV_VAR}={override!r}: face index must be an integer") from None
            return CJKFont(path, index)
        font = CJKFont(path)
        return CJKFont(path, _pick_face(path)) if font.is_collection else font
    for candidate in _CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            font = CJKFont(path)
            return CJKFont(path, _pick_face(path)) if font.is_collection else font
    raise ConfigurationError(
        "No CJK font found for seal images and stamp text. Install the Debian package "
        f"'{DEBIAN_FONT_PACKAGE}' (apt-get install {DEBIAN_FONT_PACKAGE}) or fonts-noto-cjk, "
        f"or point {FONT_ENV_VAR} at a font file with Chinese glyphs."
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so concurrent processes never see a half-written font."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def extract_face(font: CJKFont, cache_dir: Path) -> Path:
    """Return a path to a single-face font file for ``font``, extracting it from a collection if needed.

    The extracted face is cached in ``cache_dir`` under a name that includes the source's size and mtime, so an
    updated system font is re-extracted. Plain .ttf/.otf files are returned as they are.
    """
    if not font.is_collection:
        return font.path
    st = font.path.stat()
    target = Path(cache_dir) / f"{font.path.stem}-{font.index}-{st.st_size}-{st.st_mtime_ns}.ttf"
    if target.is_file():
        return target
    try:
        coll = TTCollection(str(font.path), lazy=True)
        try:
            face = coll.fonts[font.index]
            buf = io.BytesIO()
            face.save(buf)
        finally:
            coll.close()
    except IndexError:
        raise ConfigurationError(f"CJK font {font.path} has no face {font.index}") from None
    except (TTLibError, OSError, ValueError) as exc:
        raise ConfigurationError(f"CJK font {font.path} cannot be read: {exc}") from exc
    _atomic_write(target, buf.getvalue())
    return target


@lru_cache(maxsize=8)
def _codepoints(path: str, index: int, mtime_ns: int) -> frozenset[int]:
    # mtime_ns is part of the cache key only, so a replaced font file is re-read.
    with TTFont(path, fontNumber=index, lazy=True) as ft:
        return frozenset(ft.getBestCmap())


def missing_chars(font: CJKFont | Path, text: Iterable[str]) -> list[str]:
    """The distinct characters of ``text`` (in first-seen order) that the font has no glyph for.

    Whitespace and other control characters are never reported: they are not drawn.
    """
    if isinstance(font, CJKFont):
        path, index = font.path, font.index
    else:
        path, index = Path(font), 0
    cps = _codepoints(str(path), index, path.stat().st_mtime_ns)
    seen: dict[str, None] = {}
    for ch in text:
        if ord(ch) not in cps and ch.isprintable() and not ch.isspace():
            seen.setdefault(ch, None)
    return list(seen)


@dataclass(frozen=True)
class FontSubset:
    """A subset font program and the metrics a PDF ``CIDFontType2`` needs.

    Glyph IDs are the subset's own (``retain_gids`` off), so they are dense from 0 and serve directly as CIDs
    with ``/CIDToGIDMap /Identity``.
    """

    program: bytes
    """The subset TrueType font program (``glyf`` outlines), ready for ``/FontFile2``."""
    postscript_name: str
    """PostScript name of the source face, without subset tag."""
    cmap: dict[str, int]
    """Character to glyph ID, for every character the subset covers."""
    widths: tuple[int, ...]
    """Advance width of every glyph ID, in 1/1000 em (PDF glyph space)."""
    bbox: tuple[int, int, int, int]
    """Font bounding box in 1/1000 em."""
    ascent: int
    """Typographic ascent in 1/1000 em."""
    descent: int
    """Typographic descent in 1/1000 em (negative)."""
    cap_height: int
    """Cap height in 1/1000 em."""
    missing: frozenset[str]
    """Requested characters the source face has no glyph for (not in the subset)."""

    @property
    def chars(self) -> frozenset[str]:
        """The characters the subset covers."""
        return frozenset(self.cmap)

    def text_width(self, text: str, size: float) -> float:
        """Advance width of ``text`` at ``size`` pt, for characters the subset covers."""
        widths = self.widths
        cmap = self.cmap
        return sum(widths[cmap[ch]] for ch in text) * size / 1000.0


def _cff_to_glyf(ft: TTFont) -> None:
    """Replace CFF/CFF2 outlines with quadratic TrueType outlines (max error 1 font unit), in place."""
    glyph_order = ft.getGlyphOrder()
    glyph_set = ft.getGlyphSet()
    glyphs = {}
    for name in glyph_order:
        tt_pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(tt_pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = tt_pen.glyph()
    for tag in ("CFF ", "CFF2", "VORG"):
        if tag in ft:
            del ft[tag]
    ft["loca"] = newTable("loca")
    glyf = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = glyphs
    ft["glyf"] = glyf
    hmtx = ft["hmtx"]
    for name, glyph in glyphs.items():
        glyph.recalcBounds(glyf)
        hmtx[name] = (hmtx[name][0], getattr(glyph, "xMin", 0))
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.numGlyphs = len(glyph_order)
    for attr in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    ft["maxp"] = maxp
    post = ft["post"]
    post.formatType = 3.0  # no glyph names: the PDF maps characters through ToUnicode, not names
    ft["head"].glyphDataFormat = 0
    ft.sfntVersion = "\x00\x01\x00\x00"


def _subset_program(face_path: Path, codepoints: list[int]) -> bytes:
    opts = ft_subset.Options()
    # Hinting, layout features and vertical metrics are useless for a few short horizontal labels and only add
    # bytes that every sealed document carries.
    opts.hinting = False
    opts.layout_features = []
    opts.notdef_outline = True
    opts.recalc_bounds = True
    opts.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx", "VORG", "gasp", "meta", "BDF", "FFTM"]
    opts.name_IDs = [1, 2, 3, 4, 6]
    opts.ignore_missing_unicodes = True
    with TTFont(str(face_path), lazy=True) as ft:
        subsetter = ft_subset.Subsetter(opts)
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(ft)
        if "glyf" not in ft:
            _cff_to_glyf(ft)
        buf = io.BytesIO()
        ft.save(buf)
    return buf.getvalue()


def _describe(program: bytes, requested: frozenset[str]) -> FontSubset:
    with TTFont(io.BytesIO(program)) as ft:
        upem = ft["head"].unitsPerEm

        def scale(v: float) -> int:
            return round(float(v) * 1000 / int(upem))

        order = ft.getGlyphOrder()
        gid = {name: i for i, name in enumerate(order)}
        best = ft.getBestCmap() or {}
        cmap = {chr(cp): gid[name] for cp, name in best.items() if chr(cp) in requested}
        hmtx = ft["hmtx"]
        widths = tuple(scale(hmtx[name][0]) for name in order)
        head = ft["head"]
        hhea = ft["hhea"]
        os2 = ft.get("OS/2")
        ascent = os2.sTypoAscender if os2 is not None and os2.sTypoAscender else hhea.ascent
        descent = os2.sTypoDescender if os2 is not None and os2.sTypoDescender else hhea.descent
        cap = getattr(os2, "sCapHeight", 0) if os2 is not None else 0
        ps_name = ft["name"].getDebugName(6) or ft["name"].getDebugName(4) or "CJKFont"
    ps_name = "".join(ch for ch in ps_name if (ch.isascii() and ch.isalnum()) or ch in "-_") or "CJKFont"
    return FontSubset(
        program=program,
        postscript_name=ps_name,
        cmap=cmap,
        widths=widths,
        bbox=(scale(head.xMin), scale(head.yMin), scale(head.xMax), scale(head.yMax)),
        ascent=scale(ascent),
        descent=scale(descent),
        cap_height=scale(cap or ascent),
        missing=frozenset(ch for ch in requested if ch not in cmap),
    )


def subset_font(face_path: Path, chars: Iterable[str], *, cache_dir: Path | None = None) -> FontSubset:
    """Subset the single-face font at ``face_path`` to ``chars`` (plus .notdef).

    Characters the face lacks are left out and listed in :attr:`FontSubset.missing`; callers decide whether that
    is an error. With ``cache_dir`` the subset program is cached on disk, keyed by the face file (path, size,
    mtime) and the character set, which turns ~0.25 s into a few ms after a restart.
    """
    face_path = Path(face_path)
    requested = frozenset(ch for ch in chars if ch.isprintable())
    codepoints = sorted(ord(ch) for ch in requested)
    program: bytes | None = None
    target: Path | None = None
    if cache_dir is not None:
        st = face_path.stat()
        key = hashlib.sha256(
            "\0".join((_SUBSET_CACHE_VERSION, str(face_path.resolve()), str(st.st_size), str(st.st_mtime_ns))).encode()
            + b"\0"
            + "".join(map(chr, codepoints)).encode("utf-8", "surrogatepass")
        ).hexdigest()[:32]
        target = Path(cache_dir) / f"subset-{key}.ttf"
        if target.is_file():
            program = target.read_bytes()
    if program is not None:
        try:
            return _describe(program, requested)
        except Exception:  # a damaged cache file is rebuilt, never trusted
            program = None
    try:
        program = _subset_program(face_path, codepoints)
    except (TTLibError, OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"Cannot subset CJK font {face_path}: {exc}") from exc
    if target is not None:
        _atomic_write(target, program)
    return _describe(program, requested)
