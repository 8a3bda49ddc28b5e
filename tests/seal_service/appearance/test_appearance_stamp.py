"""The stamp style, checked end to end: pyHanko signs, poppler renders/extracts/lists fonts, zxing reads the QR."""

from __future__ import annotations

import io
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pikepdf
import pytest
import zxingcpp
from appearance_testkit import A4, AUTHORITY, URL, poppler, render_page, sample_text
from PIL import Image, ImageChops
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from seal_service.appearance import stamp as stamp_mod
from seal_service.appearance.stamp import SEAL_DIAMETER_PT, SealAppearance, stamp_box
from seal_service.errors import InvalidInput

PREVIEW = Path("/tmp/stamp-preview.png")


def _decode_qr(png: Path) -> list[str]:
    with Image.open(png) as img:
        return [r.text for r in zxingcpp.read_barcodes(img)]


def _count_red(img: Image.Image) -> int:
    """Pixels that are clearly seal red (R high, G and B low)."""
    r, g, b = img.convert("RGB").split()
    mask = ImageChops.multiply(
        ImageChops.multiply(r.point(lambda v: 255 if v > 180 else 0), g.point(lambda v: 255 if v < 90 else 0)),
        b.point(lambda v: 255 if v < 90 else 0),
    )
    return mask.histogram()[255]


def test_signed_stamp_renders_qr_text_and_embedded_subset(
    appearance: SealAppearance, sign, signer_cert, tmp_path: Path
) -> None:
    """(a) the QR decodes to the URL, (b) text extraction is right, (c) the font is an embedded subset."""
    pdf = sign(appearance, sample_text())

    # The signature itself is intact and valid (the appearance did not disturb signing).
    cert, _ = signer_cert
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[cert], allow_fetching=False))
    assert status.intact and status.valid, status.pretty_print_details()

    # (a) Render at 150 dpi; the QR code decodes to the verification URL.
    page_png = render_page(pdf, tmp_path)
    shutil.copyfile(page_png, PREVIEW)  # for humans: the stamped page
    assert _decode_qr(page_png) == [URL]

    # The seal is there and red: many strongly red pixels in the seal's square, bottom left of the widget.
    with Image.open(page_png) as img:
        x1, y1, _, _ = stamp_box(*A4, appearance)
        k = 150 / 72
        left = round((x1 + 4) * k)
        bottom = img.height - round((y1 + 4) * k)
        side = round(SEAL_DIAMETER_PT * k)
        seal = img.convert("RGB").crop((left, bottom - side, left + side, bottom))
        red = _count_red(seal)
        assert red > 0.12 * side * side, red

    # (b) ToUnicode works and nothing is garbled: the labels, number and Beijing time extract as written.
    text = poppler("pdftotext", "-layout", str(tmp_path / "doc.pdf"), "-")
    flat = re.sub(r"\s+", "", text)
    assert "证照编号：91140500MA0K8X2Q7L" in flat
    assert "盖章时间：2026-11-2813:45:00+08:00" in flat
    assert "扫码核验真伪" in flat

    # (c) pdffonts: the stamp font is a CID TrueType subset, embedded, with a ToUnicode map.
    fonts = poppler("pdffonts", str(tmp_path / "doc.pdf"))
    line = next(ln for ln in fonts.splitlines() if "WenQuanYi" in ln or "+" in ln.split(" ")[0])
    assert re.match(r"^[A-Z]{6}\+", line), line
    assert "CID TrueType" in line and "Identity-H" in line
    assert re.search(r"\byes\s+yes\s+yes\b", line), line  # emb, sub, uni


def test_font_dictionaries_are_well_formed(appearance: SealAppearance, sign) -> None:
    """Type0 / CIDFontType2 / Identity-H, dense /W widths, Length1, ToUnicode; prebuilt streams not re-encoded."""
    pdf = sign(appearance, sample_text())
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        annot = next(a for a in doc.pages[0].Annots if a.get("/FT") == "/Sig")
        xobj = annot.AP.N
        assert xobj.Filter == "/FlateDecode"
        font = xobj.Resources.Font.F1
        assert font.Subtype == "/Type0" and font.Encoding == "/Identity-H"
        cid = font.DescendantFonts[0]
        assert cid.Subtype == "/CIDFontType2" and cid.CIDToGIDMap == "/Identity"
        assert cid.CIDSystemInfo.Ordering == "Identity"
        subset = appearance.font_subset
        widths = [int(w) for w in cid.W[1]]
        assert int(cid.W[0]) == 0 and widths == list(subset.widths)
        assert widths[subset.cmap["证"]] == 1000  # ideographs are full width
        assert widths[subset.cmap["1"]] < 1000
        ff2 = cid.FontDescriptor.FontFile2
        assert int(ff2.Length1) == len(ff2.read_bytes()) == len(subset.program)
        assert str(font.BaseFont).startswith("/") and "+" in str(font.BaseFont)
        cmap = font.ToUnicode.read_bytes().decode("ascii")
        assert f"<{subset.cmap['证']:04X}> <8BC1>" in cmap  # 证 = U+8BC1

        # Pre-compressed: the bytes in the file are exactly the ones built once per seal.
        seal = xobj.Resources.XObject.Seal
        assert seal.read_raw_bytes() == appearance._image.rgb
        assert seal.SMask.read_raw_bytes() == appearance._image.alpha
        assert ff2.read_raw_bytes() == appearance._font.program


def test_two_documents_reuse_one_build(
    appearance: SealAppearance, sign, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """(e) one SealAppearance seals several documents; nothing of the build runs again."""
    calls: list[str] = []
    for name in ("subset_font", "extract_face", "locate_cjk_font", "load_seal_image", "_prepare_image"):
        original = getattr(stamp_mod, name)

        def spy(*args: object, _original=original, _name=name, **kwargs: object) -> object:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(stamp_mod, name, spy)

    urls = [f"{URL}&doc={i}" for i in range(2)]
    pdfs = [
        sign(appearance, sample_text(verify_url=u, licence_number=f"91140500MA0K8X2Q{i}L")) for i, u in enumerate(urls)
    ]
    assert calls == []
    for i, (pdf, url) in enumerate(zip(pdfs, urls, strict=True)):
        workdir = tmp_path / str(i)
        workdir.mkdir()
        assert _decode_qr(render_page(pdf, workdir)) == [url]
        text = poppler("pdftotext", str(workdir / "doc.pdf"), "-")
        assert f"91140500MA0K8X2Q{i}L" in text


def test_characters_outside_the_subset_trigger_one_rebuild(
    seal_png: bytes, font_cache_dir: Path, sign, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A licence number with new ideographs grows the subset once; later documents reuse the larger subset."""
    app = SealAppearance.build(seal_png=seal_png, font_cache_dir=font_cache_dir, extra_chars=AUTHORITY)
    before = app.font_subset
    assert "太" not in before.cmap

    calls = []
    original = stamp_mod.subset_font

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stamp_mod, "subset_font", spy)
    number = "太原准字（2026）第0001号"
    pdf = sign(app, sample_text(licence_number=number))
    app.stamp_style(sample_text(licence_number="太原准字（2026）第0002号"))
    assert len(calls) == 1
    assert before.chars < app.font_subset.chars
    (tmp_path / "doc.pdf").write_bytes(pdf)
    assert number in poppler("pdftotext", str(tmp_path / "doc.pdf"), "-")


def test_long_licence_numbers_stay_inside_the_box(appearance: SealAppearance, blank_licence: bytes) -> None:
    """A 40-character licence number is set smaller and, below 5 pt, condensed; it never leaves the widget."""
    box = BoxConstraints(width=appearance.width, height=appearance.height)
    content = (
        appearance.stamp_style(sample_text(licence_number=AUTHORITY * 3 + "证照编号"))
        .create_stamp(IncrementalPdfFileWriter(io.BytesIO(blank_licence)), box, {})
        .render()
    )
    first = next(ln for ln in content.splitlines() if b" Tj" in ln)
    size, scale = re.match(rb"/F1 ([\d.]+) Tf ([\d.]+) Tz ", first).groups()  # type: ignore[union-attr]
    assert float(size) == 5.0 and float(scale) < 100
    assert b"100 Tz" in first  # reset for the following lines
    sub = appearance.font_subset
    width = sub.text_width("证照编号：" + AUTHORITY * 3 + "证照编号", 5.0) * float(scale) / 100
    assert width <= appearance.text_width + 0.01


def test_character_the_font_lacks_is_rejected(appearance: SealAppearance) -> None:
    """A character with no glyph in the CJK font is an InvalidInput naming it, not tofu in a sealed document."""
    with pytest.raises(InvalidInput, match="😀"):
        appearance.stamp_style(sample_text(licence_number="证😀1"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("licence_number", ""),
        ("licence_number", " 123"),
        ("licence_number", "1\n2"),
        ("licence_number", "9" * 41),
        ("sealed_at", datetime(2026, 11, 28, 13, 45)),  # naive: which timezone?
        ("verify_url", "ftp://example.gov.cn/x"),
        ("verify_url", "https://example.gov.cn/a b"),
        ("verify_url", "https://例子.gov.cn/"),
        ("verify_url", "https://example.gov.cn/" + "x" * 200),
    ],
)
def test_stamp_text_is_validated(field: str, value: object) -> None:
    """Bad stamp text fails early and clearly."""
    with pytest.raises(InvalidInput):
        sample_text(**{field: value})


def test_time_is_shown_in_beijing_time() -> None:
    """Whatever the input offset, the stamp shows China Standard Time with an explicit +08:00."""
    text = sample_text(sealed_at=datetime(2026, 11, 28, 0, 45, tzinfo=timezone(timedelta(hours=-5))))
    assert text.lines()[1] == "盖章时间：2026-11-28 13:45:00 +08:00"


def test_stamp_box_bottom_right_and_scaled_on_small_pages(appearance: SealAppearance) -> None:
    """A4: full size, 36 pt from the bottom-right corner; A6: scaled down uniformly to fit; tiny: refused."""
    x1, y1, x2, y2 = stamp_box(*A4, appearance)
    assert (x2, y1) == (559.0, 36.0)
    assert (x2 - x1, y2 - y1) == (appearance.width, appearance.height)
    assert all(v == int(v) for v in (x1, y1, x2, y2))  # pyHanko truncates widget sizes to whole points

    a6 = (297.64, 419.53)
    x1, y1, x2, y2 = stamp_box(*a6, appearance)
    assert x1 >= 36 and x2 <= a6[0] - 36
    assert abs((x2 - x1) / (y2 - y1) - appearance.width / appearance.height) < 0.02
    with pytest.raises(InvalidInput):
        stamp_box(80, 80, appearance)


def test_box_of_another_size_scales_the_content(appearance: SealAppearance, sign, tmp_path: Path) -> None:
    """A smaller widget (e.g. A6 page) gets the same stamp, uniformly scaled, and its QR code still reads."""
    x2, y1 = 559.0, 36.0
    w, h = round(appearance.width * 0.8), round(appearance.height * 0.8)
    pdf = sign(appearance, sample_text(), box=(x2 - w, y1, x2, y1 + h))
    assert _decode_qr(render_page(pdf, tmp_path)) == [URL]
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        content = next(a for a in doc.pages[0].Annots if a.get("/FT") == "/Sig").AP.N.read_bytes()
    assert re.match(rb"q\n0\.79\d* 0 0 0\.79\d* [\d.]+ [\d.]+ cm\n", content)  # the uniform scale comes first
