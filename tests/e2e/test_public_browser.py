"""The public face as people use it, in Debian's Chromium at phone (390x844) and desktop (1280x800) sizes.

For each size: the home page; search a sealed licence by its number and open its page; check the PDF from the home
page's upload form; file a complaint (with script and HTML in its text: nothing runs, it shows as typed) and see its
status, then its answer; the catalogue and the API docs. On every page axe-core (vendored from npm, injected
offline) reports no serious or critical violation, no page is wider than the screen, and no request leaves the
service. Reading and the forms also work with JavaScript off. Phone-size screenshots of each page are kept in
``test-artefacts/public/`` (git-ignored).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import make_instance, make_settings
from tests.support.server import LiveServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "public"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><b>粗体</b>'
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make deps-test)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def site(tmp_path_factory, licence_pdf):  # type: ignore[no-untyped-def]
    """A live server of its own (limits high enough for two screen sizes) and a licence sealed on it."""
    from seal_service.services.sealing import LicenceRequest, seal_licence

    port = free_port()
    settings = make_settings(
        tmp_path_factory.mktemp("public-site"), public_url=f"http://127.0.0.1:{port}", public_complaints_per_hour=50
    )
    instance = make_instance(settings)
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="晋城市浏览器测试餐饮有限公司",
        holder_code="11430000006122244L",
        holder_code_type="001",
        seal_id="jc-bureau-approval",
    )
    sealed = seal_licence(instance, licence_pdf, request, actor="test", at=datetime.now(UTC))
    pdf = tmp_path_factory.mktemp("public-pdf") / "licence.pdf"
    pdf.write_bytes(sealed.pdf)
    server = LiveServer(instance, port)
    server.start()
    try:
        yield instance, server, sealed, pdf
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(site):  # type: ignore[no-untyped-def]
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


class Visit:
    """One browser page at one size that records requests leaving the service and checks what it shows."""

    def __init__(self, browser, server, size: str, *, javascript: bool = True) -> None:  # type: ignore[no-untyped-def]
        # CSP bypassed so that axe can be injected; it also shows that escaping alone keeps stored text inert.
        self.context = browser.new_context(viewport=SIZES[size], bypass_csp=True, java_script_enabled=javascript)
        self.page = self.context.new_page()
        self.size = size
        self.server = server
        self.external: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: None if r.url.startswith(server.url) else self.external.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def check(self, name: str) -> None:
        """axe-core: no serious or critical violation; not wider than the screen; a screenshot at phone size."""
        page = self.page
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{name} at {self.size}: " + "; ".join(bad)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= SIZES[self.size]["width"], f"{name} at {self.size} is {width}px wide"
        if self.size == "phone":
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        """Close, and assert nothing left the service."""
        self.context.close()
        assert self.external == [], self.external


@pytest.mark.parametrize("size", list(SIZES))
def test_search_open_check_and_complain(site, browser, size) -> None:  # type: ignore[no-untyped-def]
    from seal_service.public.complaints import answer_complaint

    instance, server, sealed, pdf = site
    visit = Visit(browser, server, size)
    page = visit.page
    # (1) The home page.
    assert page.goto(server.url + "/").status == 200  # type: ignore[union-attr]
    assert "核验证照" in page.inner_text("main") and page.locator('a[href="/log/checkpoint"]').count() == 1
    visit.check("home")
    # (2) Search the licence by its number: exactly one record, then its page.
    page.fill("#q", sealed.number)
    page.click("form[action='/register'] button")
    page.wait_for_url("**/register?**")
    assert page.locator("article.record").count() == 1
    assert "晋城市浏览器测试餐饮有限公司" in page.inner_text("article.record")
    visit.check("register")
    page.click(f"article.record h3 a[href='/v/{sealed.licence_id}']")
    page.wait_for_url(f"**/v/{sealed.licence_id}")
    assert page.get_attribute("#status", "data-status") == "valid"
    assert "11430000006122244L" in page.inner_text("body")  # an organisation's code in full
    visit.check("licence")
    # (3) Check the PDF from the home page's upload form.
    page.goto(server.url + "/")
    page.set_input_files("#pdf", str(pdf))
    page.click("form[action='/check'] button")
    page.wait_for_selector("#verdict")
    assert page.get_attribute("#verdict", "data-verdict") == "valid"
    visit.check("check")
    # (4) A complaint with script and HTML in it: shown as typed, nothing runs.
    page.goto(server.url + "/complaints/new")
    visit.check("complaint-form")
    page.select_option("#category", "证照信息有误")
    page.fill("#licence", sealed.number)
    page.fill("#text", PAYLOAD)
    page.click("form[action='/complaints'] button")
    page.wait_for_selector("#receipt")
    receipt = page.inner_text("#receipt")
    assert receipt.startswith("TS-") and page.get_attribute("#status", "data-status") == "received"
    assert page.inner_text("#text") == PAYLOAD
    assert page.evaluate("() => window.__pwned") is None and visit.dialogs == []
    assert page.locator("#text img, #text script, #text b").count() == 0
    visit.check("complaint")
    # (5) Staff answer; the complainant sees it with the receipt code.
    answer_complaint(instance, receipt, answer="已更正证照信息。<i>谢谢</i>", actor="test", at=datetime.now(UTC))
    page.goto(server.url + "/complaints/new")
    page.fill("#receipt", receipt)
    page.click("form[action='/complaints'][method='get'] button")
    page.wait_for_selector("#answer")
    assert page.get_attribute("#status", "data-status") == "answered"
    assert page.inner_text("#answer") == "已更正证照信息。<i>谢谢</i>"
    visit.check("complaint-answered")
    # (6) English on the switch.
    page.click("a.lang")
    assert page.evaluate("() => document.documentElement.lang") == "en" and "Complaint status" in page.inner_text("h1")
    visit.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_catalogue_and_docs_read_on_every_screen(site, browser, size) -> None:  # type: ignore[no-untyped-def]
    _, server, _, _ = site
    visit = Visit(browser, server, size)
    page = visit.page
    page.goto(server.url + "/catalogue")
    history = page.locator("td[data-label='沿革 History']").first
    assert history.is_visible()
    box = history.bounding_box()
    assert box is not None and box["x"] + box["width"] <= SIZES[size]["width"]
    visit.check("catalogue")
    page.goto(server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)
    assert "One-seal service" in page.inner_text(".swagger-ui .info")
    if size == "phone":
        page.screenshot(path=str(ARTEFACTS / "docs.png"))
    visit.close()


def test_reading_and_forms_work_without_javascript(site, browser) -> None:  # type: ignore[no-untyped-def]
    _, server, sealed, _ = site
    visit = Visit(browser, server, "phone", javascript=False)
    page = visit.page
    page.goto(server.url + "/register")
    page.fill("#q", sealed.number)
    page.click("form[action='/register'] button")
    page.wait_for_url("**/register?**")
    assert page.locator("article.record").count() == 1
    page.goto(server.url + "/complaints/new")
    page.select_option("#category", "审批服务问题")
    page.fill("#text", "无脚本也能提交")
    page.click("form[action='/complaints'] button")
    page.wait_for_selector("#receipt")
    assert page.get_attribute("#status", "data-status") == "received"
    visit.close()
