"""The drawn seal image and the validation of uploaded ones."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from appearance_testkit import AUTHORITY
from PIL import Image

from seal_service.appearance.seal_image import MAX_SEAL_BYTES, draw_seal_image, load_seal_image
from seal_service.appearance.stamp import SealAppearance
from seal_service.errors import InvalidInput


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _is_seal_red(px: tuple[int, int, int, int]) -> bool:
    r, g, b, a = px
    return a > 200 and r > 200 and g < 60 and b < 60


def test_drawn_seal_looks_like_a_round_red_seal(seal_png: bytes) -> None:
    """(d) a red ring all the way round, transparent corners and outside, a solid star, text on arc and title."""
    img = Image.open(io.BytesIO(seal_png))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (600, 600)
    px = img.load()
    c = 300
    radius = 300 * 0.985
    # The ring: at 97% of the radius every 5 degrees.
    for deg in range(0, 360, 5):
        a = math.radians(deg)
        p = (round(c + 0.97 * radius * math.cos(a)), round(c - 0.97 * radius * math.sin(a)))
        assert _is_seal_red(px[p]), (deg, px[p])
    # Corners and just outside the ring: fully transparent.
    for p in [(0, 0), (599, 0), (0, 599), (599, 599), (40, 40), (560, 560)]:
        assert px[p][3] == 0, p
    # The star's centre is solid ink.
    assert _is_seal_red(px[(c, c)])
    # Ink along the upper arc (the authority name) and in the title band below the star.
    arc = sum(
        1
        for deg in range(-30, 211, 2)
        for rr in range(150, 240, 6)
        if px[(round(c + rr * math.cos(math.radians(deg))), round(c - rr * math.sin(math.radians(deg))))][3] > 128
    )
    assert arc > 150, arc
    title = img.crop((c - 150, c + 130, c + 150, c + 180)).getchannel("A").histogram()
    assert sum(title[129:]) > 1500
    # Nothing drawn in the band between the star and the name (a clean seal, no smudges).
    assert img.crop((c - 20, c - 140, c + 20, c - 110)).getchannel("A").getextrema()[1] == 0


def test_drawing_is_deterministic_and_sizes_and_colours_apply() -> None:
    """Same inputs, same bytes; size_px and colour are honoured; the title is configurable."""
    a = draw_seal_image(authority_name="阳泉市行政审批服务管理局", seal_title="行政许可专用章", size_px=300)
    b = draw_seal_image(authority_name="阳泉市行政审批服务管理局", seal_title="行政许可专用章", size_px=300)
    assert a == b
    img = Image.open(io.BytesIO(draw_seal_image(authority_name=AUTHORITY, size_px=400, colour=(200, 10, 20))))
    assert img.size == (400, 400)
    assert img.getpixel((200, 200))[:3] == (200, 10, 20)
    # Long names (20 characters) still draw.
    assert draw_seal_image(authority_name="内蒙古自治区呼和浩特市赛罕区行政审批局")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"authority_name": ""},
        {"authority_name": "局"},
        {"authority_name": "晋" * 25},
        {"authority_name": AUTHORITY, "seal_title": ""},
        {"authority_name": AUTHORITY, "size_px": 100},
        {"authority_name": AUTHORITY, "size_px": 5000},
        {"authority_name": AUTHORITY, "colour": (300, 0, 0)},
        {"authority_name": "晋城市😀行政审批服务管理局"},  # no glyph in the CJK font
    ],
)
def test_drawing_rejects_bad_input(kwargs: dict[str, object]) -> None:
    """Bad parameters raise InvalidInput rather than drawing a wrong seal."""
    with pytest.raises(InvalidInput):
        draw_seal_image(**kwargs)  # type: ignore[arg-type]


def test_load_accepts_drawn_and_opaque_seals(seal_png: bytes) -> None:
    """The drawn seal loads as RGBA; an opaque RGB scan on white is accepted too."""
    assert load_seal_image(seal_png).mode == "RGBA"
    scan = Image.new("RGB", (500, 480), "white")
    assert load_seal_image(_png(scan)).size == (500, 480)


def _bad_pngs() -> dict[str, bytes]:
    jpeg = io.BytesIO()
    Image.new("RGB", (400, 400), "red").save(jpeg, format="JPEG")
    good = _png(Image.new("RGBA", (400, 400), (225, 0, 0, 255)))
    return {
        "jpeg": jpeg.getvalue(),
        "garbage": b"not an image at all",
        "empty": b"",
        "small": _png(Image.new("RGBA", (100, 100), (225, 0, 0, 255))),
        "huge": _png(Image.new("1", (4100, 4100))),
        "oblong": _png(Image.new("RGBA", (600, 300), (225, 0, 0, 255))),
        "truncated": good[: len(good) // 2],
        "transparent": _png(Image.new("RGBA", (400, 400), (0, 0, 0, 0))),
        "too_many_bytes": b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_SEAL_BYTES,
    }


@pytest.mark.parametrize("case", list(_bad_pngs()))
def test_load_rejects_invalid_uploads(case: str) -> None:
    """(f) every kind of bad upload is an InvalidInput with a message, never a Pillow exception."""
    with pytest.raises(InvalidInput) as err:
        load_seal_image(_bad_pngs()[case])
    assert err.value.detail and err.value.field == "seal_image"


def test_build_rejects_invalid_upload(font_cache_dir: Path) -> None:
    """SealAppearance.build validates the PNG the same way."""
    with pytest.raises(InvalidInput, match="not a PNG"):
        SealAppearance.build(seal_png=b"GIF89a....", font_cache_dir=font_cache_dir)
    with pytest.raises(InvalidInput):
        load_seal_image("a string")  # type: ignore[arg-type]
