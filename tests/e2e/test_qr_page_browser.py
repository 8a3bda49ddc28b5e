"""The page a licence's QR code opens, as a person sees it: scanned from the printed page, opened in Chromium.

Headless Debian Chromium driven by Playwright (never ``playwright install``: the browser is the system one).
The screenshot of the phone-sized page is left at /tmp/qr-page.png for people to look at.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from tests.support import forgeries
from tests.support.requirements import needs

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = needs("chromium", CHROMIUM.exists(), "Debian chromium is not installed (make deps-test)")


@pytest.fixture(scope="module")
def licence_files(live_instance, licence_pdf, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A sealed licence, its PDF and a copy changed after sealing, and the QR code read off the rendered page.

    Made before the browser starts: Playwright's sync API runs an event loop, and sealing runs its own."""
    import zxingcpp

    from seal_service.services.sealing import LicenceRequest, seal_licence

    instance, _ = live_instance
    tmp_path = tmp_path_factory.mktemp("qr-page")
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="张三明",
        holder_code="11010519491231002X",
        holder_code_type="111",
        seal_id="jc-bureau-approval",
    )
    sealed = seal_licence(instance, licence_pdf, request, actor="test", at=datetime.now(UTC))
    genuine = tmp_path / "licence.pdf"
    genuine.write_bytes(sealed.pdf)
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(forgeries.isa_overlay(sealed.pdf))
    # What a phone's camera would read: the QR code on the rendered page.
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(genuine), str(tmp_path / "page")], check=True)
    [code] = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    return sealed, genuine, tampered, code.text


@pytest.fixture(scope="module")
def browser(licence_files):  # type: ignore[no-untyped-def]
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def test_scan_open_and_check_the_file(live_instance, licence_files, browser) -> None:  # type: ignore[no-untyped-def]
    _, server = live_instance
    sealed, genuine, tampered, scanned = licence_files
    assert scanned == f"{server.url}/v/{sealed.licence_id}"

    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(server.url) else None)
    # (2) The page it opens: the record, in force, personal data masked.
    response = page.goto(scanned)
    assert response is not None and response.status == 200
    status = page.locator("#status")
    assert status.get_attribute("data-status") == "valid" and "证照有效" in status.inner_text()
    body = page.inner_text("body")
    assert "张*明" in body and "11010519491231002X" not in body and "002X" not in body  # no ID number at all
    assert "晋城市行政审批服务管理局" in body and sealed.number in body
    # Both seals the licence carries are shown with their status on record: PAdES and the national seal (国密).
    on_record = page.locator("#seal-gm").get_attribute("data-status")
    assert page.locator("#seal-pades").is_visible() and on_record in ("valid", "absent")
    assert ("国密" in page.inner_text("dl")) and ("SM2/SM3" in page.inner_text("#seal-gm") or on_record == "absent")
    # (3) The file one holds, dropped in: genuine is valid ...
    page.set_input_files("#pdf", str(genuine))
    page.wait_for_selector("#verdict")
    assert page.get_attribute("#verdict", "data-verdict") == "valid" and "有效" in page.inner_text("#verdict")
    # Each seal of the file is reported on its own, beside the overall verdict.
    assert page.get_attribute("#file-seal-pades", "data-status") == "valid"
    assert page.get_attribute("#file-seal-gm", "data-status") == ("valid" if on_record == "valid" else "absent")
    assert "国密电子签章" in page.inner_text("#file-seals")
    page.screenshot(path="/tmp/qr-page.png", full_page=True)
    # ... and in English too.
    page.click("#lang")
    assert page.inner_text("#verdict") == "valid" and "Licence valid" in status.inner_text()
    assert "National seal" in page.inner_text("#file-seals") and "PAdES seal" in page.inner_text("#file-seals")
    assert "lang=en" in page.url
    page.click("#lang")
    # (4) ... a copy changed after sealing is not.
    page.set_input_files("#pdf", str(tampered))
    page.wait_for_selector("#verdict[data-verdict=modified]")
    assert "被修改" in page.inner_text("#verdict")
    assert "The document was changed after sealing" not in page.inner_text("#verdict")  # Chinese shown first
    assert external == [], external  # no external resources, no tracking


def test_an_unknown_licence_is_a_clear_not_found_page(live_instance, browser) -> None:  # type: ignore[no-untyped-def]
    _, server = live_instance
    page = browser.new_page(viewport={"width": 390, "height": 844})
    response = page.goto(f"{server.url}/v/LNOSUCHLICENCE000000")
    assert response is not None and response.status == 404
    assert "未找到该证照" in page.inner_text("#status")
    page.click("#lang")
    assert "Licence not found" in page.inner_text("#status")
