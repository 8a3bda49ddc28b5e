"""The renewal revision written directly (seal_service/archive/fast_revision.py) against the one pyHanko writes:
the same DSS content, the same kind of field, a time-stamp valid over the right byte range, in a chain of three
generations; accepted by pyHanko, poppler ``pdfsig`` and ``seal-verify``; a file of another shape falls back to
pyHanko. (The proof after the first TSA certificate expired, with pyHanko's AdES validation and ``seal-verify``
under libfaketime, is test_renewal_proof.py: it runs the direct path and checks that it did.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from seal_service import archive
from seal_service.archive import ArchiveRenewer, NotRenewable
from seal_service.archive.fast_revision import build_renewal_revision
from seal_service.archive.tsa_rotation import rotate_tsa
from seal_service.instance import PkiRole
from seal_service.protocols.tsa import InProcessTimeStamper
from tests.conftest import make_instance, make_settings
from tests.support.archive import seal_blta
from tests.support.verifiers import make_nss_db, pdfsig

SEAL_VERIFY = str(Path(sys.executable).with_name("seal-verify"))


@pytest.fixture(scope="module")
def renewals(tmp_path_factory: pytest.TempPathFactory, licence_pdf: bytes):  # type: ignore[no-untyped-def]
    """An instance with one sealed B-LTA licence and a rotated TSA; generations 2 and 3 made both ways."""
    instance = make_instance(make_settings(tmp_path_factory.mktemp("fastrev")))
    now = datetime.now(UTC)
    issued = archive.licence_pdf(instance, seal_blta(instance, licence_pdf, at=now))[0]
    rotate_tsa(instance, at=now + timedelta(minutes=1), actor="test")
    fast, slow = ArchiveRenewer(instance), ArchiveRenewer(instance, fast=False)
    # A month apart: the root's CRL of each renewal is a new one, so the DSS gains it.
    at2, at3 = now + timedelta(days=30), now + timedelta(days=60)
    gen2 = fast.renew_pdf(issued, at=at2)
    gen2_slow = slow.renew_pdf(issued, at=at2)
    gen3 = fast.renew_pdf(gen2.pdf, at=at3)
    gen3_slow = slow.renew_pdf(gen2.pdf, at=at3)  # from the same input as the direct one
    yield {
        "instance": instance,
        "issued": issued,
        "gen2": gen2,
        "gen2_slow": gen2_slow,
        "gen3": gen3,
        "gen3_slow": gen3_slow,
        "at2": at2,
        "at3": at3,
    }
    instance.engine.dispose()


def _root(instance) -> asn1_x509.Certificate:  # type: ignore[no-untyped-def]
    der = instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def _dss(pdf: bytes) -> tuple[set[bytes], set[bytes], set[bytes]]:
    dss = DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(pdf)))
    return (
        {ref.get_object().data for ref in dss.certs.values()},
        {ref.get_object().data for ref in dss.crls},
        {ref.get_object().data for ref in dss.ocsps},
    )


def _newest(pdf: bytes, root: asn1_x509.Certificate, at: datetime):  # type: ignore[no-untyped-def]
    """(field, signature dictionary, pyHanko's time-stamp status) of the newest document time-stamp."""
    reader = PdfFileReader(BytesIO(pdf))
    stamp = reader.embedded_timestamp_signatures[-1]
    context = ValidationContext(trust_roots=[root], allow_fetching=False, moment=at + timedelta(minutes=1))
    status = validate_pdf_timestamp(stamp, validation_context=context)
    return stamp, status


@pytest.mark.parametrize("generation", ["gen2", "gen3"])
def test_the_direct_revision_holds_what_pyhankos_holds(renewals, generation: str) -> None:  # type: ignore[no-untyped-def]
    direct, slow = renewals[generation], renewals[f"{generation}_slow"]
    at = renewals["at2" if generation == "gen2" else "at3"]
    source = renewals["issued"] if generation == "gen2" else renewals["gen2"].pdf
    assert direct.built_by == "direct" and slow.built_by == "pyhanko"
    assert direct.pdf.startswith(source) and slow.pdf.startswith(source)  # incremental: nothing before changes
    # (a) The same DSS content: the newest time-stamp's TSA certificate and chain, the root, the root's CRL.
    assert _dss(direct.pdf) == _dss(slow.pdf)
    assert _dss(direct.pdf) != _dss(source)  # something was added (this generation's CRL, gen3 also TSA 2)
    root = _root(renewals["instance"])
    ours, ours_status = _newest(direct.pdf, root, at)
    theirs, theirs_status = _newest(slow.pdf, root, at)
    # (b) The same kind of field: a document time-stamp of the same name, invisible, on the same page.
    assert ours.field_name == theirs.field_name == f"ArchiveTimestamp{3 if generation == 'gen3' else 2}"
    for key in ("/Type", "/Filter", "/SubFilter"):
        assert ours.sig_object[key] == theirs.sig_object[key]
    assert ours.sig_object["/Type"] == "/DocTimeStamp" and ours.sig_object["/SubFilter"] == "/ETSI.RFC3161"
    ours_field, theirs_field = ours.sig_field, theirs.sig_field
    for key in ("/FT", "/Subtype", "/F", "/Rect"):
        assert ours_field[key] == theirs_field[key], key
    assert ours_field.raw_get("/P").idnum == theirs_field.raw_get("/P").idnum
    # (c) A valid time-stamp over the whole file but its /Contents, and pyHanko sees only an LTA update.
    for status in (ours_status, theirs_status):
        assert status.intact and status.valid and status.trusted, status
        assert status.coverage.name == "ENTIRE_FILE"
        assert status.modification_level.name in ("NONE", "LTA_UPDATES"), status.modification_level
    (a, b, c, d) = ours.byte_range
    assert a == 0 and c + d == len(direct.pdf) and direct.pdf[b : b + 1] == b"<" and direct.pdf[c - 1 : c] == b">"
    assert ours_status.timestamp == at.replace(microsecond=0)
    # The document's modification date is the renewal's (pyHanko's writer takes the wall clock).
    # qpdf reads the new cross-reference table without repairing anything.
    with pikepdf.open(BytesIO(direct.pdf)) as checked:
        assert not checked.check_pdf_syntax() and not checked.get_warnings()
    info = PdfFileReader(BytesIO(direct.pdf)).trailer_view["/Info"]
    assert info["/ModDate"] == "D:" + at.strftime("%Y%m%d%H%M%SZ")
    assert f'xmp:ModifyDate="{at.replace(microsecond=0).isoformat()}"'.encode() in direct.pdf[len(source) :]


def test_three_generations_verify_with_seal_verify_and_pdfsig(renewals, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    instance = renewals["instance"]
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.PEM))
    third = tmp_path / "third.pdf"
    third.write_bytes(renewals["gen3"].pdf)
    stamps = PdfFileReader(BytesIO(third.read_bytes())).embedded_timestamp_signatures
    assert [s.field_name for s in stamps] == ["ArchiveTimestamp", "ArchiveTimestamp2", "ArchiveTimestamp3"]
    done = subprocess.run(
        [SEAL_VERIFY, "--trust-root", str(root_pem), "--json", str(third)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (report,) = json.loads(done.stdout)
    assert done.returncode == 0 and report["verdict"] == "valid", report
    # poppler: the seal is intact under the three appended revisions; the newest time-stamp covers the file.
    output = pdfsig(third, make_nss_db(tmp_path / "nss", root_pem), "-nocert")
    seal = next(part for part in output.split("Signature #") if "Field Name: ApprovalSeal" in part)
    assert "Signature Validation: Signature is Valid." in seal, output
    newest = next(part for part in output.split("Signature #") if "Field Name: ArchiveTimestamp3" in part)
    assert "Total document signed" in newest, output
    ranges = re.search(r"Signed Ranges: \[0 - (\d+)\], \[(\d+) - (\d+)\]", newest)
    assert ranges is not None and int(ranges.group(3)) == len(renewals["gen3"].pdf)


def test_a_file_of_another_shape_falls_back_to_pyhanko(renewals) -> None:  # type: ignore[no-untyped-def]
    """A DSS with a VRI dictionary (our files have none) under a document time-stamp covering the whole file: the
    direct builder refuses it without asking the TSA, and the renewal goes through pyHanko, valid as before."""
    instance, issued, at = renewals["instance"], renewals["issued"], renewals["at2"]
    writer = IncrementalPdfFileWriter(BytesIO(issued))
    previous = PdfFileReader(BytesIO(issued)).embedded_timestamp_signatures[-1]
    DocumentSecurityStore.supply_dss_in_writer(writer, previous.pkcs7_content, certs=[_root(instance)], crls=[])
    stamper = PdfTimeStamper(InProcessTimeStamper(instance.timestamps, clock=lambda: at), field_name="Other")
    with_vri = stamper.timestamp_pdf(writer, md_algorithm="sha256", bytes_reserved=8192).getvalue()
    assert b"/VRI" in with_vri

    asked: list[bytes] = []
    for shape in (with_vri, renewals["issued"][:-200], b"%PDF-1.7\nnot really\n%%EOF\n"):
        built = build_renewal_revision(
            shape,
            field_name="ArchiveTimestamp9",
            certs=[],
            crls=[],
            token=lambda digest: asked.append(digest) or b"",
            at=at,
            reserved_hex=8192,
        )
        assert built is None
    # A name taken already (the renewal's own numbering gone wrong, or the seal's field) is refused too.
    for taken in ("ArchiveTimestamp2", "ApprovalSeal"):
        built = build_renewal_revision(
            renewals["gen2"].pdf,
            field_name=taken,
            certs=[],
            crls=[],
            token=lambda digest: asked.append(digest) or b"",
            at=at,
            reserved_hex=8192,
        )
        assert built is None, taken
    assert asked == []  # nothing was time-stamped for a file the builder refused

    renewed = ArchiveRenewer(instance).renew_pdf(with_vri, at=at + timedelta(hours=1))
    assert renewed.built_by == "pyhanko"
    stamp, status = _newest(renewed.pdf, _root(instance), at + timedelta(hours=1))
    assert stamp.field_name == "ArchiveTimestamp3" and status.valid and status.intact
    with pytest.raises(NotRenewable):
        ArchiveRenewer(instance).renew_pdf(b"%PDF-1.7\nnot really\n%%EOF\n", at=at)


def test_a_licence_with_cross_reference_streams_gets_one(renewals, licence_pdf: bytes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An input PDF written with object and cross-reference streams: the sealer's updates and the renewal's keep
    that style (a cross-reference stream with /Prev), and the renewal is still built directly."""
    instance = renewals["instance"]
    source = pikepdf.open(BytesIO(licence_pdf))
    out = BytesIO()
    source.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    issued = archive.licence_pdf(instance, seal_blta(instance, out.getvalue()))[0]
    at = datetime.now(UTC) + timedelta(days=1)
    renewed = ArchiveRenewer(instance).renew_pdf(issued, at=at)
    assert renewed.built_by == "direct"
    tail = renewed.pdf[len(issued) :]
    assert b"/Type /XRef" in tail and b"\nxref\n" not in tail
    prev = int(re.search(rb"/Prev (\d+)", tail).group(1))  # type: ignore[union-attr]
    assert prev == int(re.findall(rb"startxref\s+(\d+)", issued)[-1])
    stamp, status = _newest(renewed.pdf, _root(instance), at)
    assert stamp.field_name == "ArchiveTimestamp2" and status.valid and status.intact and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    # pikepdf (qpdf) reads the result without warnings, through the new cross-reference stream.
    with pikepdf.open(BytesIO(renewed.pdf)) as pdf:
        assert len(pdf.Root.AcroForm.Fields) == len(PdfFileReader(BytesIO(issued)).root["/AcroForm"]["/Fields"]) + 1
        assert not pdf.check_pdf_syntax() and not pdf.get_warnings()


def test_damaged_newest_revisions_are_refused_or_renewed_readably(renewals) -> None:  # type: ignore[no-untyped-def]
    """One byte of the newest revision changed, 120 ways (seeded): the builder never raises; it refuses the file
    or appends a revision that pyHanko reads with the new document time-stamp as the last field."""
    import random

    data = renewals["gen2"].pdf
    newest = data.rfind(b"%%EOF", 0, len(data) - 10)
    rng = random.Random(11)  # noqa: S311 - a seeded, repeatable choice of damage, not a secret
    refused = 0
    for _ in range(120):
        damaged = bytearray(data)
        damaged[rng.randrange(newest, len(data))] = rng.choice(b"0123456789 /<>[]()RnobjAZ\n")
        built = build_renewal_revision(
            bytes(damaged),
            field_name="ArchiveTimestamp3",
            certs=[],
            crls=[],
            token=lambda digest: bytes.fromhex("3003020101"),  # any DER: only the structure is looked at here
            at=renewals["at3"],
            reserved_hex=8192,
        )
        if built is None:
            refused += 1
            continue
        assert built.startswith(bytes(damaged))
        field = PdfFileReader(BytesIO(built), strict=False).root["/AcroForm"]["/Fields"][-1]
        assert field["/T"] == "ArchiveTimestamp3" and field["/V"]["/Type"] == "/DocTimeStamp"
    assert 0 < refused < 120
