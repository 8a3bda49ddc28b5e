"""Seal lifecycle as verifiers we did not write see it, plus our own verifier with the trust bundle.

One instance created twenty days ago (pinned clock), served by a real HTTP server that answers OCSP with the
real clock. jc-market handed its last item over five days ago (its seal is retired and its certificate revoked
at that cut-over); jc-housing hands over in ten days (still good today); zz-bureau's key was reported compromised
today, with an invalidity date a week ago.

* poppler ``pdfsig`` asks our OCSP responder (real clock): the retired seal's certificate is revoked, the
  department whose cut-over is still ahead is trusted.
* pyHanko AdES, validation clock after the cut-over: the department's B-LTA licence sealed before the cut-over
  passes even with the post-cut-over "revoked" OCSP response in hand; one sealed after it (by calling the sealer
  directly, bypassing the service's refusal) is classified revoked.
* Our verifier with the signed trust bundle: valid / "seal retired on DATE" / compromise before and after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from seal_service.appearance.stamp import StampText
from seal_service.instance import Instance, PkiRole
from seal_service.memoranda import china_day, cut_over_instant
from seal_service.services.bootstrap import initialise
from seal_service.services.lifecycle import record_memorandum
from seal_service.services.registry import revoke_seal
from seal_service.services.sealing import LicenceRequest, load_material, seal_licence
from seal_service.services.trust_bundle import current_trust_bundle
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Seal
from tests.conftest import make_settings
from tests.support.pdfs import sample_licence_pdf
from tests.support.server import LiveServer, free_port
from tests.support.verifiers import make_nss_db, pdfsig, pyhanko_ades_lta
from verifier.bundle import load_trust_bundle
from verifier.report import Verdict
from verifier.verify import verify_pdf

NOW = datetime.now(UTC)
PAST_DAY = china_day(NOW) - timedelta(days=5)
PAST_CUT = cut_over_instant(PAST_DAY)
FUTURE_DAY = china_day(NOW) + timedelta(days=10)
COMPROMISED = NOW - timedelta(days=7)


class World:
    """The instance, its server, the sealed documents and the trust bundle."""

    def __init__(self, instance: Instance, server: LiveServer) -> None:
        self.instance = instance
        self.server = server
        self.documents: dict[str, bytes] = {}
        self.root = instance.pki.certificate(PkiRole.ROOT)

    def certificate(self, seal_id: str) -> x509.Certificate:
        with self.instance.sessions() as session:
            return x509.load_der_x509_certificate(session.get(Seal, seal_id).certificates[-1].certificate_der)


def _seal(instance: Instance, seal_id: str, item: str, at: datetime, level: PadesLevel = PadesLevel.B_LTA) -> bytes:
    request = LicenceRequest(item_code=item, holder_name="晋城市示例企业有限公司", seal_id=seal_id, level=level)
    return bytes(seal_licence(instance, sample_licence_pdf(), request, actor="test", at=at).pdf)


def _seal_bypassing_policy(instance: Instance, seal_id: str, at: datetime) -> bytes:
    """What a stolen key or a buggy integration would produce: the sealer called without the service's checks."""
    with instance.sessions() as session:
        seal = session.get(Seal, seal_id)
        material = load_material(instance, seal, seal.certificates[-1])
    text = StampText(licence_number="140500-BYPASS", sealed_at=at, verify_url="http://127.0.0.1:9/v/none")
    return bytes(
        instance.sealer.seal_pdf(sample_licence_pdf(), material=material, level=PadesLevel.B_LTA, text=text, at=at)
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    port = free_port()
    home = tmp_path_factory.mktemp("lifecycle-e2e")
    instance = Instance(make_settings(home, public_url=f"http://127.0.0.1:{port}", publication_interval_seconds=0))
    initialise(instance, at=NOW - timedelta(days=20))
    recorded = NOW - timedelta(days=19)
    record_memorandum(
        instance,
        department="jc-market",
        bureau="jc-bureau",
        items=["JC-004"],
        effective_on=PAST_DAY,
        at=recorded,
        actor="t",
    )
    record_memorandum(
        instance,
        department="jc-housing",
        bureau="jc-bureau",
        items=None,
        effective_on=FUTURE_DAY,
        at=recorded,
        actor="t",
    )
    server = LiveServer(instance, port)
    server.start()
    w = World(instance, server)
    w.documents["market-before"] = _seal(instance, "jc-market-approval", "JC-004", PAST_CUT - timedelta(hours=1))
    w.documents["market-after"] = _seal_bypassing_policy(instance, "jc-market-approval", PAST_CUT + timedelta(hours=1))
    w.documents["housing-now"] = _seal(
        instance, "jc-housing-approval", "JC-005", NOW - timedelta(minutes=1), PadesLevel.B_T
    )
    w.documents["zz-before"] = _seal(instance, "zz-bureau-approval", "ZZ-001", COMPROMISED - timedelta(days=2))
    w.documents["zz-after"] = _seal(instance, "zz-bureau-approval", "ZZ-001", COMPROMISED + timedelta(days=2))
    revoke_seal(instance, "zz-bureau-approval", reason="keyCompromise", at=NOW, invalidity_date=COMPROMISED)
    try:
        yield w
    finally:
        server.stop()


@pytest.fixture(scope="module")
def nss_db(world, tmp_path_factory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("lifecycle-nss")
    root_pem = directory / "root.pem"
    root_pem.write_bytes(world.root.public_bytes(serialization.Encoding.PEM))
    return make_nss_db(directory / "db", root_pem)


def _first_signature(report: str) -> str:
    """The PAdES seal's part of the report (dual-sealed licences list the national seal, unknown to poppler, first)."""
    return next(part for part in report.split("Signature #") if "Field Name: ApprovalSeal" in part)


def test_pdfsig_sees_the_retired_seal_revoked_through_our_ocsp(world, nss_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("market-before", "market-after"):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(world.documents[name])
        report = _first_signature(pdfsig(path, nss_db))
        # pdfsig checks revocation online at the current time only, so both are revoked for it.
        assert "Signature Validation: Signature is Valid." in report, report
        assert "Certificate has been Revoked." in report, report


def test_pdfsig_trusts_a_department_seal_before_its_cut_over(world, nss_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "housing.pdf"
    path.write_bytes(world.documents["housing-now"])
    report = _first_signature(pdfsig(path, nss_db))
    assert "Certificate Validation: Certificate is Trusted." in report, report


def _ocsp_over_http(world: World, cert: x509.Certificate) -> bytes:
    issuer = world.instance.pki.certificate(PkiRole.SEAL_CA)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()  # noqa: S303 - RFC 5019
    response = httpx.post(
        f"{world.server.url}/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=10,
    )
    assert response.status_code == 200
    return response.content


def test_our_ocsp_endpoint_answers_with_the_cut_over(world) -> None:  # type: ignore[no-untyped-def]
    market = ocsp.load_der_ocsp_response(_ocsp_over_http(world, world.certificate("jc-market-approval")))
    assert market.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert market.revocation_time_utc == PAST_CUT
    assert market.revocation_reason is x509.ReasonFlags.cessation_of_operation
    housing = ocsp.load_der_ocsp_response(_ocsp_over_http(world, world.certificate("jc-housing-approval")))
    assert housing.certificate_status is ocsp.OCSPCertStatus.GOOD
    zz = ocsp.load_der_ocsp_response(_ocsp_over_http(world, world.certificate("zz-bureau-approval")))
    assert zz.revocation_reason is x509.ReasonFlags.key_compromise
    invalidity = zz.single_extensions.get_extension_for_class(x509.InvalidityDate).value
    assert invalidity.invalidity_date_utc == COMPROMISED.replace(microsecond=0)


def test_pyhanko_passes_the_licence_sealed_before_the_cut_over(world) -> None:  # type: ignore[no-untyped-def]
    root = world.root.public_bytes(serialization.Encoding.DER)
    revoked_now = _ocsp_over_http(world, world.certificate("jc-market-approval"))
    # Validation clock after the cut-over, the "revoked at the cut-over" response known: the B-LTA licence's
    # time-stamps prove it existed before, so it stays valid.
    assert pyhanko_ades_lta(world.documents["market-before"], root, at=NOW, ocsps=[revoked_now]) == ("PASSED", None)


def test_pyhanko_classifies_the_licence_sealed_after_the_cut_over_as_revoked(world) -> None:  # type: ignore[no-untyped-def]
    root = world.root.public_bytes(serialization.Encoding.DER)
    # pyHanko's default freshness model refuses revocation information issued after its control time ("too
    # recent", which ETSI EN 319 102-1 does not have); with that switched off it reaches the ETSI verdict.
    indication, sub = pyhanko_ades_lta(world.documents["market-after"], root, at=NOW, retroactive_revinfo=True)
    assert (indication, sub) == ("INDETERMINATE", "REVOKED_NO_POE")
    # Without the switch it cannot conclude either way; it never passes it.
    assert pyhanko_ades_lta(world.documents["market-after"], root, at=NOW)[0] != "PASSED"


def _verify(world: World, name: str):  # type: ignore[no-untyped-def]
    issued = current_trust_bundle(world.instance, at=datetime.now(UTC))
    bundle = load_trust_bundle(issued.document, trust_roots=[world.root], at=datetime.now(UTC))
    return verify_pdf(world.documents[name], trust_roots=[world.root], file=f"{name}.pdf", bundle=bundle)


def test_our_verifier_with_the_bundle_on_each_side_of_the_cut_over(world) -> None:  # type: ignore[no-untyped-def]
    before = _verify(world, "market-before")
    assert before.verdict is Verdict.VALID, before.to_json()
    assert any(f"before the seal retired on {PAST_DAY.isoformat()}" in m.en for m in before.messages)
    after = _verify(world, "market-after")
    assert after.verdict is Verdict.INVALID, after.to_json()
    assert f"seal retired on {PAST_DAY.isoformat()}" in after.summary


def test_our_verifier_with_the_bundle_on_each_side_of_a_key_compromise(world) -> None:  # type: ignore[no-untyped-def]
    before = _verify(world, "zz-before")
    assert before.verdict is Verdict.VALID, before.to_json()
    after = _verify(world, "zz-after")
    assert after.verdict is Verdict.INVALID, after.to_json()
    assert "compromised since" in after.summary
