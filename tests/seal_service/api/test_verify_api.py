"""The public verify API and the licence status endpoint, through the real ASGI stack (one SQLite instance)."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.support.pdfs import sample_licence_pdf


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    """(client, sealed licence) of a fresh SQLite instance; the client's event loop lives for the module."""
    from seal_service.api.app import create_app
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from tests.conftest import make_instance, make_settings

    instance = make_instance(make_settings(tmp_path_factory.mktemp("verify-api"), public_url="http://testserver"))
    request = LicenceRequest(item_code="JC-001", holder_name="张三明", seal_id="jc-bureau-approval")
    sealed = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    with TestClient(create_app(instance=instance)) as client:
        yield client, sealed, instance


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()  # type: ignore[no-any-return]


def test_a_genuine_licence_is_valid_with_every_check_and_its_record(served) -> None:  # type: ignore[no-untyped-def]
    client, sealed, _ = served
    report = client.post("/v1/verify", files={"pdf": ("licence.pdf", sealed.pdf, "application/pdf")}).json()
    assert (report["verdict"], report["indication"], report["file"]) == ("valid", "TOTAL_PASSED", "licence.pdf")
    assert [c["name"] for c in report["checks"]] == [
        "structure",
        "integrity",
        "coverage",
        "chain-revocation-time",
        "seal-lifecycle",
        "licence-identity",
        "licence-status",
        "licence-log",
    ]
    outcomes = {c["name"]: c["outcome"] for c in report["checks"]}
    assert outcomes["licence-identity"] == outcomes["licence-status"] == "passed"
    licence = report["licence"]
    assert licence["id"] == sealed.licence_id and licence["identifier"] == sealed.identifier
    assert (licence["status"], licence["record"], licence["number"]) == ("valid", "matches", sealed.number)


def test_a_tampered_licence_is_invalid_and_a_non_pdf_is_a_report_not_an_error(served) -> None:  # type: ignore[no-untyped-def]
    client, sealed, _ = served
    tampered = sealed.pdf.replace(b"Food Business Licence", b"Fake Business Licence")
    report = client.post("/v1/verify", files={"pdf": ("x.pdf", tampered, "application/pdf")}).json()
    assert (report["verdict"], report["subindication"]) == ("invalid", "HASH_FAILURE")
    report = client.post("/v1/verify", files={"pdf": ("notes.txt", b"hello", "text/plain")}).json()
    assert (report["verdict"], report["subindication"]) == ("invalid", "FORMAT_FAILURE")


def test_bad_input_is_a_problem(served) -> None:  # type: ignore[no-untyped-def]
    client, _, instance = served
    assert _problem(client.post("/v1/verify"), 422)["errors"][0]["field"] == "pdf"
    assert "empty" in _problem(client.post("/v1/verify", files={"pdf": ("a.pdf", b"")}), 422)["detail"]
    too_big = b"%PDF-" + b"0" * (instance.settings.max_upload_bytes + 70 * 1024)
    _problem(client.post("/v1/verify", files={"pdf": ("big.pdf", too_big)}), 413)
    _problem(client.post("/v1/verify/batch"), 422)
    _problem(client.get("/v1/verify/jobs/Jnosuchjob"), 404)


def test_a_revoked_licence_is_invalid_online(served) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence

    client, _, instance = served
    request = LicenceRequest(item_code="JC-001", holder_name="李四", seal_id="jc-bureau-approval")
    other = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    change_licence_status(
        instance,
        other.licence_id,
        action=LicenceAction.REVOKE,
        reason="test",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    report = client.post("/v1/verify", files={"pdf": ("r.pdf", other.pdf)}).json()
    assert (report["verdict"], report["subindication"], report["licence"]["status"]) == (
        "invalid",
        "SIG_CONSTRAINTS_FAILURE",
        "revoked",
    )
    assert report["messages"][0] == "证照已撤销 / Licence revoked"
    public = client.get(f"/v1/public/licences/{other.licence_id}").json()
    assert public["status"] == "revoked" and set(public) == {
        "id",
        "identifier",
        "number",
        "status",
        "valid_until",
        "document_sha256",
    }
    assert "李四" not in str(public)


def test_public_licence_status_has_no_personal_data_and_404s(served) -> None:  # type: ignore[no-untyped-def]
    client, sealed, _ = served
    public = client.get(f"/v1/public/licences/{sealed.licence_id}").json()
    assert public["document_sha256"] == sealed.document_sha256 and "张三明" not in str(public)
    _problem(client.get("/v1/public/licences/LNOSUCH"), 404)


def test_a_small_batch_answers_at_once(served) -> None:  # type: ignore[no-untyped-def]
    client, sealed, _ = served
    files = [("files", ("a.pdf", sealed.pdf)), ("files", ("b.pdf", b"not a pdf")), ("files", ("c.pdf", sealed.pdf))]
    answer = client.post("/v1/verify/batch", files=files)
    assert answer.status_code == 200
    body = answer.json()
    assert body["summary"] == {"valid": 2, "invalid": 1, "indeterminate": 0, "modified": 0}
    assert [r["file"] for r in body["results"]] == ["a.pdf", "b.pdf", "c.pdf"]


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_large_zip_batch_becomes_a_job(served) -> None:  # type: ignore[no-untyped-def]
    client, sealed, _ = served
    archive = _zip({f"licences/{n:02}.pdf": sealed.pdf for n in range(21)} | {"readme.txt": b"ignored"})
    answer = client.post("/v1/verify/batch", files={"files": ("batch.zip", archive, "application/zip")})
    assert answer.status_code == 202 and answer.headers["location"].startswith("/v1/verify/jobs/J")
    deadline = time.monotonic() + 60
    while True:
        job = client.get(answer.headers["location"]).json()
        if job["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] == "done" and job["summary"]["valid"] == 21 and len(job["results"]) == 21


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"bomb.pdf": b"\0" * (2 * 1024 * 1024)}, "compression ratio"),
        ({f"{n}.pdf": b"%PDF-1.7" for n in range(501)}, "at most 500"),
        ({"readme.txt": b"no pdf"}, "no *.pdf"),
    ],
    ids=["ratio", "count", "no-pdf"],
)
def test_a_dangerous_or_useless_zip_is_refused_before_extraction(served, entries, words: str) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    answer = client.post("/v1/verify/batch", files={"files": ("x.zip", _zip(entries))})
    assert words in _problem(answer, 422)["detail"]


def test_a_zip_lying_about_sizes_is_refused(served) -> None:  # type: ignore[no-untyped-def]
    from seal_service.errors import InvalidInput
    from seal_service.services.verification import unzip_batch

    honest = _zip({"a.pdf": b"%PDF-1.7 " * 50}, zipfile.ZIP_STORED)
    lying = honest.replace((450).to_bytes(4, "little"), (45).to_bytes(4, "little"))  # declared size 45, not 450
    with pytest.raises(InvalidInput):
        unzip_batch(lying, max_entry_bytes=1000)


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT"])
def test_licences_below_b_lta_are_valid_and_the_report_states_level_proof_and_verifiable_until(served, level) -> None:  # type: ignore[no-untyped-def]
    # The service knows its own CRLs: B-B and B-T licences (no revocation data in the file) are checked with them.
    from seal_service.services.sealing import LicenceRequest, seal_licence
    from seal_service.signing.sealer import PadesLevel

    client, _, instance = served
    request = LicenceRequest(
        item_code="JC-001", holder_name="王五", seal_id="jc-bureau-approval", level=PadesLevel(level)
    )
    licence = seal_licence(instance, sample_licence_pdf(), request, actor="test", at=datetime.now(UTC))
    report = client.post("/v1/verify", files={"pdf": ("l.pdf", licence.pdf)}).json()
    assert (report["verdict"], report["level"]) == ("valid", level), report
    assert report["verifiable_until"] is not None
    assert (report["proven_signing_time"] is None) == (level == "B-B")
    assert report["long_term"].startswith(f"PAdES 级别：{level}；") and f"PAdES level: {level};" in report["long_term"]
    batch = client.post("/v1/verify/batch", files=[("files", ("a.pdf", licence.pdf))]).json()
    assert batch["results"][0]["long_term"] == report["long_term"]


def test_the_qr_pages_upload_check_shows_the_long_term_statement(served) -> None:  # type: ignore[no-untyped-def]
    client, sealed, _ = served
    page = client.get(f"/v/{sealed.licence_id}").text
    assert "r.long_term" in page and 'id="long-term"' in page
