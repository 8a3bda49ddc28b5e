"""Routes of the public face (thin: the work is in :mod:`seal_service.public`).

Pages: ``/`` (home), ``/register`` (public register), ``/complaints/new``, ``/complaints/{receipt}``, ``POST /check``
(a PDF checked without JavaScript). API: ``GET /v1/public/licences`` (JSON with cursor pagination, or
``format=csv``), ``POST /v1/public/complaints``, ``GET /v1/public/complaints/{receipt}``; staff:
``GET /v1/admin/complaints`` and ``POST /v1/admin/complaints/{receipt}/answer``.

Search, export and filing are limited per client address (settings ``public_*``; 429 with ``Retry-After``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from seal_service.api.deps import CallerDep, InstanceDep
from seal_service.errors import InvalidInput, NotAuthorised, RateLimited, SealServiceError
from seal_service.instance import Instance
from seal_service.outages import ServiceUnavailable
from seal_service.public import complaints as complaint_service
from seal_service.public import pages
from seal_service.public import register as register_service
from seal_service.public.ratelimit import RateLimiter
from seal_service.services.apikeys import Caller, Role

router = APIRouter(tags=["public register and complaints"])

#: Largest complaint body accepted (form or JSON): 2,000 characters of text need at most ~24 KiB as UTF-8 form data.
MAX_BODY = 32 * 1024

_REGISTER_PARAMS = ("q", "item", "authority", "status", "issued_from", "issued_until", "cursor", "lang")


def _limiters(request: Request) -> dict[str, RateLimiter]:
    state = request.app.state
    limiters: dict[str, RateLimiter] | None = getattr(state, "public_limiters", None)
    if limiters is None:
        instance = state.instance
        settings = instance.settings
        engine = instance.engine
        limiters = state.public_limiters = {
            "search": RateLimiter(engine, bucket="search", limit=settings.public_search_per_minute, window_seconds=60),
            "export": RateLimiter(engine, bucket="export", limit=settings.public_export_per_hour, window_seconds=3600),
            "complaint": RateLimiter(
                engine, bucket="complaint", limit=settings.public_complaints_per_hour, window_seconds=3600
            ),
        }
    return limiters


def _limit(request: Request, kind: str) -> None:
    """Count the request against its client address's limit, shared by all processes and nodes (one statement).

    The address is the TCP peer, or the client named by ``X-Forwarded-For`` when the peer is a proxy listed in
    ``SEAL_FORWARDED_ALLOW_IPS`` (uvicorn resolves it before the request gets here; see docs/deployment.md)."""
    address = request.client.host if request.client else "unknown"
    _limiters(request)[kind].hit(address, at=time.time())


async def _limit_async(request: Request, kind: str) -> None:
    """:func:`_limit` from an async route (the database call runs off the event loop)."""
    await run_in_threadpool(_limit, request, kind)


def _lang(value: str | None) -> str:
    return "en" if value == "en" else "zh"


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=pages.PAGE_HEADERS | (headers or {}))


def _html_error(exc: SealServiceError, *, lang: str, path: str) -> HTMLResponse:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return _html(pages.error_page(exc.status, exc.detail, lang=lang, path=path), exc.status, headers)


def _trust_links() -> list[pages.TrustLink]:
    return [
        pages.TrustLink("/pki/root.cer", "根证书", "Root certificate"),
        pages.TrustLink("/v1/trust-bundle", "信任包（离线核验用）", "Trust bundle (offline verification)"),
        pages.TrustLink("/crl/root.crl", "根 CA 吊销列表（CRL）", "Root CA revocation list (CRL)"),
        pages.TrustLink("/crl/seal-ca.crl", "印章证书吊销列表（CRL）", "Seal CA revocation list (CRL)"),
        pages.TrustLink(
            "/pki/ocsp.cer",
            "OCSP 响应者证书（服务地址 POST /ocsp）",
            "OCSP responder certificate (service: POST /ocsp)",
        ),
        pages.TrustLink("/log/checkpoint", "签发日志检查点", "Issuance log checkpoint"),
        pages.TrustLink("/catalogue", "划转事项目录", "Catalogue of transferred items"),
        pages.TrustLink("/docs", "接口文档", "API documentation"),
    ]


@router.get("/", response_class=HTMLResponse, summary="Home page")
def home(instance: InstanceDep, lang: str | None = None) -> HTMLResponse:
    """What the service is, check a licence, the catalogue with its history, the register, complaints, trust."""
    state = instance.lifecycle.state()
    refs = {m.id: m.reference for m in state.memoranda}
    history = pages.catalogue_history(state.catalogue, refs)
    return _html(pages.home_page(state.catalogue, history, lang=_lang(lang), trust_links=_trust_links()))


@router.post("/check", response_class=HTMLResponse, summary="Check an uploaded licence PDF (HTML answer)")
async def check(request: Request, instance: InstanceDep, pdf: UploadFile, lang: str | None = None) -> HTMLResponse:
    """The verdict on a PDF from the home page's upload form (works without JavaScript)."""
    from seal_service.api.verify import _read_limited, _verify_one

    lang = _lang(lang or (await request.form()).get("lang"))  # type: ignore[arg-type]
    try:
        await _limit_async(request, "search")
        data = await _read_limited(pdf, instance.settings.max_upload_bytes, "pdf")
        report = await _verify_one(instance, data, pdf.filename or "licence.pdf")
    except SealServiceError as exc:
        return _html_error(exc, lang=lang, path="/")
    return _html(pages.check_result_page(report, lang=lang))


def _query_from(params: dict[str, str], *, limit: int) -> register_service.RegisterQuery:
    try:
        issued_from = pages.parse_day(params.get("issued_from"), "issued_from")
        issued_until = pages.parse_day(params.get("issued_until"), "issued_until")
    except ValueError as exc:
        raise InvalidInput(f"{exc} must be a date YYYY-MM-DD", field=str(exc)) from None
    return register_service.register_query(
        q=params.get("q"),
        number=params.get("number"),
        credit_code=params.get("credit_code"),
        holder_name=params.get("holder_name"),
        item=params.get("item"),
        authority=params.get("authority"),
        status=params.get("status"),
        issued_from=issued_from,
        issued_until=issued_until,
        limit=limit,
        cursor=params.get("cursor"),
    )


def _params(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.query_params.get(name, "") for name in names if request.query_params.get(name)}


@router.get("/register", response_class=HTMLResponse, summary="The public register of licences (行政许可公示)")
def register_page(request: Request, instance: InstanceDep) -> HTMLResponse:
    """Search form and one page of records, newest first (filters: item, authority, status, decision dates)."""
    params = _params(request, _REGISTER_PARAMS)
    lang = _lang(params.get("lang"))
    catalogue = instance.lifecycle.state().catalogue
    try:
        _limit(request, "search")
        query = _query_from(params, limit=register_service.DEFAULT_PAGE)
        page = register_service.search(instance, query, timeout_ms=instance.settings.public_query_timeout_ms)
    except (RateLimited, ServiceUnavailable) as exc:
        return _html_error(exc, lang=lang, path="/register")
    except SealServiceError as exc:
        empty = register_service.RegisterQuery()
        text = pages.register_page(
            empty, None, catalogue=catalogue, lang=lang, params=params, error=(exc.field, exc.detail)
        )
        return _html(text, exc.status)
    return _html(pages.register_page(query, page, catalogue=catalogue, lang=lang, params=params))


@router.get(
    "/v1/public/licences",
    summary="The public register as JSON (cursor pagination) or CSV (format=csv)",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, 429: {"description": "Rate limited"}},
)
def public_licences(
    request: Request,
    instance: InstanceDep,
    q: Annotated[
        str | None, Query(description="Number, identifier, id, organisation credit code or name prefix")
    ] = None,
    number: Annotated[str | None, Query(description="Exact licence number")] = None,
    credit_code: Annotated[str | None, Query(description="Organisation holder's unified social credit code")] = None,
    holder_name: Annotated[str | None, Query(description="Prefix of an organisation holder's name")] = None,
    item: Annotated[str | None, Query(description="Catalogue item code")] = None,
    authority: Annotated[str | None, Query(description="Authority code")] = None,
    status: Annotated[str | None, Query(description="valid, revoked, suspended or cancelled")] = None,
    issued_from: Annotated[str | None, Query(description="Decision date from (YYYY-MM-DD)")] = None,
    issued_until: Annotated[str | None, Query(description="Decision date until (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(description=f"Records per page, 1 to {register_service.MAX_PAGE}")] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    format: Annotated[str, Query(description="json or csv")] = "json",
) -> Response:
    """Records of the register with the publicity standard's fields; natural persons masked, never an ID number."""
    params = {
        k: v
        for k, v in {
            "q": q,
            "number": number,
            "credit_code": credit_code,
            "holder_name": holder_name,
            "item": item,
            "authority": authority,
            "status": status,
            "issued_from": issued_from,
            "issued_until": issued_until,
            "cursor": cursor,
        }.items()
        if v
    }
    settings = instance.settings
    if format == "csv":
        _limit(request, "export")
        query = _query_from({k: v for k, v in params.items() if k != "cursor"}, limit=1)
        rows = register_service.export_rows(
            instance, query, max_rows=settings.public_export_max_rows, timeout_ms=settings.public_query_timeout_ms
        )
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        return StreamingResponse(
            register_service.csv_chunks(rows, public_url=settings.public_url),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="register-{stamp}.csv"'},
        )
    if format != "json":
        raise InvalidInput("format must be json or csv", field="format")
    _limit(request, "search")
    page = register_service.search(
        instance, _query_from(params, limit=limit), timeout_ms=settings.public_query_timeout_ms
    )
    next_url = None
    if page.next_cursor:
        rest = {k: v for k, v in params.items() if k != "cursor"} | {"limit": str(limit), "cursor": page.next_cursor}
        next_url = "/v1/public/licences?" + "&".join(f"{k}={quote(v)}" for k, v in rest.items())
    return JSONResponse(
        {"records": [r.to_json() for r in page.records], "next_cursor": page.next_cursor, "next": next_url}
    )


async def _read_body(request: Request) -> bytes:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise InvalidInput(f"the request body is larger than {MAX_BODY} bytes", field="text")
        chunks.append(chunk)
    return b"".join(chunks)


def _file(instance: Instance, fields: dict[str, Any]) -> complaint_service.FiledComplaint:
    for name in ("category", "text", "licence", "contact"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise InvalidInput(f"{name} must be a string", field=name)
    return complaint_service.file_complaint(
        instance,
        category=fields.get("category") or "",
        text=fields.get("text"),
        licence_ref=fields.get("licence"),
        contact=fields.get("contact"),
        at=datetime.now(UTC),
    )


@router.get("/complaints/new", response_class=HTMLResponse, summary="The complaint form")
def complaint_new(lang: str | None = None, licence: str | None = None) -> HTMLResponse:
    """Category, licence (optional), text, contact (optional)."""
    return _html(pages.complaint_form(lang=_lang(lang), values={"licence": (licence or "")[:120]}))


@router.post("/complaints", response_class=HTMLResponse, summary="File a complaint from the form")
async def complaint_post(request: Request, instance: InstanceDep) -> Response:
    """Files the complaint and shows its receipt page; a refused field re-shows the form naming it (nothing stored)."""
    values: dict[str, str] = {}
    lang = "zh"
    try:
        body = await _read_body(request)
        parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        values = {k: v[0] for k, v in parsed.items() if k in ("category", "licence", "text", "contact", "lang")}
        lang = _lang(values.get("lang"))
        await _limit_async(request, "complaint")
        filed = await run_in_threadpool(_file, request.app.state.instance, values)
    except (RateLimited, ServiceUnavailable) as exc:
        return _html_error(exc, lang=lang, path="/complaints/new")
    except SealServiceError as exc:
        return _html(pages.complaint_form(lang=lang, values=values, error=(exc.field, exc.detail)), exc.status)
    target = f"/complaints/{filed.receipt}?filed=1" + ("&lang=en" if lang == "en" else "")
    return RedirectResponse(target, status_code=303)


@router.get("/complaints", include_in_schema=False)
def complaint_lookup(receipt: str = "", lang: str | None = None) -> Response:
    """The receipt look-up form's target: on to the complaint's page."""
    target = f"/complaints/{quote(receipt.strip()[:20], safe='')}" + ("?lang=en" if lang == "en" else "")
    return RedirectResponse(target, status_code=303)


@router.get("/complaints/{receipt}", response_class=HTMLResponse, summary="A complaint's status and answer")
def complaint_html(
    receipt: str, request: Request, instance: InstanceDep, lang: str | None = None, filed: str | None = None
) -> HTMLResponse:
    """Status, handling office and answer of the complaint with this receipt code."""
    language = _lang(lang)
    try:
        _limit(request, "search")
        view = complaint_service.complaint_status(instance, receipt)
    except SealServiceError as exc:
        return _html_error(exc, lang=language, path="/complaints/new")
    return _html(pages.complaint_page(view, lang=language, just_filed=filed == "1"))


_COMPLAINT_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["category", "text"],
                    "properties": {
                        "category": {"type": "string", "enum": [c.value for c in complaint_service.Category]},
                        "text": {"type": "string", "maxLength": complaint_service.MAX_TEXT},
                        "licence": {"type": "string", "description": "Licence number, identifier or id"},
                        "contact": {"type": "string", "maxLength": complaint_service.MAX_CONTACT},
                    },
                }
            }
        },
    }
}


@router.post(
    "/v1/public/complaints", status_code=201, summary="File a complaint (投诉)", openapi_extra=_COMPLAINT_SCHEMA
)
async def complaint_json(request: Request, instance: InstanceDep) -> JSONResponse:
    """A receipt code to follow the complaint with; refused fields are named, and nothing is stored then."""
    body = await _read_body(request)
    try:
        fields = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput("the body must be a JSON object", field="body") from None
    if not isinstance(fields, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    await _limit_async(request, "complaint")
    filed = await run_in_threadpool(_file, instance, fields)
    return JSONResponse(
        {
            "receipt": filed.receipt,
            "status": complaint_service.ComplaintStatus.RECEIVED.value,
            "routed_to": filed.route.authority,
            "page": f"/complaints/{filed.receipt}",
        },
        status_code=201,
    )


@router.get("/v1/public/complaints/{receipt}", summary="A complaint's status and answer")
def complaint_status_json(receipt: str, request: Request, instance: InstanceDep) -> dict[str, object]:
    """Status, handling office and answer (never the complainant's contact)."""
    _limit(request, "search")
    return complaint_service.complaint_status(instance, receipt).to_json()


def _staff(caller: CallerDep) -> Caller:
    """Staff of an authority (its keys), or an operator or auditor key (all complaints)."""
    if caller.authority_code is None and caller.role not in (Role.OPERATOR, Role.AUDITOR):
        raise NotAuthorised(f"the key {caller.key_id} ({caller.role.value}) has no access to complaints")
    return caller


StaffDep = Annotated[Caller, Depends(_staff)]


@router.get("/v1/admin/complaints", summary="Complaints routed to the caller's authority (staff keys)")
def staff_complaints(
    instance: InstanceDep,
    caller: StaffDep,
    status: Annotated[str | None, Query(description="received or answered")] = None,
    limit: Annotated[int, Query(description="1 to 1000")] = 100,
) -> dict[str, object]:
    """A key of an authority sees the complaints routed to that authority (with contacts); an operator or auditor
    key sees all. Every reading is audited."""
    views = complaint_service.list_complaints(
        instance,
        authority=caller.authority_code,
        status=status,
        actor=f"apikey:{caller.key_id}",
        at=datetime.now(UTC),
        limit=limit,
    )
    return {"complaints": [v.to_json(staff=True) for v in views]}


@router.post("/v1/admin/complaints/{receipt}/answer", summary="Answer a complaint (staff keys)")
def staff_answer(receipt: str, body: dict[str, Any], instance: InstanceDep, caller: StaffDep) -> dict[str, object]:
    """The answer becomes public to whoever holds the receipt. Staff answer their own authority's complaints; an
    operator key may answer any; auditors only read."""
    if caller.authority_code is None and caller.role is not Role.OPERATOR:
        raise NotAuthorised(f"the key {caller.key_id} ({caller.role.value}) may read complaints but not answer them")
    answer = body.get("answer")
    if not isinstance(answer, str):
        raise InvalidInput("answer is required (a string)", field="answer")
    view = complaint_service.answer_complaint(
        instance,
        receipt,
        answer=answer,
        actor=f"apikey:{caller.key_id}",
        at=datetime.now(UTC),
        authority=caller.authority_code,
    )
    return view.to_json(staff=True)


__all__: list[str] = ["router"]
