"""Locating, extracting and subsetting the CJK font."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from seal_service.appearance import fonts
from seal_service.errors import ConfigurationError
from tests.support.requirements import needs

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
NIMBUS_OTF = Path("/usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf")


@needs("fonts-wqy-zenhei (CJK font)", WQY.is_file())
def test_locates_wenquanyi_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an override, WenQuanYi Zen Hei face 0 is used."""
    monkeypatch.delenv(fonts.FONT_ENV_VAR, raising=False)
    assert fonts.locate_cjk_font() == fonts.CJKFont(WQY, 0)


def test_override_and_missing_font_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bad override and a system without CJK fonts are ConfigurationErrors that say what to install."""
    monkeypatch.setenv(fonts.FONT_ENV_VAR, str(tmp_path / "nope.ttf"))
    with pytest.raises(ConfigurationError, match="no such font file"):
        fonts.locate_cjk_font()
    if WQY.is_file():
        monkeypatch.setenv(fonts.FONT_ENV_VAR, f"{WQY}#1")
        assert fonts.locate_cjk_font() == fonts.CJKFont(WQY, 1)
    monkeypatch.delenv(fonts.FONT_ENV_VAR)
    monkeypatch.setattr(fonts, "_CANDIDATES", (str(tmp_path / "absent.ttc"),))
    with pytest.raises(ConfigurationError, match="fonts-wqy-zenhei"):
        fonts.locate_cjk_font()


@needs("fonts-wqy-zenhei (CJK font)", WQY.is_file())
def test_extract_and_subset_are_cached(font_cache_dir: Path, appearance: object) -> None:
    """The .ttc face is extracted once into the cache dir; subsets are cached on disk and cover what was asked."""
    face = fonts.extract_face(fonts.CJKFont(WQY, 0), font_cache_dir)
    assert face.parent == font_cache_dir and face.suffix == ".ttf"
    assert fonts.extract_face(fonts.CJKFont(WQY, 0), font_cache_dir) == face
    with TTFont(face, lazy=True) as ft:
        assert "glyf" in ft and ft.getBestCmap()[ord("章")]

    chars = "证照编号：ABC123晋城😀"
    sub = fonts.subset_font(face, chars, cache_dir=font_cache_dir)
    assert set(sub.cmap) == set(chars) - {"😀"}
    assert sub.missing == frozenset({"😀"})
    assert len(sub.widths) == len(sub.cmap) + 1  # + .notdef at GID 0
    assert sorted(sub.cmap.values()) == list(range(1, len(sub.widths)))
    assert sub.widths[sub.cmap["证"]] == 1000 and sub.descent < 0 < sub.ascent
    assert len(list(font_cache_dir.glob("subset-*.ttf"))) >= 1
    again = fonts.subset_font(face, chars, cache_dir=font_cache_dir)
    assert again == sub
    assert fonts.missing_chars(fonts.CJKFont(WQY, 0), "行政审批😀 ") == ["😀"]


@needs("fonts-urw-base35 (CFF font)", NIMBUS_OTF.is_file())
def test_cff_fonts_are_converted_to_truetype_outlines() -> None:
    """Noto CJK ships CFF outlines; the subset is converted to glyf so the stamp has one embedding path."""
    sub = fonts.subset_font(NIMBUS_OTF, "Hello 2026")
    with TTFont(io.BytesIO(sub.program)) as ft:
        assert "glyf" in ft and "CFF " not in ft
        glyph = ft["glyf"][ft.getBestCmap()[ord("H")]]
        assert glyph.numberOfContours > 0
    assert sub.widths[sub.cmap["H"]] > 600
