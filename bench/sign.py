"""Sealing speed of seal_service against stock pyHanko, measured in the same run (a benchmark, not a test).

Run from the repository root (the script puts the root on ``sys.path`` to reuse ``tests.support`` helpers)::

    .venv/bin/python bench/sign.py                      # 30 iterations per level, ~3 min on 2 cores
    .venv/bin/python bench/sign.py --quick              # 5 iterations per level (stock: 3), for a smoke run
    .venv/bin/python bench/sign.py --iterations 50 --stock-iterations 10 --profile-docs 40
    .venv/bin/python bench/sign.py --ablation             # stock pyHanko + our fixes one at a time (~1 min)

What it does, on two throwaway instances (ECDSA P-256 and RSA-3072 seal keys, dev PKI, demo seals):

1. Ours: ``Sealer.seal_pdf`` (the signing core) and ``seal_licence`` (PDF checks, serial, DB record, audit) at
   PAdES B-B, B-T, B-LT and B-LTA, with the visible stamp (seal image, QR code, Chinese text), on a tiny generated
   licence (``tests.support.pdfs.sample_licence_pdf``) and on a ~50 KB one-page licence with a security-pattern
   background and a full page of text. RSA-3072: B-B and B-LTA.
2. Stock pyHanko on the same documents with the same certificate and key: ``SimpleSigner.load`` from PEM files
   (once; pyHanko itself re-parses the key on every signature), no ``bytes_reserved`` (size estimation runs), an
   appearance built per document with pyHanko's ``QRStampStyle`` (a ``TextStampStyle`` with a QR code), a CJK
   face extracted once from wqy-zenhei.ttc and loaded per document with ``GlyphAccumulatorFactory``, the seal PNG
   as background; B-LT/B-LTA with ``embed_validation_info=True`` (``use_pades_lta=True`` for B-LTA) and an
   offline ``ValidationContext`` fed with our own OCSP response and CRLs. Its timestamper is our in-process RFC
   3161 authority (``InProcessTimeStamper``), exactly as ours uses, so the baseline pays no HTTP.
3. Prints median and p90 per document, the stock/ours ratio, peak memory (tracemalloc peak per document and the
   process RSS high-water mark after each phase), a validity check of one output per signer (pyHanko
   validation, offline), the target check, and a cProfile summary of where our B-LTA time goes.

Timings are wall-clock per document (``time.perf_counter``) after a few warm-up documents; each document gets a
fresh ``at`` (now), licence number and verification URL.
"""

# The project imports must follow the sys.path set-up below.
# ruff: noqa: E402

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import io
import logging
import math
import os
import platform
import pstats
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pikepdf
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fontTools.ttLib import TTCollection
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.stamp import QRStampStyle
from pyhanko_certvalidator import ValidationContext

from seal_service.appearance.stamp import StampText, stamp_box
from seal_service.instance import Instance, PkiRole
from seal_service.protocols.tsa import InProcessTimeStamper
from seal_service.services.sealing import LicenceRequest, load_material, seal_licence
from seal_service.settings import KeyAlgorithm
from seal_service.signing.sealer import PadesLevel, SealMaterial, _reservation
from seal_service.storage.models import Seal
from tests.conftest import make_instance, make_settings
from tests.support.pdfs import sample_licence_pdf

PUBLIC_URL = "https://zwfw.jincheng.example"
SEAL_ID = "jc-bureau-approval"
ITEM_CODE = "JC-001"
HOLDER = "晋城市某某餐饮有限公司"
CJK_COLLECTION = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
STOCK_STAMP_TEXT = "证照编号：%(number)s\n盖章时间：%(ts)s\n扫码核验真伪"
STOCK_STAMP_TEXT_LATIN = "Licence no.: %(number)s\nSealed at: %(ts)s\nScan to verify"
ALL_LEVELS = (PadesLevel.B_B, PadesLevel.B_T, PadesLevel.B_LT, PadesLevel.B_LTA)
TARGET_MS = 60.0
TARGET_RATIO = 5.0


# --- documents --------------------------------------------------------------------------------------------------
def realistic_licence_pdf() -> bytes:
    """A one-page A4 licence of about 50 KB: a guilloche background image (JPEG) and a full page of text.

    Deterministic (seeded), compressed streams, no signatures, nothing active: what an approval system hands in.
    """
    rng = random.Random(20261128)
    w, h = 600, 850
    img = Image.new("RGB", (w, h), (250, 246, 236))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        a, b, phase = rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0, 6.3)
        colour = (rng.randint(200, 240), rng.randint(205, 240), rng.randint(180, 230))
        points = [
            (w / 2 + w / 2.3 * math.sin(a * t / 400 + phase), h / 2 + h / 2.3 * math.cos(b * t / 400))
            for t in range(0, 2600, 3)
        ]
        draw.line(points, fill=colour, width=1)
    jpeg = io.BytesIO()
    img.save(jpeg, "JPEG", quality=50)

    pdf = pikepdf.new()
    helvetica = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    background = pikepdf.Stream(pdf, jpeg.getvalue())
    background.Type = pikepdf.Name.XObject
    background.Subtype = pikepdf.Name.Image
    background.Width, background.Height = w, h
    background.ColorSpace = pikepdf.Name.DeviceRGB
    background.BitsPerComponent = 8
    background.Filter = pikepdf.Name.DCTDecode
    lines = [
        "q 595 0 0 842 0 0 cm /Bg Do Q",
        "q 0.55 0.1 0.1 RG 3 w 30 30 535 782 re S 1 w 38 38 519 766 re S Q",
        "BT /F1 26 Tf 140 770 Td (Food Business Licence) Tj ET",
        "BT /F1 11 Tf 200 748 Td (Licence No. 140500-2026-0001234) Tj ET",
    ]
    fields_text = [
        ("Holder", "Jincheng Example Catering Co., Ltd."),
        ("Unified social credit code", "91140500MA0L2B3C4D"),
        ("Legal representative", "Zhang San"),
        ("Address", "No. 88 Zezhou Road, Chengqu District, Jincheng, Shanxi"),
        ("Business premises", "Ground floor, No. 88 Zezhou Road"),
        ("Main business", "Catering services (hot food, cold food, pastries, beverages)"),
        ("Issuing authority", "Jincheng Administrative Approval Service Bureau"),
        ("Valid from", "2026-11-28"),
        ("Valid until", "2031-11-27"),
    ]
    y = 700
    for label, value in fields_text:
        lines.append(f"BT /F1 11 Tf 60 {y} Td ({label}:) Tj 170 0 Td ({value}) Tj ET")
        lines.append(f"q 0.6 G 0.5 w 60 {y - 6} m 535 {y - 6} l S Q")
        y -= 24
    y -= 10
    conditions = [
        "The holder shall carry on business within the scope and at the premises stated on this licence.",
        "The licence shall be displayed in a prominent position at the business premises.",
        "Any change of the registered particulars must be applied for within 10 working days.",
        "The holder shall keep purchase records of food and food raw materials for at least two years.",
        "Staff handling food shall hold valid health certificates and receive annual food-safety training.",
        "Premises, equipment and utensils shall be kept clean; tableware shall be cleaned and disinfected.",
        "Food additives shall be used only within the permitted scope and quantities.",
        "The holder accepts supervision and inspection by the market regulation authority.",
        "Forgery, alteration, lending, renting or transfer of this licence is prohibited.",
        "The electronic licence has the same legal effect as the paper licence.",
    ]
    lines.append(f"BT /F1 12 Tf 60 {y} Td (Conditions) Tj ET")
    y -= 20
    for number, text in enumerate(conditions * 2, start=1):
        lines.append(f"BT /F1 8.5 Tf 60 {y} Td ({number}. {text}) Tj ET")
        y -= 13
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(
            Font=pikepdf.Dictionary(F1=helvetica), XObject=pikepdf.Dictionary(Bg=pdf.make_indirect(background))
        ),
        Contents=pdf.make_stream("\n".join(lines).encode()),
    )
    pdf.pages.append(pikepdf.Page(page))
    pdf.docinfo["/Title"] = "Food Business Licence 140500-2026-0001234"
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


# --- statistics -------------------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Per-document wall-clock times of one (signer, document, level) combination, in ms."""

    values: list[float] = field(default_factory=list)
    cpu_values: list[float] = field(default_factory=list)
    """Process CPU time per document (``time.process_time``), ms: what other processes on the machine cannot
    inflate much, unlike wall time."""

    @property
    def median(self) -> float:
        """Median ms per document."""
        return statistics.median(self.values) if self.values else math.nan

    @property
    def p90(self) -> float:
        """90th percentile (nearest rank) ms per document."""
        if not self.values:
            return math.nan
        ordered = sorted(self.values)
        return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]

    @property
    def cpu_median(self) -> float:
        """Median process CPU ms per document."""
        return statistics.median(self.cpu_values) if self.cpu_values else math.nan

    def cell(self) -> str:
        """``median / p90`` for a table."""
        if not self.values:
            return "-"
        return f"{self.median:7.1f} / {self.p90:7.1f}"


def time_interleaved(runners: dict[str, tuple[Callable[[], object], int, int]]) -> dict[str, Timing]:
    """Time several signers on the same work, interleaved so that background load hits them alike.

    ``runners`` maps a name to ``(run, warmup, iterations)``. All warm-ups run first; then the measured runs are
    spread evenly over the rounds (a runner with fewer iterations runs in every k-th round), one document each.
    No ``gc.collect()`` between documents: in a trial run it made our B-LTA documents 10-15 ms slower (probably
    freed arenas faulted in again), which is not how a service runs.
    """
    for run, warmup, _ in runners.values():
        for _ in range(warmup):
            run()
    rounds = max(iterations for _, _, iterations in runners.values())
    timings = {name: Timing() for name in runners}
    for r in range(rounds):
        for name, (run, _, iterations) in runners.items():
            if (r * iterations) // rounds == ((r + 1) * iterations) // rounds:
                continue
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            timings[name].cpu_values.append((time.process_time() - start_cpu) * 1000)
            timings[name].values.append((time.perf_counter() - start) * 1000)
    return timings


def cpu_counters() -> tuple[float, float, float]:
    """Machine-wide busy and steal seconds (all CPUs, /proc/stat) and this process's CPU seconds."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return math.nan, math.nan, time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values[:8]) - idle - steal) / tick, steal / tick, time.process_time()


def rss_mib() -> float:
    """The process's resident-set high-water mark (ru_maxrss, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tracemalloc_peak_mib(run: Callable[[int], object], *, docs: int) -> float:
    """The largest tracemalloc peak over ``docs`` documents (Python-level allocations only), in MiB."""
    tracemalloc.start()
    try:
        peak = 0
        for i in range(docs):
            tracemalloc.reset_peak()
            run(10_000 + i)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    return peak / 2**20


# --- the two signers --------------------------------------------------------------------------------------------
@dataclass
class Rig:
    """One instance with one seal, and the same key and certificate prepared for stock pyHanko."""

    label: str
    instance: Instance
    material: SealMaterial
    certificate: x509.Certificate
    seal_png: bytes
    root: asn1_x509.Certificate
    stock_signer: signers.SimpleSigner
    font_face: Path
    box: tuple[int, int, int, int]
    serial: int = 0

    def next_text(self, at: datetime) -> StampText:
        """A fresh licence number and verification URL, as a real licence would have."""
        self.serial += 1
        return StampText(
            licence_number=f"140500-{at.year}{self.serial:07d}",
            sealed_at=at,
            verify_url=f"{PUBLIC_URL}/v/L{secrets.token_hex(10).upper()}",
        )

    def ours_core(self, pdf: bytes, level: PadesLevel) -> bytes:
        """Our signing core alone."""
        at = datetime.now(UTC)
        return self.instance.sealer.seal_pdf(pdf, material=self.material, level=level, text=self.next_text(at), at=at)

    def ours_full(self, pdf: bytes, level: PadesLevel, *, gm: bool = True) -> bytes:
        """The full licence flow: checks, serial, signature(s), record and audit entry; ``gm``: dual seal."""
        request = LicenceRequest(item_code=ITEM_CODE, holder_name=HOLDER, seal_id=SEAL_ID, level=level, gm=gm)
        return seal_licence(self.instance, pdf, request, actor="bench", at=datetime.now(UTC)).pdf

    def revocation_material(self, at: datetime) -> tuple[list[asn1_ocsp.OCSPResponse], list[asn1_crl.CertificateList]]:
        """Our pre-produced OCSP response for the seal certificate and the two CRLs (same calls as the sealer)."""
        revocation = self.instance.revocation
        ocsps = [asn1_ocsp.OCSPResponse.load(revocation.ocsp.response_for(self.certificate, at=at))]
        crls = [asn1_crl.CertificateList.load(revocation.crl(role, at=at)) for role in ("root", "seal-ca")]
        return ocsps, crls

    def stock(
        self, pdf: bytes, level: PadesLevel, *, cjk: bool = True, reserve: bool = False, kept_key: bool = False
    ) -> bytes:
        """Stock pyHanko, configured as its documentation shows, with everything built per document.

        ``cjk=False`` is a diagnostic variant, not a usable seal: Latin labels in pyHanko's default (non-embedded
        Courier) font, to show what stock costs apart from the CJK font. ``reserve`` (our fixed ``bytes_reserved``)
        and ``kept_key`` (our key-holding signer instead of ``SimpleSigner``) apply one of our fixes each, for the
        ``--ablation`` mode.
        """
        at = datetime.now(UTC)
        text = self.next_text(at)
        style = QRStampStyle(
            stamp_text=STOCK_STAMP_TEXT if cjk else STOCK_STAMP_TEXT_LATIN,
            text_box_style=(
                TextBoxStyle(font=GlyphAccumulatorFactory(str(self.font_face)), font_size=8)
                if cjk
                else TextBoxStyle(font_size=8)
            ),
            background=PdfImage(Image.open(io.BytesIO(self.seal_png))),
            border_width=0,
        )
        extra: dict[str, object] = {}
        if level.long_term:
            ocsps, crls = self.revocation_material(at)
            extra = {
                "embed_validation_info": True,
                "use_pades_lta": level is PadesLevel.B_LTA,
                "validation_context": ValidationContext(
                    trust_roots=[self.root], allow_fetching=False, ocsps=ocsps, crls=crls
                ),
            }
        meta = signers.PdfSignatureMetadata(
            field_name="ApprovalSeal",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason="行政审批专用章 电子印章",
            **extra,  # type: ignore[arg-type]
        )
        timestamper = InProcessTimeStamper(self.instance.timestamps, clock=lambda: at) if level.timestamped else None
        pdf_signer = signers.PdfSigner(
            meta,
            self.material.signer if kept_key else self.stock_signer,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec(sig_field_name="ApprovalSeal", on_page=-1, box=self.box),
        )
        out = pdf_signer.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False),
            appearance_text_params={"url": text.verify_url, "number": text.licence_number},
            bytes_reserved=_reservation(level, rsa=self.material.is_rsa) if reserve else None,
        )
        return out.getvalue()

    def check_valid(self, signed: bytes, level: PadesLevel) -> str:
        """pyHanko's offline verdict on ``signed`` (signature, and document timestamp for B-LTA)."""
        at = datetime.now(UTC)
        ocsps, crls = self.revocation_material(at)
        context = ValidationContext(trust_roots=[self.root], allow_fetching=False, ocsps=ocsps, crls=crls)
        reader = PdfFileReader(io.BytesIO(signed))
        verdicts = []
        for sig in reader.embedded_regular_signatures:
            status = validate_pdf_signature(sig, signer_validation_context=context)
            verdicts.append(
                ("signature", status.bottom_line, level.timestamped == (status.timestamp_validity is not None))
            )
        for sig in reader.embedded_timestamp_signatures:
            verdicts.append(("doc-timestamp", validate_pdf_timestamp(sig, validation_context=context).trusted, True))
        # pyHanko's .get() returns the unresolved reference; indexing resolves it.
        dss = reader.root["/DSS"] if "/DSS" in reader.root else None  # noqa: SIM401
        dss_counts = {str(k)[1:]: len(dss[k]) for k in dss if k != "/VRI"} if dss is not None else {}
        ok = all(good and shape for _, good, shape in verdicts) and (
            bool(dss_counts.get("OCSPs")) and bool(dss_counts.get("CRLs")) if level.long_term else True
        )
        if level is PadesLevel.B_LTA and not reader.embedded_timestamp_signatures:
            ok = False
        parts = ", ".join(f"{name} {'valid' if good else 'INVALID'}" for name, good, _ in verdicts)
        # CMS size against the space reserved for it in /Contents (what a fixed bytes_reserved must cover).
        sizes = ", ".join(
            f"{len(sig.signed_data.dump())}/{len(sig.sig_object['/Contents'])}"
            for sig in (*reader.embedded_regular_signatures, *reader.embedded_timestamp_signatures)
        )
        return (
            f"{'ok' if ok else 'FAILED'}: {parts}; DSS {dss_counts or 'none'}; "
            f"CMS/reserved bytes {sizes}; {len(signed) / 1024:.1f} KiB"
        )


def extract_face(workdir: Path) -> Path:
    """Extract face 0 of the WenQuanYi Zen Hei collection (pyHanko cannot open .ttc files) into ``workdir``."""
    target = workdir / "wqy-zenhei-0.ttf"
    collection = TTCollection(str(CJK_COLLECTION))
    try:
        collection.fonts[0].save(str(target))
    finally:
        collection.close()
    return target


def make_rig(label: str, algorithm: KeyAlgorithm, workdir: Path, font_face: Path) -> Rig:
    """A fresh initialised instance with ``algorithm`` keys, and the seal's key as PEM files for stock pyHanko."""
    home = workdir / algorithm.value
    instance = make_instance(make_settings(home, public_url=PUBLIC_URL, key_algorithm=algorithm))
    with instance.sessions() as session:
        seal = session.get(Seal, SEAL_ID)
        assert seal is not None, f"the demo seal {SEAL_ID} is missing"
        cert_row = seal.certificates[-1]
        material = load_material(instance, seal, cert_row)
        seal_png = seal.image_png
        key_ref = cert_row.key_ref
        certificate = x509.load_der_x509_certificate(cert_row.certificate_der)
    key = instance.keys.resolve(key_ref)
    stock_dir = home / "stock"
    stock_dir.mkdir()
    pem = serialization.Encoding.PEM
    (stock_dir / "seal.key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (stock_dir / "seal.cert.pem").write_bytes(certificate.public_bytes(pem))
    (stock_dir / "chain.pem").write_bytes(
        b"".join(instance.pki.certificate(role).public_bytes(pem) for role in (PkiRole.SEAL_CA, PkiRole.ROOT))
    )
    stock_signer = signers.SimpleSigner.load(
        str(stock_dir / "seal.key.pem"),
        str(stock_dir / "seal.cert.pem"),
        ca_chain_files=(str(stock_dir / "chain.pem"),),
    )
    assert stock_signer is not None, "pyHanko could not load the key"
    root = asn1_x509.Certificate.load(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER))
    # Both signers put the widget in the same place: where ours puts it on an A4 page.
    box = tuple(int(v) for v in stamp_box(595, 842, material.appearance))
    return Rig(
        label=label,
        instance=instance,
        material=material,
        certificate=certificate,
        seal_png=seal_png,
        root=root,
        stock_signer=stock_signer,
        font_face=font_face,
        box=box,  # type: ignore[arg-type]
    )


# --- profile summary --------------------------------------------------------------------------------------------
# (label, file path suffix, function name): inclusive time of these calls, per document. Stages nest.
OUR_STAGES = [
    ("seal_licence (full flow)", "seal_service/services/sealing.py", "seal_licence"),
    ("  inspect_pdf (pikepdf checks)", "seal_service/signing/documents.py", "inspect_pdf"),
    ("  reserve_serial (own transaction)", "seal_service/services/sealing.py", "reserve_serial"),
    ("  seal_pdf (signing core)", "seal_service/signing/sealer.py", "seal_pdf"),
    ("    IncrementalPdfFileWriter() parse x2", "pyhanko/pdf_utils/incremental_writer.py", "__init__"),
    ("    PdfSigner.sign_pdf (signature revision)", "pyhanko/sign/signers/pdf_signer.py", "sign_pdf"),
    ("      stamp: render + form XObject", "seal_service/appearance/stamp.py", "as_form_xobject"),
    ("      CMS SignedData build (signature + its ts)", "pyhanko/sign/signers/pdf_cms.py", "async_sign"),
    ("      TSA token issue x2 (in process)", "seal_service/protocols/tsa.py", "respond"),
    ("    _validation_material (OCSP, 2 CRLs, DB)", "seal_service/signing/sealer.py", "_validation_material"),
    ("    DSS written directly", "pyhanko/sign/validation/dss.py", "supply_dss_in_writer"),
    ("    PdfTimeStamper.timestamp_pdf (LTA)", "pyhanko/sign/signers/pdf_signer.py", "timestamp_pdf"),
    ("  SQLAlchemy commits", "sqlalchemy/orm/session.py", "commit"),
]
STOCK_STAMP_STAGES = [
    ("CJK font: GlyphAccumulator load + shape", "pyhanko/pdf_utils/font/opentype.py", "__init__"),
    ("CJK font: subset + embed on write", "pyhanko/pdf_utils/font/opentype.py", "prepare_write"),
]


def _stage_ms(stats: pstats.Stats, suffix: str, name: str, docs: int) -> float:
    total = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func != name or not filename.endswith(suffix):
            continue
        # Count only calls from outside the same function (recursion) to keep inclusive time honest.
        if any(c[2] == name and c[0].endswith(suffix) for c in callers):
            continue
        total += ct
    return total * 1000 / docs


def _package_of(filename: str, func: str) -> str:
    if filename == "~":
        lowered = func.lower()
        if "sign" in lowered or "_rust" in lowered or "openssl" in lowered or "hash" in lowered:
            return "cryptography (C/Rust)"
        if "zlib" in lowered or "compress" in lowered:
            return "zlib"
        if "sqlite" in lowered or "execute" in lowered:
            return "sqlite3 (C)"
        return "other built-ins"
    for marker in ("site-packages/", "seal_service/", "tests/"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            if marker != "site-packages/":
                return marker.rstrip("/")
            top = rest.split("/", 1)[0].removesuffix(".py")
            return top
    return "stdlib"


def print_profile(stats: pstats.Stats, docs: int, wall_ms: float) -> None:
    """Inclusive stage times, exclusive time per package, and the top functions, per document."""
    print(f"\nwall time with the profiler on: {wall_ms / docs:.1f} ms/doc (cProfile inflates Python-heavy code)")
    print("\nstage (inclusive, nested)                         ms/doc  share")
    base = _stage_ms(stats, OUR_STAGES[0][1], OUR_STAGES[0][2], docs) or 1.0
    for label, suffix, name in OUR_STAGES:
        ms = _stage_ms(stats, suffix, name, docs)
        print(f"  {label:<48}{ms:7.1f}  {100 * ms / base:4.0f}%")
    by_package: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = _package_of(filename, func)
        by_package[key] = by_package.get(key, 0.0) + tt
    total = sum(by_package.values()) or 1.0
    print("\nexclusive time by package                         ms/doc  share")
    for key, tt in sorted(by_package.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {key:<48}{tt * 1000 / docs:7.1f}  {100 * tt / total:4.0f}%")
    print("\ntop functions by exclusive time                   ms/doc")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:12]  # type: ignore[attr-defined]
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in rows:
        where = "built-in" if filename == "~" else f"{Path(filename).name}:{line}"
        print(f"  {func[:30]:<30} {where[:17]:<17}{tt * 1000 / docs:7.2f}  ({nc // docs} calls/doc)")


def run_ablation(rigs: dict[str, Rig], pdf: bytes, iterations: int) -> None:
    """Stock pyHanko with a Latin stamp (so the CJK font does not drown everything), then with our fixed
    ``bytes_reserved``, then also with our key-holding signer; ours for reference. Interleaved, 50KB document."""
    print(f"\n### ablation: what each fix is worth (50KB document, {iterations} documents each, median / p90 ms)")
    print("| key | level | stock, Latin stamp | + fixed bytes_reserved | + key kept loaded | ours core | ours full |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for rig_key, rig in rigs.items():
        for level in (PadesLevel.B_B, PadesLevel.B_LTA):
            timings = time_interleaved(
                {
                    "latin": (partial(rig.stock, pdf, level, cjk=False), 1, iterations),
                    "reserve": (partial(rig.stock, pdf, level, cjk=False, reserve=True), 1, iterations),
                    "kept": (partial(rig.stock, pdf, level, cjk=False, reserve=True, kept_key=True), 1, iterations),
                    "core": (partial(rig.ours_core, pdf, level), 2, iterations),
                    "full": (partial(rig.ours_full, pdf, level), 2, iterations),
                }
            )
            cells = " | ".join(timings[name].cell() for name in ("latin", "reserve", "kept", "core", "full"))
            print(f"| {rig_key} | {level} | {cells} |")
    print(
        "\nWhat is left between '+ key kept loaded' and ours: the appearance (pyHanko re-encodes the seal image and "
        "builds the QR code per document), path validation to collect revocation info, and a separate DSS revision."
    )


# --- main -------------------------------------------------------------------------------------------------------
def run_dual_seal(rig: Rig, docs: dict[str, bytes], iterations: int, warmup: int) -> int:
    """The national seal's cost: ``seal_licence`` dual-sealed (SES_Signature revision + PAdES) against PAdES only,
    interleaved in the same run, per level and document. Target: at most 10 ms more per licence."""
    print("\ndual seal (docs/gm-crypto.md): seal_licence with the national SM2 seal + PAdES vs PAdES only, same run")
    print(f"{'level':6} {'doc':7} {'PAdES only ms':>17} {'dual ms':>17} {'+wall':>7} {'+CPU':>7}  target")
    worst = 0.0
    for level in (PadesLevel.B_B, PadesLevel.B_LTA):
        for name, pdf in docs.items():
            timings = time_interleaved(
                {
                    "pades": (partial(rig.ours_full, pdf, level, gm=False), warmup, iterations),
                    "dual": (partial(rig.ours_full, pdf, level, gm=True), warmup, iterations),
                }
            )
            extra = timings["dual"].median - timings["pades"].median
            extra_cpu = timings["dual"].cpu_median - timings["pades"].cpu_median
            worst = max(worst, extra)
            verdict = "OK" if extra <= 10 else "OVER"
            print(
                f"{level.value:6} {name:7} {timings['pades'].cell():>17} {timings['dual'].cell():>17} "
                f"{extra:+6.1f} {extra_cpu:+6.1f}  {verdict} (<= 10 ms)"
            )
    sample = rig.ours_full(docs["sample"], PadesLevel.B_LTA, gm=True)
    plain = rig.ours_full(docs["sample"], PadesLevel.B_LTA, gm=False)
    print(f"size: dual {len(sample) / 1024:.0f} KiB vs PAdES only {len(plain) / 1024:.0f} KiB (sample, B-LTA)")
    print(f"largest median increase {worst:.1f} ms: {'within' if worst <= 10 else 'OVER'} the 10 ms target")
    return 0


def machine_summary() -> str:
    """nproc, CPU model, memory, Python and pyHanko versions."""
    cpu = "unknown CPU"
    mem = "unknown memory"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem}; Python {platform.python_version()}, "
        f"pyHanko {importlib.metadata.version('pyHanko')}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=30, help="measured documents per level, ours (30)")
    parser.add_argument("--stock-iterations", type=int, default=8, help="measured documents per level, stock (8)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured warm-up documents, ours (3; stock 1)")
    parser.add_argument("--quick", action="store_true", help="5 iterations (stock 3), 1 warm-up: a smoke run")
    parser.add_argument("--profile-docs", type=int, default=20, help="B-LTA documents under cProfile (20; 0: off)")
    parser.add_argument(
        "--dual-seal",
        action="store_true",
        help="instead of the comparison: the full licence flow with and without the national (SM2) seal (~1 min)",
    )
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="instead of the comparison: stock pyHanko (Latin stamp) with our fixes added one at a time (~1 min)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.stock_iterations, args.warmup, args.profile_docs = 5, 3, 1, min(args.profile_docs, 5)
    # fontTools warns about every table it drops while subsetting; pyHanko warns that fetching is off (on purpose).
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    logging.getLogger("pyhanko").setLevel(logging.ERROR)

    started = time.perf_counter()
    counters = cpu_counters()
    print("seal_service sealing benchmark vs stock pyHanko")
    load = os.getloadavg()[0]
    print(f"machine: {machine_summary()}; load average at start {load:.2f}")
    if load > 0.5:
        print(
            "WARNING: other processes are using the CPUs; wall-clock figures will be inflated "
            "(the CPU-time column is less affected)"
        )
    print(
        f"iterations per level: ours {args.iterations} (+{args.warmup} warm-up), "
        f"stock {args.stock_iterations} (+1 warm-up)"
    )
    docs = {"sample": sample_licence_pdf(), "50KB": realistic_licence_pdf()}
    print("documents: " + ", ".join(f"{name} = {len(data) / 1024:.1f} KiB one-page A4" for name, data in docs.items()))
    print(
        "timestamps: both signers use the in-process RFC 3161 authority (InProcessTimeStamper), no HTTP; "
        "stock loads the key once with SimpleSigner.load (pyHanko re-parses it per signature)"
    )

    with tempfile.TemporaryDirectory(prefix="seal-bench-") as tmp:
        workdir = Path(tmp)
        # The stock font face is extracted only after our phase, so that the RSS high-water mark before stock
        # runs is ours alone (fontTools holds the whole 17 MB collection in memory while extracting).
        font_face = workdir / "wqy-zenhei-0.ttf"
        rigs = {
            "P-256": make_rig("ECDSA P-256", KeyAlgorithm.EC_P256, workdir, font_face),
            "RSA-3072": make_rig("RSA-3072", KeyAlgorithm.RSA_3072, workdir, font_face),
        }
        rss_setup = rss_mib()
        print(f"set-up (2 instances, seal material built): {time.perf_counter() - started:.1f} s")

        # (rig, document, levels for ours, levels for stock)
        plan = [
            ("P-256", "50KB", ALL_LEVELS, ALL_LEVELS),
            ("P-256", "sample", ALL_LEVELS, (PadesLevel.B_B, PadesLevel.B_LTA)),
            ("RSA-3072", "50KB", (PadesLevel.B_B, PadesLevel.B_LTA), (PadesLevel.B_LTA,)),
            ("RSA-3072", "sample", (PadesLevel.B_B, PadesLevel.B_LTA), ()),
        ]
        results: dict[tuple[str, str, PadesLevel, str], Timing] = {}
        outputs: dict[tuple[str, str], bytes] = {}
        if args.ablation:
            run_ablation(rigs, docs["50KB"], args.stock_iterations)
            return 0
        if args.dual_seal:
            return run_dual_seal(rigs["P-256"], docs, args.iterations, args.warmup)

        # Phase 1: ours alone, one warm-up pass over every combination and its memory peaks, so that the RSS
        # high-water mark after it is ours alone; stock is first called after it.
        for rig_key, doc_key, levels, _ in plan:
            for level in levels:
                rigs[rig_key].ours_core(docs[doc_key], level)
                rigs[rig_key].ours_full(docs[doc_key], level)
        ec, big = rigs["P-256"], docs["50KB"]
        peaks = {
            "ours core": tracemalloc_peak_mib(lambda _i: ec.ours_core(big, PadesLevel.B_LTA), docs=3),
            "ours full": tracemalloc_peak_mib(lambda _i: ec.ours_full(big, PadesLevel.B_LTA), docs=3),
        }
        rss_ours = rss_mib()
        extract_face(workdir)

        # Phase 2: timing, ours and stock interleaved per combination.
        phase = time.perf_counter()
        for rig_key, doc_key, levels, stock_levels in plan:
            rig, pdf = rigs[rig_key], docs[doc_key]
            for level in levels:
                runners: dict[str, tuple[Callable[[], object], int, int]] = {
                    "core": (partial(rig.ours_core, pdf, level), args.warmup, args.iterations),
                    "full": (partial(rig.ours_full, pdf, level), args.warmup, args.iterations),
                }
                if level in stock_levels:
                    runners["stock"] = (partial(rig.stock, pdf, level), 1, args.stock_iterations)
                if rig_key == "P-256" and doc_key == "50KB":
                    runners["stock-latin"] = (partial(rig.stock, pdf, level, cjk=False), 1, args.stock_iterations)
                for name, timing in time_interleaved(runners).items():
                    results[rig_key, doc_key, level, name] = timing
        print(f"timing: {time.perf_counter() - phase:.1f} s")

        # Phase 3: stock's memory.
        peaks["stock"] = tracemalloc_peak_mib(lambda _i: ec.stock(big, PadesLevel.B_LTA), docs=1)
        rss_stock = rss_mib()

        # Phase 4: are the outputs what they claim to be? One of each, validated offline by pyHanko.
        checks = []
        for rig_key in rigs:
            for who, fn in (("ours", rigs[rig_key].ours_full), ("stock", rigs[rig_key].stock)):
                signed = fn(big, PadesLevel.B_LTA)
                outputs[rig_key, who] = signed
                checks.append(f"  {rig_key:<8} {who:<5} B-LTA: {rigs[rig_key].check_valid(signed, PadesLevel.B_LTA)}")
        for rig_key, rig in rigs.items():
            for level in (PadesLevel.B_B, PadesLevel.B_T, PadesLevel.B_LT):
                signed = rig.ours_core(big, level)
                checks.append(f"  {rig_key:<8} ours  {level}: {rig.check_valid(signed, level)}")

        # Phase 5: where our B-LTA time goes (full flow, P-256, 50 KB document).
        profile = None
        profile_wall = 0.0
        if args.profile_docs > 0:
            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.enable()
            for _ in range(args.profile_docs):
                ec.ours_full(big, PadesLevel.B_LTA)
            profiler.disable()
            profile_wall = (time.perf_counter() - start) * 1000
            profile = pstats.Stats(profiler)
            stock_profiler = cProfile.Profile()
            stock_profiler.enable()
            ec.stock(big, PadesLevel.B_LTA)
            stock_profiler.disable()
            stock_profile = pstats.Stats(stock_profiler)

    # --- report ---
    for rig_key, doc_key, _, _ in plan:
        print(f"\n### {rigs[rig_key].label}, {doc_key} document ({len(docs[doc_key]) / 1024:.1f} KiB)")
        print("wall-clock ms per document, median / p90; last column: median CPU ms (process_time)")
        print(
            "| level | ours core (seal_pdf) | ours full (seal_licence) | stock pyHanko "
            "| stock/ours core | stock/ours full | CPU core / full / stock |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for level in ALL_LEVELS:
            core = results.get((rig_key, doc_key, level, "core"))
            full = results.get((rig_key, doc_key, level, "full"))
            stock = results.get((rig_key, doc_key, level, "stock"))
            if core is None:
                continue
            r_core = f"{stock.median / core.median:5.1f}x" if stock else "-"
            r_full = f"{stock.median / full.median:5.1f}x" if stock and full else "-"
            cpu = f"{core.cpu_median:.1f} / {full.cpu_median if full else math.nan:.1f} / "
            cpu += f"{stock.cpu_median:.0f}" if stock else "-"
            print(
                f"| {level} | {core.cell()} | {full.cell() if full else '-'} | "
                f"{stock.cell() if stock else '-'} | {r_core} | {r_full} | {cpu} |"
            )

    print(
        "\n### stock without the CJK font (diagnostic: Latin labels, pyHanko's built-in Courier; "
        "Chinese would not render), P-256, 50KB document"
    )
    print("| level | stock, Latin only | stock CJK / stock Latin | stock Latin / ours core | stock Latin / ours full |")
    print("| --- | --- | --- | --- | --- |")
    for level in ALL_LEVELS:
        latin = results.get(("P-256", "50KB", level, "stock-latin"))
        if latin is None:
            continue
        core, full = results["P-256", "50KB", level, "core"], results["P-256", "50KB", level, "full"]
        stock = results.get(("P-256", "50KB", level, "stock"))
        cjk_ratio = f"{stock.median / latin.median:.1f}x" if stock else "-"
        print(
            f"| {level} | {latin.cell()} | {cjk_ratio} | {latin.median / core.median:.1f}x "
            f"| {latin.median / full.median:.1f}x |"
        )

    print("\n### peak memory")
    print(
        f"  RSS high-water (ru_maxrss): after imports + 2 instances + seal material {rss_setup:.0f} MiB; "
        f"after a pass of ours over every "
        f"combination {rss_ours:.0f} MiB (+{rss_ours - rss_setup:.0f}); after the stock runs {rss_stock:.0f} MiB "
        f"(+{rss_stock - rss_ours:.0f})"
    )
    print("  tracemalloc peak per document, B-LTA, P-256, 50KB document (Python allocations only):")
    for name, peak in peaks.items():
        print(f"    {name:<10} {peak:7.1f} MiB")

    print("\n### validity of the outputs (pyHanko, offline, trusting only our root), 50KB document")
    print("\n".join(checks))

    if profile is not None:
        print(f"\n### where our B-LTA time goes (seal_licence, P-256, 50KB document, {args.profile_docs} documents)")
        print_profile(profile, args.profile_docs, profile_wall)
        stock_total = _stage_ms(stock_profile, "pyhanko/sign/signers/pdf_signer.py", "sign_pdf", 1)
        font = sum(_stage_ms(stock_profile, s, n, 1) for _, s, n in STOCK_STAMP_STAGES)
        if stock_total > 0:
            print(
                f"\nstock B-LTA under cProfile: {stock_total:.0f} ms/doc, of which CJK font handling "
                f"(GlyphAccumulator load/shape + subset/embed) {font:.0f} ms = {100 * font / stock_total:.0f}%"
            )

    print("\n### target check (B-LTA, P-256 unless stated; 'full' = seal_licence, 'core' = seal_pdf)")
    for rig_key, doc_key, _, stock_levels in plan:
        if PadesLevel.B_LTA not in stock_levels:
            continue
        core = results[rig_key, doc_key, PadesLevel.B_LTA, "core"]
        full = results[rig_key, doc_key, PadesLevel.B_LTA, "full"]
        stock = results[rig_key, doc_key, PadesLevel.B_LTA, "stock"]

        def yn(flag: bool) -> str:
            return "yes" if flag else "no"

        print(
            f"  {rig_key:<8} {doc_key:<6}: B-LTA median <= {TARGET_MS:.0f} ms: {yn(full.median <= TARGET_MS)} "
            f"(full {full.median:.1f}, core {core.median:.1f}); >= {TARGET_RATIO:.0f}x faster than stock: "
            f"{yn(stock.median / full.median >= TARGET_RATIO)} ({stock.median / full.median:.1f}x full, "
            f"{stock.median / core.median:.1f}x core)"
        )
    elapsed = time.perf_counter() - started
    busy, steal, own = (end - begin for end, begin in zip(cpu_counters(), counters, strict=True))
    capacity = elapsed * (os.cpu_count() or 1)
    print(
        f"\ntotal run time: {elapsed:.0f} s; load average at end {os.getloadavg()[0]:.2f}; during the run other "
        f"processes used {100 * (busy - own) / capacity:.0f}% and hypervisor steal {100 * steal / capacity:.0f}% "
        f"of the machine's {os.cpu_count()} CPUs (this benchmark: {100 * own / capacity:.0f}%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
