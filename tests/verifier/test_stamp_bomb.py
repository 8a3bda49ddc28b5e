"""A signature whose appearance stream is a "zip bomb" (a few hundred KB inflating to hundreds of MB): verifying it
must not inflate it. Before the fix, ``read_stamp``'s ``hasattr(appearance, "data")`` decoded the whole stream: a
470 KB PDF took 500 MB of memory, so a 20 MB upload to ``POST /v1/verify`` could take gigabytes."""

from __future__ import annotations

import subprocess
import sys
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from verifier.stamp import MAX_STAMP_STREAM_BYTES, bounded_stream_data

ROOT = Path(__file__).resolve().parents[2]
SIGNED = ROOT / "tests" / "fuzz" / "corpus" / "verify_pdf" / "sealed.pdf"
INFLATED = 300 * 1024 * 1024


def _deflated(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    chunk = b"0 0 m " * (1024 * 1024 // 6)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join(parts) + compressor.flush()


def _stream(encoded: bytes) -> generic.StreamObject:
    stream = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            generic.NameObject("/Filter"): generic.NameObject("/FlateDecode"),
        },
        encoded_data=encoded,
    )
    return stream


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fuzzing seed's signed PDF with its signature field's appearance replaced by a bomb (an update)."""
    writer = IncrementalPdfFileWriter(BytesIO(SIGNED.read_bytes()))
    field = writer.root["/AcroForm"]["/Fields"][0].get_object()
    field[generic.NameObject("/AP")] = generic.DictionaryObject(
        {generic.NameObject("/N"): writer.add_object(_stream(_deflated(INFLATED)))}
    )
    writer.update_container(field)
    out = BytesIO()
    writer.write(out)
    path = tmp_path_factory.mktemp("bomb") / "bomb.pdf"
    path.write_bytes(out.getvalue())
    return path


def test_bounded_stream_data_reads_what_a_stamp_can_be() -> None:
    small = b"BT /F1 12 Tf (licence) Tj ET " * 100
    assert bounded_stream_data(_stream(zlib.compress(small))) == small
    with pytest.raises(ValueError, match="more than a stamp"):
        bounded_stream_data(_stream(zlib.compress(b"0" * (MAX_STAMP_STREAM_BYTES + 1))))


def test_verifying_a_bomb_does_not_inflate_it(bomb: Path) -> None:
    assert bomb.stat().st_size < 1024 * 1024
    # A fresh process, so that its peak memory is this verification's alone.
    script = (
        "import resource, sys\n"
        "from datetime import UTC, datetime\n"
        "from cryptography import x509\n"
        "from verifier.verify import verify_pdf\n"
        f"root = x509.load_pem_x509_certificate(open({str(ROOT / 'tests/fuzz/pki/root.pem')!r}, 'rb').read())\n"
        f"data = open({str(bomb)!r}, 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "report = verify_pdf(data, trust_roots=[root], at=datetime(2026, 6, 2, tzinfo=UTC))\n"
        "grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024\n"
        "print(report.verdict, grown)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    verdict, grown_mb = done.stdout.split()
    assert int(grown_mb) < 100, f"verification grew by {grown_mb} MB"
    # The signed revision was changed by the update: the verdict says so.
    assert verdict in ("modified", "invalid", "indeterminate")
