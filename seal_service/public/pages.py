"""Server-rendered pages of the public face: home, register, complaints, check result, errors.

Phone first, zh-CN first with English on a switch (``?lang=en``: a link, so it works without JavaScript), no
external resources, no scripts at all: every page reads and every form works in a browser with JavaScript off.
Everything from the database or the visitor goes through :func:`html.escape`; the pages are also sent with a
Content-Security-Policy that allows no script (:data:`PAGE_HEADERS`), so stored text can never run.

Example::

    >>> "证照" in home_page(state, lang="zh", trust_links=[])     # doctest: +SKIP
    True
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from urllib.parse import urlencode

from seal_service.catalogue import Catalogue
from seal_service.public.complaints import CATEGORY_EN, MAX_CONTACT, MAX_TEXT, Category, ComplaintView
from seal_service.public.register import STATUS_NAMES, RegisterPage, RegisterQuery, RegisterRecord

CHINA_TZ = timezone(timedelta(hours=8))

PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.55 system-ui,-apple-system,"Noto Sans CJK SC","WenQuanYi Zen Hei",
sans-serif;color:#1d1d1f;background:#f4f5f7}main{max-width:60rem;margin:0 auto;padding:.75rem}
header.site{background:#8c1c13;color:#fff}header.site div{max-width:60rem;margin:0 auto;padding:.5rem .75rem;
display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.4rem}
header.site a{color:#fff}.brand{font-weight:700;text-decoration:none;font-size:1.05rem}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2rem .9rem}
a.lang{border:1px solid #fff;border-radius:1rem;padding:.05rem .7rem;text-decoration:none;font-size:.9rem}
h1{font-size:1.35rem;margin:.6rem 0}h2{font-size:1.1rem;margin:.2rem 0 .6rem}
.card{background:#fff;border-radius:.8rem;padding:1rem;margin:.75rem 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
label{display:block;font-weight:600;margin:.5rem 0 .2rem}input,select,textarea{font:inherit;width:100%;
padding:.5rem;border:1px solid #767676;border-radius:.4rem;background:#fff;color:#1d1d1f}textarea{min-height:9rem}
button{font:inherit;background:#8c1c13;color:#fff;border:0;border-radius:.5rem;padding:.55rem 1.2rem;
margin-top:.7rem;cursor:pointer}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));
gap:0 .8rem}.hint{color:#555;font-size:.9rem}.error{color:#b00020;font-weight:600}.ok{color:#0a7a2f}
.bad{color:#b00020}.warn{color:#8a5100}dl{margin:0;display:grid;grid-template-columns:max-content 1fr;
gap:.25rem .8rem}dt{color:#555}dd{margin:0;overflow-wrap:anywhere}.record{border-top:1px solid #ddd;
padding:.6rem 0}.record:first-of-type{border-top:0}.record h3{font-size:1rem;margin:0 0 .3rem}
.pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f9;border-radius:.4rem;padding:.6rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.35rem .4rem;text-align:left;
vertical-align:top}th{color:#444}.en{display:none}html[lang=en] .en{display:inline}html[lang=en] .zh{display:none}
@media (max-width:40rem){table.cards tr:first-child{display:none}table.cards,table.cards tbody,table.cards tr,
table.cards td{display:block;width:100%}table.cards tr{border-bottom:1px solid #ddd;padding:.4rem 0}
table.cards td{border:0;padding:.1rem 0}table.cards td::before{content:attr(data-label);display:block;color:#555;
font-size:.8rem}dl{grid-template-columns:1fr}dt{margin-top:.3rem}}
"""


def e(value: object) -> str:
    """HTML-escape anything shown on a page."""
    return html.escape(str(value), quote=True)


def t(zh: str, en: str) -> str:
    """Both languages, escaped; CSS shows the page's one."""
    return f'<span class="zh" lang="zh-CN">{e(zh)}</span><span class="en" lang="en">{e(en)}</span>'


def _lang_href(path: str, params: dict[str, str], lang: str) -> str:
    other = {k: v for k, v in params.items() if k != "lang" and v}
    if lang != "en":
        other["lang"] = "en"
    query = urlencode(other)
    return path + ("?" + query if query else "")


def with_lang(path: str, lang: str) -> str:
    """``path`` keeping the page's language."""
    if lang != "en":
        return path
    return path + ("&" if "?" in path else "?") + "lang=en"


def layout(title: str, body: str, *, lang: str, path: str, params: dict[str, str] | None = None) -> str:
    """A whole page: header with navigation and the language switch, then ``body`` (already escaped)."""
    html_lang = "en" if lang == "en" else "zh-CN"
    switch = _lang_href(path, params or {}, lang)
    nav = [
        ("/", ("首页", "Home")),
        ("/register", ("许可公示", "Register")),
        ("/complaints/new", ("投诉", "Complaints")),
        ("/catalogue", ("事项目录", "Catalogue")),
    ]
    links = "".join(f'<li><a href="{e(with_lang(href, lang))}">{t(*words)}</a></li>' for href, words in nav)
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header class="site"><div><a class="brand" href="{e(with_lang("/", lang))}">'
        + t("一枚印章管审批 · 电子证照服务", "One-seal licence service")
        + f'</a><nav aria-label="{"Site" if lang == "en" else "网站导航"}"><ul>{links}</ul></nav>'
        f'<a class="lang" href="{e(switch)}" hreflang="{"zh-CN" if lang == "en" else "en"}">'
        + ("中文" if lang == "en" else "English")
        + f"</a></div></header><main>{body}</main></body></html>"
    )


@dataclass(frozen=True)
class TrustLink:
    """A link to trust material for experts."""

    href: str
    zh: str
    en: str


def home_page(
    catalogue: Catalogue, history: Sequence[tuple[str, str, str, str]], *, lang: str, trust_links: Iterable[TrustLink]
) -> str:
    """The home page. ``history``: (day, item, from -> to, memorandum) lines of the catalogue's changes."""
    trust = "".join(f'<li><a href="{e(link.href)}">{t(link.zh, link.en)}</a></li>' for link in trust_links)
    items = "".join(
        f'<tr><td data-label="{e("事项 Item")}">{e(item.code)} {e(item.name)}</td>'
        f'<td data-label="{e("证照 Licence")}">{e(item.licence_type)}</td>'
        f'<td data-label="{e("监管部门 Supervisor")}">{e(_authority_name(catalogue, item.supervisor))}</td></tr>'
        for item in catalogue.items.values()
    )
    changes = "".join(
        f'<tr><td data-label="{e("日期 Day")}">{e(day)}</td><td data-label="{e("事项 Item")}">{e(item)}</td>'
        f'<td data-label="{e("划转 Moved")}">{e(move)}</td><td data-label="{e("依据 By")}">{e(memo)}</td></tr>'
        for day, item, move, memo in history
    )
    lang_field = '<input type="hidden" name="lang" value="en">' if lang == "en" else ""
    body = (
        "<h1>" + t("电子证照查询、核验与投诉", "Look up, check and complain about licences") + "</h1>"
        '<section class="card" aria-labelledby="about"><h2 id="about">'
        + t("这是什么", "What this is")
        + "</h2><p>"
        + t(
            "本服务为行政审批服务管理局“一枚印章管审批”签发加盖电子印章的电子证照，并向社会公示。"
            "任何人都可以在这里查询证照、核验手中的证照文件、查看划转事项目录和投诉。",
            "This service issues the electronic licences that an Administrative Approval Service Bureau seals with "
            "its single approval seal, and publishes them. Anyone can look a licence up here, check a licence file, "
            "read the catalogue of transferred items and file a complaint.",
        )
        + "</p></section>"
        '<section class="card" aria-labelledby="check"><h2 id="check">' + t("核验证照", "Check a licence") + "</h2>"
        '<form method="get" action="/register"><label for="q">'
        + t("证照编号、证照标识或统一社会信用代码", "Licence number, identifier or credit code")
        + f'</label><input id="q" name="q" maxlength="100" autocomplete="off">{lang_field}<button type="submit">'
        + t("查询", "Search")
        + "</button></form>"
        '<form method="post" action="/check" enctype="multipart/form-data"><label for="pdf">'
        + t("上传证照 PDF 文件核验（文件不会被保存）", "Upload a licence PDF to check it (the file is not kept)")
        + f'</label><input id="pdf" name="pdf" type="file" accept="application/pdf,.pdf" required>{lang_field}'
        '<button type="submit">' + t("核验文件", "Check the file") + "</button></form>"
        '<p class="hint">'
        + t(
            "扫码核验：用手机相机或微信扫描证照上的二维码，打开的页面显示该证照的登记状态；请确认页面地址属于本服务。",
            "Scan to check: point a phone camera at the QR code printed on the licence; the page it opens shows "
            "the licence's status on record. Make sure the address belongs to this service.",
        )
        + "</p></section>"
        '<section class="card" aria-labelledby="register"><h2 id="register">'
        + t("许可公示", "Public register")
        + "</h2><p>"
        + t(
            "已签发的行政许可在盖章后即时公示，状态变化（撤销、中止、注销）即时更新。自然人姓名脱敏，不公开身份证号码。",
            "Licences are published the moment they are sealed, and status changes (revoked, suspended, cancelled) "
            "show at once. Natural persons' names are masked; ID numbers are never published.",
        )
        + f'</p><p><a href="{e(with_lang("/register", lang))}">'
        + t("进入许可公示", "Open the register")
        + "</a> · "
        '<a href="/v1/public/licences?format=csv">' + t("下载 CSV", "Download CSV") + "</a></p></section>"
        '<section class="card" aria-labelledby="catalogue"><h2 id="catalogue">'
        + t("划转事项目录", "Catalogue of transferred items")
        + '</h2><table class="cards"><tr><th scope="col">'
        + t("事项", "Item")
        + '</th><th scope="col">'
        + t("证照", "Licence")
        + '</th><th scope="col">'
        + t("监管部门", "Supervisor")
        + f"</th></tr>{items}</table>"
        "<h3>" + t("变更记录", "Change history") + "</h3>"
        '<table class="cards"><tr><th scope="col">'
        + t("日期", "Day")
        + '</th><th scope="col">'
        + t("事项", "Item")
        + '</th><th scope="col">'
        + t("划转", "Moved")
        + '</th><th scope="col">'
        + t("依据", "By")
        + "</th></tr>"
        + (changes or '<tr><td colspan="4">' + t("暂无", "none") + "</td></tr>")
        + f'</table><p><a href="{e(with_lang("/catalogue", lang))}">'
        + t("完整目录", "Full catalogue")
        + "</a></p>"
        "</section>"
        '<section class="card" aria-labelledby="complain"><h2 id="complain">'
        + t("投诉", "Complaints")
        + "</h2><p>"
        + t(
            "对证照信息、未经许可经营或审批服务有意见，可在线投诉，凭受理编号查询处理结果。"
            "涉及证照持有人的投诉转交该事项的监管部门，审批服务投诉由行政审批服务管理局处理。",
            "Complain online about licence information, unlicensed business or the approval service, and follow "
            "it with your receipt code. Complaints about a licence holder go to the department supervising the "
            "item; complaints about the service go to the bureau.",
        )
        + f'</p><p><a href="{e(with_lang("/complaints/new", lang))}">'
        + t("我要投诉", "File a complaint")
        + "</a></p>"
        "</section>"
        '<section class="card" aria-labelledby="trust"><h2 id="trust">'
        + t("信任材料（供专业人员）", "Trust material (for experts)")
        + f"</h2><ul>{trust}</ul></section>"
    )
    return layout("电子证照服务 · One-seal licence service", body, lang=lang, path="/")


def _authority_name(catalogue: Catalogue, code: str) -> str:
    authority = catalogue.authorities.get(code)
    return authority.name if authority else code


def _status_html(record: RegisterRecord) -> str:
    zh, en = STATUS_NAMES.get(record.status, (record.status, record.status))
    css = "ok" if record.status == "valid" else ("warn" if record.status == "suspended" else "bad")
    return f'<span class="{css}" data-status="{e(record.status)}">{t(zh, en)}</span>'


def _record_html(record: RegisterRecord, lang: str) -> str:
    rows = [
        (("行政相对人名称", "Holder"), e(record.holder_name)),
        (("行政相对人代码", "Holder code"), e(record.holder_code or "—")),
        (("许可证书编号", "Licence number"), e(record.number)),
        (("许可证书名称", "Licence"), e(record.licence_type)),
        (("许可内容", "Item"), e(f"{record.item_name}（{record.item_code}）")),
        (("许可决定日期", "Decided on"), e(record.decided_on.isoformat())),
        (("有效期自", "Valid from"), e(record.valid_from.isoformat())),
        (("有效期至", "Valid until"), e(record.valid_until.isoformat()) if record.valid_until else t("长期", "no end")),
        (("许可机关", "Authority"), e(f"{record.authority_name}（{record.authority_credit_code}）")),
        (("当前状态", "Status"), _status_html(record)),
        (("数据来源单位", "Data source"), e(record.source_name)),
    ]
    items = "".join(f"<dt>{t(*label)}</dt><dd>{value}</dd>" for label, value in rows)
    return (
        f'<article class="record" data-licence="{e(record.licence_id)}">'
        f'<h3><a href="{e(with_lang(record.page_path, lang))}">'
        f"{e(record.number)}</a></h3><dl>{items}</dl></article>"
    )


def register_page(
    query: RegisterQuery,
    page: RegisterPage | None,
    *,
    catalogue: Catalogue,
    lang: str,
    params: dict[str, str],
    error: tuple[str | None, str] | None = None,
) -> str:
    """The register: the search form with its filters, then one page of records and a link to the next."""

    def value(name: str) -> str:
        return e(params.get(name, ""))

    def options(pairs: Iterable[tuple[str, str]], current: str | None) -> str:
        out = '<option value="">' + ("All" if lang == "en" else "全部") + "</option>"
        for code, label in pairs:
            chosen = " selected" if code == current else ""
            out += f'<option value="{e(code)}"{chosen}>{e(label)}</option>'
        return out

    items = options(((i.code, f"{i.code} {i.name}") for i in catalogue.items.values()), query.item)
    authorities = options(((a.code, a.name) for a in catalogue.authorities.values()), query.authority)
    statuses = options(((k, f"{zh} {en}") for k, (zh, en) in STATUS_NAMES.items()), query.status)
    lang_field = '<input type="hidden" name="lang" value="en">' if lang == "en" else ""
    message = ""
    if error is not None:
        field, detail = error
        message = f'<p class="error" role="alert" id="error" data-field="{e(field or "")}">{e(detail)}</p>'
    form = (
        '<form method="get" action="/register" class="card" role="search"><label for="q">'
        + t(
            "证照编号、证照标识、统一社会信用代码或单位名称开头",
            "Licence number, identifier, credit code or start of a company name",
        )
        + f'</label><input id="q" name="q" value="{value("q")}" maxlength="100" autocomplete="off"><div class="grid">'
        '<div><label for="item">'
        + t("许可事项", "Item")
        + f'</label><select id="item" name="item">{items}</select></div>'
        '<div><label for="authority">'
        + t("许可机关", "Authority")
        + f'</label><select id="authority" name="authority">{authorities}</select></div>'
        '<div><label for="status">'
        + t("当前状态", "Status")
        + f'</label><select id="status" name="status">{statuses}</select></div>'
        '<div><label for="issued_from">'
        + t("决定日期自", "Decided from")
        + f'</label><input id="issued_from" name="issued_from" type="date" value="{value("issued_from")}"></div>'
        '<div><label for="issued_until">'
        + t("决定日期至", "Decided until")
        + f'</label><input id="issued_until" name="issued_until" type="date" value="{value("issued_until")}"></div>'
        f'</div>{lang_field}<button type="submit">' + t("查询", "Search") + "</button></form>"
    )
    results = ""
    if page is not None:
        if page.records:
            results = "".join(_record_html(r, lang) for r in page.records)
        else:
            results = '<p id="none">' + t("没有符合条件的证照。", "No licence matches.") + "</p>"
        more = ""
        if page.next_cursor:
            nxt = {k: v for k, v in params.items() if v and k != "cursor"} | {"cursor": page.next_cursor}
            more = f'<p><a id="next" href="/register?{e(urlencode(nxt))}">' + t("下一页", "Next page") + "</a></p>"
        csv_params = {k: v for k, v in params.items() if v and k not in ("cursor", "lang")} | {"format": "csv"}
        results = (
            '<section class="card" aria-labelledby="results"><h2 id="results">' + t("公示结果", "Results") + "</h2>"
            f'{results}{more}<p class="hint"><a href="/v1/public/licences?{e(urlencode(csv_params))}">'
            + t("下载本查询结果（CSV）", "Download these results (CSV)")
            + "</a></p></section>"
        )
    body = (
        "<h1>" + t("行政许可公示", "Public register of licences") + "</h1>"
        '<p class="hint">'
        + t(
            "盖章后即时公示。自然人姓名脱敏、不公开身份证号码；自然人持有的证照只能按证照编号查询。",
            "Published when sealed. Natural persons' names are masked and their ID numbers never shown; a "
            "person's licence can be found by its number only.",
        )
        + f"</p>{message}{form}{results}"
    )
    return layout("行政许可公示 · Public register", body, lang=lang, path="/register", params=params)


def complaint_form(*, lang: str, values: dict[str, str], error: tuple[str | None, str] | None = None) -> str:
    """The complaint form (re-shown with the visitor's input and the refusal when a field is refused)."""
    message = ""
    if error is not None:
        field, detail = error
        message = f'<p class="error" role="alert" id="error" data-field="{e(field or "")}">{e(detail)}</p>'
    current = values.get("category", "")
    categories = "".join(
        f'<option value="{e(c.value)}"{" selected" if c.value == current else ""}>{e(c.value)} / {e(CATEGORY_EN[c])}'
        "</option>"
        for c in Category
    )
    lang_field = '<input type="hidden" name="lang" value="en">' if lang == "en" else ""
    body = (
        "<h1>" + t("投诉", "File a complaint") + f"</h1>{message}"
        '<form method="post" action="/complaints" class="card"><label for="category">'
        + t("投诉类别", "Category")
        + f'</label><select id="category" name="category" required>{categories}</select>'
        '<label for="licence">'
        + t("证照编号或标识（可选）", "Licence number or identifier (optional)")
        + f'</label><input id="licence" name="licence" maxlength="120" value="{e(values.get("licence", ""))}">'
        '<label for="text">'
        + t(f"投诉内容（不超过 {MAX_TEXT} 字）", f"What happened (up to {MAX_TEXT} characters)")
        + f'</label><textarea id="text" name="text" maxlength="{MAX_TEXT}" required>'
        f"{e(values.get('text', ''))}</textarea>"
        '<label for="contact">'
        + t("联系方式（可选，仅处理部门可见）", "Contact (optional; only the handling office sees it)")
        + f'</label><input id="contact" name="contact" maxlength="{MAX_CONTACT}" '
        f'value="{e(values.get("contact", ""))}">'
        f'{lang_field}<button type="submit">' + t("提交投诉", "Submit") + "</button></form>"
        '<p class="hint">'
        + t(
            "提交后会得到受理编号，凭编号查询处理状态和答复。请勿填写身份证号码等不必要的个人信息。",
            "You get a receipt code to follow the status and the answer. Please leave out ID numbers and other "
            "personal data the office does not need.",
        )
        + '</p><form method="get" action="/complaints" class="card"><label for="receipt">'
        + t("已有受理编号？查询处理结果", "Have a receipt code? Look it up")
        + f'</label><input id="receipt" name="receipt" maxlength="20" placeholder="TS-XXXXX-XXXXX">{lang_field}'
        '<button type="submit">' + t("查询", "Look up") + "</button></form>"
    )
    return layout("投诉 · Complaints", body, lang=lang, path="/complaints/new")


def complaint_page(view: ComplaintView, *, lang: str, just_filed: bool = False) -> str:
    """A complaint's status and answer, as its complainant sees it (the receipt code is the key)."""
    answered = view.status.value == "answered"
    status = (
        '<span class="ok" id="status" data-status="answered">' + t("已答复", "Answered") + "</span>"
        if answered
        else '<span class="warn" id="status" data-status="received">'
        + t("已受理，处理中", "Received, in progress")
        + "</span>"
    )
    filed = view.filed_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    route = {
        "holder": ("监管部门", "supervising department"),
        "issuer": ("发证机关", "issuing authority"),
        "service": ("审批服务管理局", "approval bureau"),
    }.get(view.route, (view.route, view.route))
    rows = [
        (("受理编号", "Receipt"), f'<span id="receipt">{e(view.receipt)}</span>'),
        (("投诉类别", "Category"), t(view.category.value, CATEGORY_EN[view.category])),
        (("涉及证照", "Licence"), e(view.licence_number or "—")),
        (("提交时间", "Filed"), e(f"{filed} (UTC+08:00)")),
        (("处理单位", "Handled by"), e(view.routed_to_name) + " · " + t(*route)),
        (("状态", "Status"), status),
    ]
    items = "".join(f"<dt>{t(*label)}</dt><dd>{value}</dd>" for label, value in rows)
    notice = ""
    if just_filed:
        notice = (
            '<p class="ok" role="status">'
            + t(
                "投诉已提交。请保存受理编号，凭它查询处理结果。", "Complaint filed. Keep the receipt code to follow it."
            )
            + "</p>"
        )
    answer = ""
    if view.answer:
        answered_at = view.answered_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if view.answered_at else ""
        answer = (
            '<section class="card" aria-labelledby="answer-h"><h2 id="answer-h">' + t("答复", "Answer") + "</h2>"
            f'<div class="pre" id="answer">{e(view.answer)}</div><p class="hint">{e(answered_at)}</p></section>'
        )
    body = (
        "<h1>" + t("投诉处理情况", "Complaint status") + f"</h1>{notice}"
        f'<section class="card"><dl>{items}</dl></section>'
        '<section class="card" aria-labelledby="text-h"><h2 id="text-h">' + t("投诉内容", "Complaint") + "</h2>"
        f'<div class="pre" id="text">{e(view.text)}</div></section>{answer}'
    )
    return layout(f"投诉 {view.receipt} · Complaint", body, lang=lang, path=f"/complaints/{view.receipt}")


def check_result_page(report: dict[str, object], *, lang: str) -> str:
    """The verdict on an uploaded PDF (the same report ``POST /v1/verify`` returns), for people."""
    words = {
        "valid": ("有效", "Valid", "ok"),
        "invalid": ("无效", "Not valid", "bad"),
        "modified": ("文件在盖章后被修改", "Modified after sealing", "bad"),
        "indeterminate": ("无法确认", "Indeterminate", "warn"),
    }
    verdict = str(report.get("verdict"))
    zh, en, css = words.get(verdict, words["indeterminate"])
    messages = report.get("messages") or []
    lines = ""
    for message in messages if isinstance(messages, list) else []:
        parts = str(message).split(" / ", 1)
        lines += "<li>" + t(parts[0], parts[1] if len(parts) > 1 else parts[0]) + "</li>"
    licence = report.get("licence")
    link = ""
    if isinstance(licence, dict) and licence.get("id"):
        link = (
            f'<p><a href="{e(with_lang("/v/" + str(licence["id"]), lang))}">'
            + t("查看该证照的登记记录", "See this licence's record")
            + "</a></p>"
        )
    body = (
        "<h1>" + t("文件核验结果", "File check") + "</h1>"
        f'<section class="card"><p class="{css}" id="verdict" data-verdict="{e(verdict)}" style="font-size:1.4rem;'
        f'font-weight:700">{t(zh, en)}</p><ul>{lines}</ul>{link}<p class="hint">'
        + e(f"{report.get('indication')} {report.get('subindication') or ''}")
        + "</p></section>"
    )
    return layout("核验结果 · Check", body, lang=lang, path="/")


def error_page(status: int, detail: str, *, lang: str, path: str) -> str:
    """A refusal as a page (bad input, not found, too many requests)."""
    heads = {
        404: ("未找到", "Not found"),
        429: ("请求过于频繁", "Too many requests"),
        503: ("暂时无法完成", "Temporarily unavailable"),
    }
    zh, en = heads.get(status, ("请求无法处理", "Request refused"))
    body = (
        f'<h1>{t(zh, en)}</h1><section class="card"><p class="error" role="alert" id="error">{e(detail)}</p></section>'
    )
    return layout(f"{zh} · {en}", body, lang=lang, path=path)


def catalogue_history(catalogue: Catalogue, memo_refs: dict[int, str | None]) -> list[tuple[str, str, str, str]]:
    """(day, item, from -> to, memorandum) for every change of who seals an item, newest first."""
    lines = []
    for item in catalogue.items.values():
        periods = list(item.sealed_by)
        for before, after in itertools.pairwise(periods):
            if before.end is None:
                continue
            by = f"备忘录 {after.memorandum}" if after.memorandum else "目录 / catalogue"
            if after.memorandum and memo_refs.get(after.memorandum):
                by += f"（{memo_refs[after.memorandum]}）"
            move = f"{_authority_name(catalogue, before.authority)} → {_authority_name(catalogue, after.authority)}"
            lines.append((before.end.isoformat(), f"{item.code} {item.name}", move, by))
    return sorted(lines, key=lambda line: line[0], reverse=True)


def parse_day(value: str | None, field: str) -> date | None:
    """A YYYY-MM-DD form value (None when empty); ValueError names the field."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(field) from None
