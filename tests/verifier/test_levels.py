"""ETSI EN 319 102-1 verdicts at every PAdES level (issue 11, part 1), through ``seal-verify`` and the library.

Licences are sealed at B-B, B-T, B-LT and B-LTA by a real instance whose public URL is a live server, so the
OCSP/CRL addresses in its certificates answer (``--online``) and ``--service`` can be asked under two spellings
of its address. Seals are revoked for real (``revoke_seal``) after sealing, and one "before" sealing (a
revocation dated an hour before the time-stamp). Documents of another issuer are signed here with pyHanko and a
PKI made here, their CRL given with ``--crl``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pdfs import sample_licence_pdf
from tests.support.server import LiveServer, free_port
from tests.support.verifiers import (
    make_nss_db,
    pdfsig,
    pyhanko_ades_lta,
    pyhanko_ades_with_time_at_signature_time_stamp,
)
from verifier import Verdict, Verifier
from verifier.cli import main
from verifier.ltv import RevocationSources


@dataclass(frozen=True)
class World:
    """One live instance, its licences at every level, revoked ones, and what verifying needs."""

    instance: object
    server: LiveServer
    root: x509.Certificate
    root_pem: Path
    files: dict[str, Path]
    pdfs: dict[str, bytes]
    crl_args: tuple[str, ...]
    sealed_at: datetime
    licence_ids: dict[str, str]

    @property
    def localhost(self) -> str:
        """The server's URL spelled with ``localhost`` (its QR codes say ``127.0.0.1``)."""
        return f"http://localhost:{self.server.port}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from seal_service.instance import PkiRole
    from seal_service.services.registry import revoke_seal
    from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence
    from seal_service.signing.sealer import PadesLevel
    from tests.conftest import make_instance, make_settings

    home = tmp_path_factory.mktemp("levels")
    port = free_port()
    instance = make_instance(make_settings(home, public_url=f"http://127.0.0.1:{port}"))
    server = LiveServer(instance, port)
    server.start()
    at = datetime.now(UTC)
    pdfs: dict[str, bytes] = {}
    ids: dict[str, str] = {}

    def seal(name: str, level: str, seal_id: str = "jc-bureau-approval", item: str = "JC-001") -> None:
        request = LicenceRequest(item_code=item, holder_name="测试", seal_id=seal_id, level=PadesLevel(level))
        sealed = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=at)
        pdfs[name], ids[name] = bytes(sealed.pdf), sealed.licence_id

    for level in ("B-B", "B-T", "B-LT", "B-LTA"):
        seal(level, level)
    seal("revoked-licence", "B-LTA")
    for level in ("B-B", "B-T", "B-LT"):
        seal(f"revoked-after-{level}", level, "jc-housing-approval", "JC-005")
    seal("revoked-before-B-T", "B-T", "jc-market-approval", "JC-004")
    now = datetime.now(UTC)
    revoke_seal(instance, "jc-housing-approval", reason="cessationOfOperation", at=now)
    revoke_seal(instance, "jc-market-approval", reason="keyCompromise", at=at - timedelta(hours=1))
    change_licence_status(
        instance,
        ids["revoked-licence"],
        action=LicenceAction.REVOKE,
        reason="test",
        authority_id=None,
        actor="test",
        at=now,
    )
    root: x509.Certificate = instance.pki.certificate(PkiRole.ROOT)
    root_pem = home / "root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    crl_args: list[str] = []
    for role in ("root", "seal-ca"):
        path = home / f"{role}.crl"
        path.write_bytes(instance.revocation.crl(role, at=now))
        crl_args += ["--crl", str(path)]
    files = {}
    for name, pdf in pdfs.items():
        files[name] = home / f"{name}.pdf"
        files[name].write_bytes(pdf)
    try:
        yield World(instance, server, root, root_pem, files, pdfs, tuple(crl_args), at, ids)
    finally:
        server.stop()


def verify(capsys, world: World, name: str, *args: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    code = main([str(world.files[name]), "--trust-root", str(world.root_pem), "--json", *args])
    out = capsys.readouterr().out
    [report] = json.loads(out)
    return code, report


def text(report: dict) -> str:  # type: ignore[type-arg]
    return " ".join(report["messages"])


# --- B-LT: valid offline -----------------------------------------------------------------------------------------


def test_b_lt_is_valid_offline_and_states_its_proof_of_time(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    from seal_service.instance import PkiRole

    code, report = verify(capsys, world, "B-LT")
    assert code == 0 and (report["verdict"], report["level"]) == ("valid", "B-LT"), report
    proven = datetime.fromisoformat(report["proven_signing_time"])
    assert abs(proven - world.sealed_at) < timedelta(seconds=5)
    tsa = world.instance.pki.certificate(PkiRole.TSA)  # type: ignore[attr-defined]
    assert datetime.fromisoformat(report["verifiable_until"]) == tsa.not_valid_after_utc
    assert "PAdES 级别：B-LT" in report["long_term"] and "verifiable until:" in report["long_term"]


def test_b_lt_stays_valid_after_its_crl_went_stale_and_expires_with_its_time_stamp(world: World) -> None:
    from seal_service.instance import PkiRole

    verifier = Verifier.from_trust_roots([world.root])
    later = verifier.verify(world.pdfs["B-LT"], at=world.sealed_at + timedelta(days=60))  # CRL next update: 7 days
    assert later.verdict is Verdict.VALID, later.messages
    tsa_end = world.instance.pki.certificate(PkiRole.TSA).not_valid_after_utc  # type: ignore[attr-defined]
    expired = verifier.verify(world.pdfs["B-LT"], at=tsa_end + timedelta(days=1))
    assert (expired.verdict, expired.subindication) == (Verdict.INDETERMINATE, "NO_POE")
    assert "time-stamp of this file (B-LT) has expired" in " ".join(m.en for m in expired.messages)


def test_a_seal_revoked_after_a_b_lt_licence_was_sealed_leaves_it_valid(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = verify(capsys, world, "revoked-after-B-LT")
    assert code == 0 and report["verdict"] == "valid", report
    # The current CRL (it lists the seal, revoked after the time-stamp) does not change that.
    code, report = verify(capsys, world, "revoked-after-B-LT", *world.crl_args)
    assert code == 0 and report["verdict"] == "valid", report


# --- B-T: revocation status from somewhere ------------------------------------------------------------------------


def test_b_t_offline_without_revocation_data_is_indeterminate_saying_why(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = verify(capsys, world, "B-T")
    assert code == 1 and (report["verdict"], report["subindication"]) == (
        "indeterminate",
        "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    )
    assert "carries no revocation status" in text(report) and "--online" in text(report)
    assert report["proven_signing_time"] is None


@pytest.mark.parametrize("how", ["crl", "service", "service-localhost", "online"])
def test_b_t_is_valid_with_revocation_status_for_its_signing_time(world: World, capsys, how: str) -> None:  # type: ignore[no-untyped-def]
    args = {
        "crl": world.crl_args,
        "service": ("--service", world.server.url),
        "service-localhost": ("--service", world.localhost),
        "online": ("--online",),
    }[how]
    code, report = verify(capsys, world, "B-T", *args)
    assert code == 0 and (report["verdict"], report["level"]) == ("valid", "B-T"), report
    assert abs(datetime.fromisoformat(report["proven_signing_time"]) - world.sealed_at) < timedelta(seconds=5)


def test_a_seal_revoked_after_a_b_t_licence_was_sealed_leaves_it_valid(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    for args in (world.crl_args, ("--online",)):
        code, report = verify(capsys, world, "revoked-after-B-T", *args)
        assert code == 0 and report["verdict"] == "valid", report


def test_a_seal_revoked_before_a_b_t_licence_was_sealed_makes_it_not_valid(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    for args in (world.crl_args, ("--online",)):
        code, report = verify(capsys, world, "revoked-before-B-T", *args)
        assert code == 1 and report["verdict"] in ("invalid", "indeterminate"), report
        assert report["subindication"] in ("REVOKED", "REVOKED_NO_POE"), report
        assert "revoked" in text(report)


def test_online_fetching_from_an_unreachable_address_is_indeterminate_with_the_address(world: World) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    report = Verifier.from_trust_roots([world.root], revocation=RevocationSources(service_url=closed)).verify(
        world.pdfs["B-T"]
    )
    assert report.verdict is Verdict.INDETERMINATE
    assert any(closed in detail for detail in report.details), report.details


# --- B-B: validated as of now ------------------------------------------------------------------------------------


def test_b_b_is_valid_now_with_fresh_revocation_data_and_says_there_is_no_proof_of_time(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = verify(capsys, world, "B-B")
    assert code == 1 and report["verdict"] == "indeterminate"
    for args in (world.crl_args, ("--online",), ("--service", world.localhost)):
        code, report = verify(capsys, world, "B-B", *args)
        assert code == 0 and (report["verdict"], report["level"]) == ("valid", "B-B"), report
        assert report["proven_signing_time"] is None and report["signed_at_source"] == "signing-time"
        assert "no proof of time" in text(report) and "没有可信时间证明" in text(report)
        assert "none (no proof of time)" in report["long_term"]
        assert report["verifiable_until"] is not None  # the seal certificate chain's expiry


def test_a_b_b_licence_whose_seal_is_revoked_now_cannot_be_shown_valid(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = verify(capsys, world, "revoked-after-B-B", "--online")
    assert code == 1 and report["verdict"] != "valid", report
    assert report["subindication"] in ("REVOKED_NO_POE", "REVOKED"), report
    if report["verdict"] == "indeterminate":
        assert "has no proof of time" in text(report)


def test_b_b_a_month_later_needs_fresh_revocation_data_again(world: World) -> None:
    # The CRLs given were fresh when sealed; a month on they are stale and B-B has nothing to show for the past.
    crls = [Path(p).read_bytes() for p in world.crl_args[1::2]]
    report = Verifier.from_trust_roots([world.root], crls=crls).verify(
        world.pdfs["B-B"], at=world.sealed_at + timedelta(days=30)
    )
    assert report.verdict is Verdict.INDETERMINATE


# --- another issuer's B-B document -------------------------------------------------------------------------------


def _foreign_pki(directory: Path, *, revoked: bool) -> tuple[Path, Path, bytes]:
    """A root, a signer certificate it issued, a PDF that signer signed (B-B, pyHanko), the root's CRL."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    now = datetime.now(UTC)
    root_key, signer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other Province Seal Root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    signer = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other Bureau Seal")]))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root_name)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=7))
    )
    if revoked:
        crl = crl.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(signer.serial_number)
            .revocation_date(now - timedelta(seconds=30))
            .build()
        )
    crl_path = directory / "other.crl"
    crl_path.write_bytes(crl.sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    root_path, key_path, cert_path = directory / "other-root.pem", directory / "k.pem", directory / "c.pem"
    root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(signer.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pyhanko_signer = signers.SimpleSigner.load(str(key_path), str(cert_path), ca_chain_files=(str(root_path),))
    assert pyhanko_signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(sample_licence_pdf())),
        signers.PdfSignatureMetadata(field_name="OtherSeal"),
        signer=pyhanko_signer,
    )
    return root_path, crl_path, out.getvalue()


@pytest.mark.parametrize("revoked", [False, True], ids=["good", "revoked"])
def test_another_issuers_b_b_document_with_its_root_and_crl(tmp_path: Path, capsys, revoked: bool) -> None:  # type: ignore[no-untyped-def]
    root, crl, pdf = _foreign_pki(tmp_path, revoked=revoked)
    document = tmp_path / "other.pdf"
    document.write_bytes(pdf)
    code = main([str(document), "--trust-root", str(root), "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 1 and report["verdict"] == "indeterminate" and "--crl" in text(report)
    code = main([str(document), "--trust-root", str(root), "--crl", str(crl), "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert report["level"] == "B-B"
    if revoked:
        assert code == 1 and report["verdict"] != "valid", report
    else:
        assert code == 0 and report["verdict"] == "valid", report


# --- independent verifiers ---------------------------------------------------------------------------------------


def test_pyhanko_agrees_on_b_lt_offline_when_validating_with_time(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    root_der = world.root.public_bytes(serialization.Encoding.DER)
    # pyHanko's validation with time (§ 5.5) at the signature time-stamp, with the DSS's revocation data: passed.
    assert pyhanko_ades_with_time_at_signature_time_stamp(world.pdfs["B-LT"], root_der) == ("PASSED", None)
    code, report = verify(capsys, world, "B-LT")
    assert code == 0 and report["verdict"] == "valid"
    # pyHanko's LTA validation (§ 5.6.3) wants a document time-stamp as proof of existence of that revocation
    # data and says NO_POE (pyhanko-notes pitfall 6): the issue asks for B-LT to be valid without one.
    assert pyhanko_ades_lta(world.pdfs["B-LT"], root_der) == ("INDETERMINATE", "NO_POE")


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT"])
def test_pdfsig_agrees_on_unrevoked_licences_checked_online(world: World, tmp_path: Path, capsys, level: str) -> None:  # type: ignore[no-untyped-def]
    nss = make_nss_db(tmp_path / "nss", world.root_pem)
    # The PAdES seal's block (a dual-sealed licence carries the national seal as its first signature field).
    said = next(block for block in pdfsig(world.files[level], nss).split("Signature #") if "ApprovalSeal" in block)
    assert "Signature is Valid." in said and "Certificate is Trusted." in said, said
    code, report = verify(capsys, world, level, "--online")
    assert code == 0 and report["verdict"] == "valid", report


# --- --service is never skipped ----------------------------------------------------------------------------------


def test_a_revoked_licence_is_invalid_through_another_spelling_of_the_service_url(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    assert world.server.url.startswith("http://127.0.0.1:")
    code, report = verify(capsys, world, "revoked-licence", "--service", world.localhost)
    assert code == 1 and report["verdict"] == "invalid", report
    assert report["licence"]["status"] == "revoked" and report["licence"]["asked"] == world.localhost
    assert "Licence revoked" in text(report)
    # The text line too.
    assert (
        main([str(world.files["revoked-licence"]), "--trust-root", str(world.root_pem), "--service", world.localhost])
        == 1
    )
    assert capsys.readouterr().out.startswith("INVALID")


def test_a_licence_the_service_does_not_know_is_never_valid(world: World, sealed, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # A licence of another instance (its QR code names http://127.0.0.1:9), asked of this service: unknown here.
    other = tmp_path / "other.pdf"
    other.write_bytes(sealed.b_lta)
    code = main([str(other), "--trust-root", str(sealed.root_pem), "--service", world.server.url, "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 1 and report["verdict"] == "indeterminate", report
    assert "has no record of this licence" in text(report)
    assert {c["name"]: c["outcome"] for c in report["checks"]}["licence-identity"] == "indeterminate"


def test_an_unreachable_service_is_never_valid(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    closed = f"http://127.0.0.1:{free_port()}"
    code, report = verify(capsys, world, "B-LTA", "--service", closed)
    assert code == 1 and (report["verdict"], report["subindication"]) == ("indeterminate", "TRY_LATER"), report
    assert closed in text(report)


def test_an_answer_that_does_not_match_the_file_is_invalid(world: World) -> None:
    from verifier.registry import LicenceRecord, StaticRegistry

    licence_id = world.licence_ids["B-LTA"]
    record = LicenceRecord(
        id=licence_id, identifier="x", number="y", status="valid", document_sha256="00" * 32, valid_until=None
    )
    # Spelled with localhost, insisting as --service does: asked although the QR code says 127.0.0.1.
    registry = StaticRegistry(world.localhost, {licence_id: record}, insist=True)
    report = Verifier.from_trust_roots([world.root], registry=registry).verify(world.pdfs["B-LTA"])
    assert report.verdict is Verdict.INVALID and report.licence is not None and report.licence["record"] == "differs"
    # Unknown although the QR code names this very service: the issuer says there is no such licence.
    report = Verifier.from_trust_roots([world.root], registry=StaticRegistry(world.localhost, {}, insist=True)).verify(
        world.pdfs["B-LTA"]
    )
    assert report.verdict is Verdict.INVALID and "no such licence" in str(report.messages[0])


def test_a_document_without_a_licence_qr_code_is_not_valid_when_the_service_is_asked(  # type: ignore[no-untyped-def]
    world: World, tmp_path: Path, capsys
) -> None:
    root, crl, pdf = _foreign_pki(tmp_path, revoked=False)
    document = tmp_path / "other.pdf"
    document.write_bytes(pdf)
    code = main([str(document), "--trust-root", str(root), "--crl", str(crl), "--service", world.server.url, "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 1 and report["verdict"] == "indeterminate", report
    assert "no readable QR code" in text(report)


# --- the report states level, proven time and verifiable-until everywhere ----------------------------------------


def test_csv_and_text_state_level_proven_time_and_verifiable_until(world: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import csv

    out = tmp_path / "r.csv"
    main([str(world.files["B-LT"]), str(world.files["B-T"]), "--trust-root", str(world.root_pem), "--csv", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "PAdES level: B-LT" in lines[0] and "verifiable until:" in lines[0]
    assert "可验证至" in lines[1] and "proven signing time: none" in lines[1]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["level"] for r in rows] == ["B-LT", "B-T"]
    assert rows[0]["proven_signing_time"] and rows[0]["verifiable_until"] and not rows[1]["proven_signing_time"]
    assert rows[0]["long_term"].startswith("PAdES 级别：B-LT")


# --- differential: the fast path stays B-LTA-only and changes no verdict below it ---------------------------------

LATER = {"now": timedelta(0), "after-crl-next-update": timedelta(days=30), "after-tsa-expiry": timedelta(days=6 * 365)}


@pytest.mark.parametrize(
    ("sources", "when"),
    [
        ("offline", "now"),
        ("offline", "after-tsa-expiry"),
        ("crl", "now"),
        ("crl", "after-crl-next-update"),
        ("online", "now"),
    ],
)
def test_levels_below_b_lta_get_the_same_report_with_and_without_the_fast_path(  # type: ignore[no-untyped-def]
    world: World, sources: str, when: str
) -> None:
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    from verifier._fastpath import FastPath, FastPathRefused

    crls = tuple(Path(p).read_bytes() for p in world.crl_args[1::2]) if sources == "crl" else ()
    revocation = RevocationSources(online=sources == "online")
    at = datetime.now(UTC) + LATER[when]
    names = [name for name in world.pdfs if not name.endswith("B-LTA") and name != "revoked-licence"]
    for name in names:
        pdf = world.pdfs[name]
        fast = Verifier(trust_roots=[world.root], crls=crls, revocation=revocation).verify(pdf, at=at, file="x.pdf")
        full = Verifier(trust_roots=[world.root], crls=crls, revocation=revocation, fast_path=False).verify(
            pdf, at=at, file="x.pdf"
        )
        assert fast.to_json() == full.to_json(), name
        reader = PdfFileReader(BytesIO(pdf))
        with pytest.raises(FastPathRefused):
            FastPath([world.root], crls).check(reader, list(reader.embedded_signatures), at)


def test_b_t_after_its_seal_certificate_expired_cannot_use_a_crl_issued_since(world: World) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    pdf = world.pdfs["B-T"]
    signer = PdfFileReader(BytesIO(pdf)).embedded_regular_signatures[0].signer_cert
    expiry: datetime = signer["tbs_certificate"]["validity"]["not_after"].native
    later = expiry + timedelta(days=2)
    # CRLs issued while the seal certificate was valid still speak for the time of sealing after it expired.
    before = [Path(p).read_bytes() for p in world.crl_args[1::2]]
    report = Verifier.from_trust_roots([world.root], crls=before).verify(pdf, at=later)
    assert report.verdict is Verdict.VALID, report.messages
    # A seal-CA CRL issued after the expiry no longer lists the certificate, revoked or not: it proves nothing.
    revocation = world.instance.revocation  # type: ignore[attr-defined]
    since = [
        revocation.crl("root", at=expiry + timedelta(days=1)),
        revocation.crl("seal-ca", at=expiry + timedelta(days=1)),
    ]
    report = Verifier.from_trust_roots([world.root], crls=since).verify(pdf, at=later)
    assert report.verdict is Verdict.INDETERMINATE, report.messages
    assert any("issued after the seal certificate expired" in detail for detail in report.details), report.details
