"""The page a licence's QR code opens: ``GET /v/{licence_id}``.

For a citizen with a phone: is this licence on record and in force, who issued and sealed it, when; and a drop
zone to check the PDF they were given (it calls ``POST /v1/verify`` and shows the full verdict). Chinese first,
English on a switch; natural persons masked (张*明, no ID number), organisations in full; no external resources,
no cookies, no tracking: everything is inline, and the language choice stays in the address (``?lang=en``).

Rendered pages are cached per licence for :data:`PAGE_TTL` seconds (a status change shows within that time) so
that a QR code scanned by many people at once costs one database read per licence and TTL; a cached page is sent
by an ASGI fast path ahead of FastAPI (:mod:`seal_service.api.page_cache`; :class:`AppWithLicencePages`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from seal_service.api.limits import Receive, Scope, Send
from seal_service.api.page_cache import LicencePageFastPath, LicencePages, Rendered
from seal_service.archive import last_renewed
from seal_service.instance import Instance
from seal_service.public.masking import public_holder
from seal_service.storage.models import Licence
from seal_service.storage.public_models import LicenceNumberChange

router = APIRouter(tags=["public"])
CHINA_TZ = timezone(timedelta(hours=8))
PAGE_TTL = 2.0
_MAX_CACHED = 10_000
#: Longer ids cannot be on record (ours are 21 characters): no database read, no cache entry, shortened on the page.
MAX_LICENCE_ID = 64
#: Only such ids are looked up: a NUL byte, for one, is an error in PostgreSQL rather than "not found".
_LOOKS_LIKE_AN_ID = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_LICENCE_ID}}}")

#: status -> (css class, zh, en)
STATUS_WORDS = {
    "valid": ("ok", "证照有效", "Licence valid"),
    "suspended": ("warn", "证照已暂停", "Licence suspended"),
    "revoked": ("bad", "证照已撤销", "Licence revoked"),
    "cancelled": ("bad", "证照已注销", "Licence cancelled"),
    "expired": ("bad", "证照已过期", "Licence expired"),
}


def licence_status(licence: Licence, at: datetime) -> str:
    """valid, suspended, revoked, or expired (valid but past ``valid_until``, China calendar)."""
    expired = licence.valid_until is not None and at.astimezone(CHINA_TZ).date() > licence.valid_until
    if licence.status == "valid" and expired:
        return "expired"
    return licence.status


def _t(zh: str, en: str) -> str:
    """Both languages; CSS shows one."""
    return f'<span class="zh" lang="zh-CN">{html.escape(zh)}</span><span class="en" lang="en">{html.escape(en)}</span>'


_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Noto Sans CJK SC","WenQuanYi Zen Hei",
sans-serif;color:#1d1d1f;background:#f4f5f7}main{max-width:34rem;margin:0 auto;padding:.75rem}
header{display:flex;justify-content:space-between;align-items:center;gap:.5rem}
header h1{font-size:1.05rem;margin:.4rem 0}
button.lang{border:1px solid #c7c9cf;background:#fff;border-radius:1rem;padding:.2rem .8rem;font:inherit;
font-size:.85rem}
.card{background:#fff;border-radius:.8rem;padding:1rem;margin:.75rem 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.status{font-size:1.6rem;font-weight:700;margin:.1rem 0}.ok{color:#0a7a2f}.bad{color:#b00020}.warn{color:#9a5b00}
dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:.35rem .8rem}dt{color:#5f6368}
dd{margin:0;word-break:break-all}
#drop{display:block;margin:.6rem 0;border:2px dashed #9aa0a6;border-radius:.8rem;padding:1.2rem;text-align:center;
cursor:pointer}#drop.over{border-color:#0a7a2f;background:#eef8f1}#drop input{display:none}
#result ul{padding-left:1.2rem;margin:.4rem 0}small{color:#5f6368}.en{display:none}html[lang=en] .en{display:inline}
html[lang=en] .zh{display:none}.verdict{font-size:1.35rem;font-weight:700}
"""

_SCRIPT = """
(function(){
var root=document.documentElement;
function setLang(l){root.lang=l==='en'?'en':'zh-CN';var u=new URL(location.href);
 if(l==='en'){u.searchParams.set('lang','en')}else{u.searchParams.delete('lang')}history.replaceState(null,'',u)}
document.getElementById('lang').onclick=function(){setLang(root.lang==='en'?'zh':'en')};
var drop=document.getElementById('drop');if(!drop)return;var input=document.getElementById('pdf');
var out=document.getElementById('result');var id=drop.getAttribute('data-licence');
var words={valid:['有效','valid','ok'],invalid:['无效','invalid','bad'],
 modified:['文件在盖章后被修改','modified after sealing','bad'],indeterminate:['无法确认','indeterminate','warn']};
function esc(s){var d=document.createElement('div');d.textContent=s;return d.innerHTML}
function t(zh,en){return '<span class="zh" lang="zh-CN">'+esc(zh)+'</span>'+
 '<span class="en" lang="en">'+esc(en)+'</span>'}
function pair(m){var p=(m||'').split(' / ');return t(p[0],p.slice(1).join(' / ')||p[0])}
function seals(r){var pv=r.pades_verdict||r.verdict,pw=words[pv]||words.indeterminate;
 var h='<dl id="file-seals"><dt>'+t('PAdES 电子印章','PAdES seal')+'</dt><dd class="'+pw[2]+
 '" id="file-seal-pades" data-status="'+esc(pv)+'">'+t(pw[0],pw[1])+'</dd><dt>'+t('国密电子签章','National seal (SM2)')+
 '</dt>';var n=r.national_seals||[];
 if(!n.length){h+='<dd id="file-seal-gm" data-status="absent">'+t('无（此文件没有国密签章）','none in this file')+
 '</dd>'}
 n.forEach(function(g){var gw=words[g.status]||words.indeterminate;h+='<dd class="'+gw[2]+
 '" id="file-seal-gm" data-status="'+esc(g.status)+'">'+t(gw[0],gw[1])+'<br><small>'+pair(g.reason)+'</small></dd>'});
 return h+'</dl>'}
function show(r){var w=words[r.verdict]||words.indeterminate;
 var h='<p class="verdict '+w[2]+'" id="verdict" data-verdict="'+esc(r.verdict)+'">'+t(w[0],w[1])+'</p><ul>';
 (r.messages||[]).forEach(function(m){var p=m.split(' / ');h+='<li>'+t(p[0],p.slice(1).join(' / ')||p[0])+'</li>'});
 h+='</ul>'+seals(r);if(r.long_term){var q=r.long_term.split(' / ');
 h+='<p id="long-term"><small>'+t(q[0],q.slice(1).join(' / ')||q[0])+'</small></p>'}
 if(r.licence&&r.licence.id&&r.licence.id!==id){h+='<p class="bad">'+
 t('注意：此文件是另一份证照（'+r.licence.id+'）','Note: this file is another licence ('+r.licence.id+')')+'</p>'}
 h+='<p><small>'+esc(r.indication+(r.subindication?' / '+r.subindication:''))+'</small></p>';out.innerHTML=h}
function send(f){if(!f)return;out.innerHTML='<p>'+t('正在核验…','Verifying…')+'</p>';var fd=new FormData();
 fd.append('pdf',f,f.name);fetch('/v1/verify',{method:'POST',body:fd}).then(function(r){return r.json()})
 .then(function(r){if(r.verdict){show(r)}else{out.innerHTML='<p class="bad">'+esc(r.detail||r.title||'error')+'</p>'}})
 .catch(function(e){out.innerHTML='<p class="bad">'+t('核验失败，请重试','Verification failed, try again')+'</p>'})}
drop.onclick=function(){input.click()};input.onchange=function(){send(input.files[0])};
drop.ondragover=function(e){e.preventDefault();drop.classList.add('over')};
drop.ondragleave=function(){drop.classList.remove('over')};
drop.ondrop=function(e){e.preventDefault();drop.classList.remove('over');send(e.dataTransfer.files[0])};
})();
"""


def _page(title: str, body: str, *, lang: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        "<header><h1>" + _t("证照核验", "Licence verification") + "</h1>"
        '<button class="lang" id="lang" type="button">' + _t("English", "中文") + "</button></header>"
        f"{body}</main><script>{_SCRIPT}</script></body></html>"
    )


def _not_found_body(licence_id: str) -> str:
    return (
        '<section class="card"><p class="status bad" id="status">'
        + _t("未找到该证照", "Licence not found")
        + "</p><p>"
        + _t(
            f"编号为 {licence_id} 的证照不在登记记录中。请核对二维码或链接；仿冒证照的二维码常指向不存在的记录。",
            f"No licence with id {licence_id} is on record. Check the QR code or link; forged licences often "
            "point to records that do not exist.",
        )
        + "</p></section>"
    )


def _licence_body(
    licence: Licence,
    at: datetime,
    renewed_at: datetime | None = None,
    printed_number: str | None = None,
    gm: NationalSealRecord | None = None,
) -> str:
    status = licence_status(licence, at)
    css, zh, en = STATUS_WORDS.get(status, ("bad", status, status))
    # Organisations in full, natural persons masked and without their ID number (seal_service.public.masking).
    holder = public_holder(licence.holder_name, licence.holder_code, licence.holder_code_type)
    sealed = licence.sealed_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
    validity = ""
    if licence.valid_from or licence.valid_until:
        start = licence.valid_from.isoformat() if licence.valid_from else licence.issue_date.isoformat()
        end = licence.valid_until.isoformat() if licence.valid_until else "—"
        validity = f"{start} — {end}"
    rows = [
        (("证照名称", "Licence type"), licence.licence_type),
        (("证照编号", "Number"), licence.number),
        (("持证主体", "Holder"), holder.name),
        (("主体代码", "Holder code"), holder.code or ""),
        (("发证机关", "Issued by"), licence.authority.name),
        (("电子印章", "Seal"), licence.seal.name),
        (("发证日期", "Issued on"), licence.issue_date.isoformat()),
        (("有效期", "Valid"), validity),
        (("盖章时间", "Sealed at"), f"{sealed} (UTC+08:00)"),
        (("最近续期", "Last renewed"), _renewed(renewed_at)),
        (("证照标识", "Identifier"), licence.identifier),
    ]
    items = "".join(f"<dt>{_t(*label)}</dt><dd>{html.escape(value)}</dd>" for label, value in rows if value)
    if printed_number:
        items += (
            f"<dt>{_t('印制编号', 'Printed number')}</dt><dd>{html.escape(printed_number)} "
            + _t(
                "（与另一证照重复，登记编号已更正为上列编号）",
                "(it duplicated another licence's number; on record under the number above)",
            )
            + "</dd>"
        )
    items += _seal_rows(licence, gm)
    reason = ""
    if status != "valid" and licence.status_reason:
        reason = f"<p>{html.escape(licence.status_reason)}</p>"
    return (
        f'<section class="card"><div>{_t("登记状态", "Status on record")}</div>'
        f'<p class="status {css}" id="status" data-status="{status}">{_t(zh, en)}</p>{reason}'
        f"{log_line(licence, at)}<dl>{items}</dl></section>"
        '<section class="card"><h2 style="font-size:1rem;margin:0 0 .5rem">'
        + _t("核验您手中的文件", "Check the file you hold")
        + f'</h2><label id="drop" data-licence="{html.escape(licence.id)}">'
        '<input type="file" id="pdf" accept="application/pdf,.pdf">'
        + _t("点击选择或拖入证照 PDF 文件", "Tap to choose, or drop the licence PDF here")
        + '</label><div id="result" aria-live="polite"></div><p><small>'
        + _t(
            "文件只用于本次核验，不会被保存。登记状态显示的是发证机关的记录；文件核验检查您手中的 PDF 是否被篡改。",
            "The file is used for this check only and is not stored. The status above is the issuer's record; "
            "checking the file shows whether the PDF you hold was altered.",
        )
        + "</small></p></section>"
    )


@dataclass(frozen=True)
class NationalSealRecord:
    """The national seal (国密) a licence carries, as the registry knows it."""

    es_id: str
    """The seal data's code (印章编码)."""
    revoked_at: datetime | None
    """When its SM2 certificate was (or will be) revoked, None when it is not."""
    reason: str | None


def _seal_rows(licence: Licence, gm: NationalSealRecord | None) -> str:
    """The seals on the licence, each with its status on record: the PAdES seal and the national seal (国密)."""
    status = licence_status(licence, licence.sealed_at)
    pades_css = "ok" if status in ("valid", "expired", "suspended") else "bad"
    pades = (
        f'<dt>{_t("PAdES 电子印章", "PAdES seal")}</dt><dd id="seal-pades" class="{pades_css}" data-status="present">'
        + _t(f"{licence.seal.name}（P-256，PAdES）", f"{licence.seal.name} (P-256, PAdES)")
        + "</dd>"
    )
    if gm is None:
        national = '<dd id="seal-gm" data-status="absent">' + _t("无（只有 PAdES 印章）", "none (PAdES seal only)")
        return pades + f"<dt>{_t('国密电子签章', 'National seal')}</dt>{national}</dd>"
    if gm.revoked_at is None or gm.revoked_at > licence.sealed_at:
        css, state = "ok", "valid"
        words = _t(
            f"有效（SM2/SM3，GB/T 38540，印章编码 {gm.es_id}）",
            f"valid (SM2/SM3, GB/T 38540, seal code {gm.es_id})",
        )
        if gm.revoked_at is not None:
            day = gm.revoked_at.astimezone(CHINA_TZ).date().isoformat()
            words += _t(
                f"；签章证书于 {day} 吊销，本证照在此之前盖章",
                f"; its certificate was revoked on {day}, after this licence was sealed",
            )
    else:
        css, state = "bad", "invalid"
        day = gm.revoked_at.astimezone(CHINA_TZ).date().isoformat()
        words = _t(
            f"无效：签章证书已于 {day} 吊销（{gm.reason or '-'}），早于盖章时间",
            f"invalid: its certificate was revoked on {day} ({gm.reason or '-'}), before the licence was sealed",
        )
    return (
        pades
        + f'<dt>{_t("国密电子签章", "National seal")}</dt><dd id="seal-gm" class="{css}" data-status="{state}">'
        + words
        + "</dd>"
    )


def _national_record(instance: Instance, session: Any, licence: Licence) -> NationalSealRecord | None:
    """The national seal ``licence`` carries and its SM2 certificate's revocation (None: PAdES only)."""
    from seal_service.gm.revocation import material_revocation
    from seal_service.storage.gm_models import GmLicenceSeal, GmSealMaterial

    row = session.get(GmLicenceSeal, licence.id)
    if row is None:
        return None
    material = session.get(GmSealMaterial, row.material_id)
    revocation = material_revocation(licence.seal, instance.lifecycle.state(session))
    return NationalSealRecord(
        es_id=f"{material.seal_id}-{material.generation}",
        revoked_at=revocation.revoked_at if revocation is not None else None,
        reason=revocation.reason.value if revocation is not None else None,
    )


def _renewed(renewed_at: datetime | None) -> str:
    """When the archive renewal (re-time-stamping) last added a version; empty (row hidden) if never."""
    if renewed_at is None:
        return ""
    return renewed_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") + " (UTC+08:00)"


#: A licence not in the issuance log this long after sealing was sealed outside the record (the sequencer puts
#: entries in a checkpoint within ``log_sequence_delay_seconds``, one second by default).
LOG_GRACE = timedelta(seconds=60)


def log_line(licence: Licence, at: datetime) -> str:
    """The licence's place in the issuance log, or the loud warning that it is not there."""
    if licence.log_index is not None:
        index = licence.log_index
        words = _t(f"已记入签发日志（第 {index} 条）", f"In the issuance log (entry {index})")
        return f'<p id="log" data-log="included">{words}</p>'
    if at - licence.sealed_at < LOG_GRACE:
        return f'<p id="log" data-log="pending">{_t("正在记入签发日志", "Being added to the issuance log")}</p>'
    return (
        '<p class="status bad" id="log" data-log="outside-record">'
        + _t("严重警告：此证照在登记记录之外签章（签发日志中没有此证照）", "WARNING: sealed outside the record")
        + "</p>"
    )


def _load(
    instance: Instance, licence_id: str
) -> tuple[Licence | None, datetime | None, str | None, NationalSealRecord | None]:
    """The licence, when it was last renewed, the number printed on it if that duplicated another's, and its
    national seal."""
    with instance.sessions() as session:
        licence = session.get(Licence, licence_id)
        if licence is None:
            return None, None, None, None
        _ = licence.authority.name, licence.seal.name  # load while the session is open
        change = session.get(LicenceNumberChange, licence_id)
        printed = change.printed_number if change is not None else None
        gm = _national_record(instance, session, licence)
        return licence, last_renewed(session, licence_id), printed, gm


def render_licence_page(instance: Instance, licence_id: str, *, lang: str, at: datetime) -> tuple[int, str]:
    """(HTTP status, HTML) of the page for ``licence_id``."""
    html_lang = "en" if lang == "en" else "zh-CN"
    licence, renewed_at, printed, gm = (
        _load(instance, licence_id) if _LOOKS_LIKE_AN_ID.fullmatch(licence_id) else (None, None, None, None)
    )
    if licence is None:
        title = "未找到证照 / Licence not found"
        shown = licence_id if len(licence_id) <= MAX_LICENCE_ID else licence_id[:MAX_LICENCE_ID] + "…"
        return 404, _page(title, _not_found_body(shown), lang=html_lang)
    title = f"证照核验 {licence.number}"
    return 200, _page(title, _licence_body(licence, at, renewed_at, printed, gm), lang=html_lang)


_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _rendered(app: FastAPI, licence_id: str, lang: str) -> Rendered:
    """The page as the route sends it (status, headers, body): what :class:`LicencePages` caches."""
    status, text = render_licence_page(app.state.instance, licence_id, lang=lang, at=datetime.now(UTC))
    response = HTMLResponse(text, status_code=status, headers=_HEADERS)
    return status, tuple(response.raw_headers), bytes(response.body)


def _new_pages(app: FastAPI) -> LicencePages:
    return LicencePages(partial(_rendered, app), ttl=PAGE_TTL, max_entries=_MAX_CACHED)


class AppWithLicencePages(FastAPI):
    """The service's FastAPI application with cached licence pages answered ahead of it.

    Ahead of FastAPI itself rather than as a middleware: FastAPI wraps every middleware in its own layers (a
    telemetry check, error, telemetry and body-limit middleware), which together cost a cached page about a sixth
    of its CPU time. So pages sent from the cache do not pass FastAPI's native telemetry or error handlers; a page
    rendered by the route (a miss) and every other request do. The page cache is ``state.licence_pages``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state.licence_pages = _new_pages(self)
        self._front = LicencePageFastPath(partial(FastAPI.__call__, self), pages=self.state.licence_pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._front(scope, receive, send)


def _pages(app: FastAPI) -> LicencePages:
    # An app that is not an AppWithLicencePages still caches pages, without the fast path.
    pages: LicencePages | None = getattr(app.state, "licence_pages", None)
    if pages is None:
        pages = app.state.licence_pages = _new_pages(app)
    return pages


class _PageResponse(Response):
    """A rendered page sent as it is: the same status, headers and bytes as the fast path sends from the cache."""

    def __init__(self, status: int, headers: tuple[tuple[bytes, bytes], ...], body: bytes) -> None:
        self.status_code = status
        self.raw_headers = list(headers)
        self.body = body
        self.background = None


@router.get(
    "/v/{licence_id}",
    response_class=HTMLResponse,
    summary="Public licence page (opened by the QR code)",
    responses={404: {"description": "No such licence: a 'not found' page"}},
)
@router.head("/v/{licence_id}", include_in_schema=False)
async def licence_page(licence_id: str, request: Request, lang: str = "zh") -> Response:
    """Licence summary (personal data masked), status on record, and a drop zone to verify the PDF one holds.

    Usually answered by the fast path (:mod:`seal_service.api.page_cache`) before this route runs; the route
    renders what the cache does not hold yet and so fills it.
    """
    key_lang = "en" if lang == "en" else "zh"
    if len(licence_id) > MAX_LICENCE_ID:
        # No licence has such an id: answered without a database read and never cached, so that long made-up
        # ids cannot fill the cache with large pages.
        return _PageResponse(*_rendered(request.app, licence_id, key_lang))
    page = await _pages(request.app).page(licence_id, key_lang)
    return _PageResponse(page.status, page.headers, page.body)
