"""A sample licence to seal, so the quick start and the docs work without a document of one's own.

Example::

    >>> demo_licence_pdf()[:5]
    b'%PDF-'
"""

from __future__ import annotations

from io import BytesIO


def demo_licence_pdf(
    *, title: str = "Food Business Licence", holder: str = "Jincheng Example Catering Co., Ltd."
) -> bytes:
    """A one-page A4 PDF with a title and a holder line, as an approval system would hand in (unsigned)."""
    import pikepdf

    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    content = (
        f"BT /F1 28 Tf 150 760 Td ({title}) Tj ET "
        f"BT /F1 12 Tf 72 700 Td (Holder: {holder}) Tj ET "
        "BT /F1 12 Tf 72 680 Td (Sample document of the one-seal service) Tj ET"
    ).encode("latin-1")
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
        Contents=pdf.make_stream(content),
    )
    pdf.pages.append(pikepdf.Page(page))
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


__all__ = ["demo_licence_pdf"]
