"""Drawing and validating the round seal image (印章图像).

A Chinese official seal is a red ring with the authority's name running clockwise along the upper arc (characters
upright, their feet towards the centre), a solid five-pointed star in the middle, and the seal's purpose (e.g.
行政审批专用章) in a straight line below the star. :func:`draw_seal_image` draws one for instances that have no
scanned seal; :func:`load_seal_image` checks an uploaded one.

The image is drawn as a single-channel coverage mask at up to 4x resolution and downsampled with a Lanczos filter,
which gives smooth edges without relying on Pillow's (unantialiased) primitives; the PNG is then a constant colour
with that mask as alpha, which also compresses very well.
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from seal_service.appearance.fonts import locate_cjk_font, missing_chars
from seal_service.errors import InvalidInput

__all__ = [
    "DEFAULT_SEAL_TITLE",
    "MAX_SEAL_BYTES",
    "MAX_SEAL_PX",
    "MIN_SEAL_PX",
    "draw_seal_image",
    "load_seal_image",
]

DEFAULT_SEAL_TITLE = "行政审批专用章"
"""The usual title of an Administrative Approval Service Bureau's seal."""

MIN_SEAL_PX = 200
"""Smallest accepted side of a seal image, in pixels (below this a 42 mm seal prints visibly blurred)."""

MAX_SEAL_PX = 4000
"""Largest accepted side of a seal image, in pixels."""

MAX_SEAL_BYTES = 8 * 1024 * 1024
"""Largest accepted seal PNG, in bytes."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_ASPECT = 1.1  # a seal is round; allow a little slack for scans cropped by hand

# Geometry, as fractions of the seal radius R. Modelled on the GA 241 style 42 mm round seal: ~1.2 mm ring,
# ~14 mm star, name close inside the ring, title below the star.
_RING = 0.06
_NAME_GAP = 0.05  # between ring and the outer edge of the name characters
_NAME_HEIGHT = 0.25  # radial extent of a name character
_STAR_RADIUS = 0.30
_TITLE_HEIGHT = 0.17
_TITLE_CENTRE = 0.52  # below the centre
_TITLE_MAX_WIDTH = 1.10
_STROKE = 0.022  # extra stroke weight, fraction of the em


def _arc_span_degrees(n: int) -> float:
    """Angle between the first and last name character: ~210 degrees for 8 characters, ~250 for 20."""
    if n < 8:
        return 30.0 * max(n - 1, 0)  # short names: keep the 8-character spacing rather than spreading them thin
    return min(210.0 + (n - 8) * 40.0 / 12.0, 250.0)  # beyond 20: condense, do not wrap further


def _glyph_tile(font: ImageFont.FreeTypeFont, ch: str, em: int, width: int, height: int) -> Image.Image:
    """One character as an L-mode coverage tile of ``width`` x ``height`` px, centred on its ink.

    Rendering at the full em and then scaling to the tile condenses or stretches the glyph the way seal engravers
    do, while centring on the ink box (not the font's em box, whose vertical centre differs between fonts) keeps
    characters visually on the arc.
    """
    canvas = Image.new("L", (em * 2, em * 2), 0)
    # A stroke thickens the thin sans strokes towards the engraved look of a real seal.
    ImageDraw.Draw(canvas).text(
        (em, em), ch, font=font, fill=255, anchor="mm", stroke_width=max(1, round(em * _STROKE)), stroke_fill=255
    )
    ink = canvas.getbbox()
    if ink is None:  # a blank glyph (space): nothing to draw
        return Image.new("L", (width, height), 0)
    cx = (ink[0] + ink[2]) / 2
    cy = (ink[1] + ink[3]) / 2
    half = em / 2
    tile = canvas.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return tile.resize((max(1, width), max(1, height)), Image.Resampling.LANCZOS)


def _star(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(54))  # regular pentagram: ~0.382
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else inner
        a = math.radians(90 + 36 * k)
        points.append((cx + r * math.cos(a), cy - r * math.sin(a)))
    return points


def _check_text(value: str, what: str, lo: int, hi: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string", field=what)
    text = "".join(value.split())  # seals carry no spaces; also strips stray whitespace from forms
    if not lo <= len(text) <= hi:
        raise InvalidInput(f"{what} must have {lo} to {hi} characters, got {len(text)}: {value!r}", field=what)
    return text


def draw_seal_image(
    *,
    authority_name: str,
    seal_title: str = DEFAULT_SEAL_TITLE,
    size_px: int = 600,
    colour: tuple[int, int, int] = (225, 0, 0),
) -> bytes:
    """Draw a round official seal and return it as an RGBA PNG with a transparent background.

    ``authority_name`` (e.g. 晋城市行政审批服务管理局; 2 to 24 characters) runs along the upper arc, evenly spaced
    over about 210 degrees for 8 characters up to about 250 for 20; ``seal_title`` (1 to 12 characters) sits in a
    straight line below the central star. The output is deterministic for the same inputs and font.

    Raises :class:`InvalidInput` for bad sizes, colours, text lengths or characters the CJK font cannot draw, and
    :class:`~seal_service.errors.ConfigurationError` if no CJK font is installed.
    """
    name = _check_text(authority_name, "authority_name", 2, 24)
    title = _check_text(seal_title, "seal_title", 1, 12)
    if isinstance(size_px, bool) or not isinstance(size_px, int) or not MIN_SEAL_PX <= size_px <= MAX_SEAL_PX:
        raise InvalidInput(f"size_px must be an integer from {MIN_SEAL_PX} to {MAX_SEAL_PX}", field="size_px")
    if (
        not isinstance(colour, tuple | list)
        or len(colour) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in colour)
    ):
        raise InvalidInput("colour must be three integers from 0 to 255", field="colour")

    font_ref = locate_cjk_font()
    lacking = missing_chars(font_ref, name + title)
    if lacking:
        raise InvalidInput(
            f"The CJK font {font_ref.path.name} has no glyph for: {''.join(lacking)}", field="authority_name"
        )

    ss = max(1, min(4, 2400 // size_px))  # supersampling factor; the big canvas stays <= ~2400 px square
    side = size_px * ss
    c = side / 2
    radius = side / 2 * 0.985  # leave room for the antialiased edge
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)

    # Ring.
    draw.ellipse((c - radius, c - radius, c + radius, c + radius), fill=255)
    inner = radius * (1 - _RING)
    draw.ellipse((c - inner, c - inner, c + inner, c + inner), fill=0)

    # Authority name along the upper arc, clockwise from the lower left.
    n = len(name)
    glyph_h = round(radius * _NAME_HEIGHT)
    r_name = inner - radius * _NAME_GAP - glyph_h / 2
    span = _arc_span_degrees(n)
    step = span / (n - 1) if n > 1 else 0.0
    pitch = r_name * math.radians(step) if n > 1 else glyph_h
    glyph_w = round(min(glyph_h, pitch * 0.92))
    em = glyph_h * 2  # render big, then scale down into the tile
    font = ImageFont.truetype(str(font_ref.path), size=em, index=font_ref.index)
    for i, ch in enumerate(name):
        theta = 90 + span / 2 - i * step  # degrees, counter-clockwise from the +x axis
        tile = _glyph_tile(font, ch, em, glyph_w, glyph_h)
        # Upright relative to the arc: the character's foot points at the centre.
        rotated = tile.rotate(theta - 90, resample=Image.Resampling.BICUBIC, expand=True)
        x = c + r_name * math.cos(math.radians(theta)) - rotated.width / 2
        y = c - r_name * math.sin(math.radians(theta)) - rotated.height / 2
        mask.paste(255, (round(x), round(y)), rotated)

    # Star.
    draw.polygon(_star(c, c, radius * _STAR_RADIUS), fill=255)

    # Title, straight, below the star.
    nt = len(title)
    title_h = round(radius * _TITLE_HEIGHT)
    # Keep the title clear of the last name characters, which dip below the horizontal for long names.
    max_width = radius * _TITLE_MAX_WIDTH
    dip = math.radians(span / 2 - 90)
    if dip > 0:
        clear_x = (r_name - glyph_h / 2) * math.cos(dip) - glyph_w / 2 * math.sin(dip) - radius * 0.04
        max_width = min(max_width, 2 * clear_x)
    title_pitch = min(title_h * 1.05, max_width / nt)
    title_w = round(min(title_h * 0.92, title_pitch * 0.92))
    title_em = title_h * 2
    title_font = ImageFont.truetype(str(font_ref.path), size=title_em, index=font_ref.index)
    ty = c + radius * _TITLE_CENTRE
    for i, ch in enumerate(title):
        tile = _glyph_tile(title_font, ch, title_em, title_w, title_h)
        tx = c + (i - (nt - 1) / 2) * title_pitch
        mask.paste(255, (round(tx - tile.width / 2), round(ty - tile.height / 2)), tile)

    if ss > 1:
        mask = mask.resize((size_px, size_px), Image.Resampling.LANCZOS)
    image = Image.new("RGBA", (size_px, size_px), (*colour, 0))
    image.putalpha(mask)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def load_seal_image(png: bytes) -> Image.Image:
    """Validate an uploaded seal PNG and return it as a loaded RGBA :class:`PIL.Image.Image`.

    Accepted: a still PNG of at most :data:`MAX_SEAL_BYTES` bytes, each side between :data:`MIN_SEAL_PX` and
    :data:`MAX_SEAL_PX` pixels, width and height within 10% of each other, not fully transparent. Anything else
    raises :class:`InvalidInput` saying what is wrong. Dimensions are checked before the pixels are decoded, so a
    decompression bomb is rejected cheaply.
    """
    if not isinstance(png, bytes | bytearray | memoryview):
        raise InvalidInput("The seal image must be PNG bytes", field="seal_image")
    data = bytes(png)
    if len(data) > MAX_SEAL_BYTES:
        raise InvalidInput(
            f"The seal image is {len(data)} bytes; at most {MAX_SEAL_BYTES} bytes are accepted", field="seal_image"
        )
    if not data.startswith(_PNG_SIGNATURE):
        raise InvalidInput("The seal image is not a PNG file (bad signature)", field="seal_image")
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(f"The seal image cannot be read as PNG: {exc}", field="seal_image") from exc
    if img.format != "PNG":
        raise InvalidInput(f"The seal image is {img.format}, not PNG", field="seal_image")
    width, height = img.size
    if not (MIN_SEAL_PX <= width <= MAX_SEAL_PX and MIN_SEAL_PX <= height <= MAX_SEAL_PX):
        raise InvalidInput(
            f"The seal image is {width}x{height} px; each side must be {MIN_SEAL_PX} to {MAX_SEAL_PX} px",
            field="seal_image",
        )
    if max(width, height) > _MAX_ASPECT * min(width, height):
        raise InvalidInput(
            f"The seal image is {width}x{height} px; a round seal image must be (nearly) square",
            field="seal_image",
        )
    if getattr(img, "n_frames", 1) > 1:
        raise InvalidInput("The seal image is animated; upload a still PNG", field="seal_image")
    try:
        img.load()
        rgba = img.convert("RGBA")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"The seal image is damaged: {exc}", field="seal_image") from exc
    if rgba.getchannel("A").getextrema()[1] == 0:
        raise InvalidInput("The seal image is fully transparent", field="seal_image")
    return rgba
