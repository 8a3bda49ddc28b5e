"""Seal lifecycle over HTTP: memoranda (admin), the trust bundle, the public catalogue page, scheduled publication.

``POST /v1/admin/memoranda`` needs an API key of role ``operator`` or ``security-officer`` (401 without a valid key,
403 with another role). Everything else here is public: the catalogue and the memoranda are public documents
(目录化管理, public query), and the trust bundle is what offline verifiers download.

The router's lifespan starts a :class:`~seal_service.services.publication.RevocationPublisher` with the app
(``SEAL_PUBLICATION_INTERVAL_SECONDS``, default 1800; 0 turns it off).
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from seal_service.api.deps import InstanceDep, require_role
from seal_service.errors import InvalidInput
from seal_service.instance import Instance
from seal_service.memoranda import Memorandum, china_day, cut_over_instant
from seal_service.services.apikeys import Caller, Role
from seal_service.services.lifecycle import LifecycleState, SealLifecycleView, record_memorandum, seal_lifecycles


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from seal_service.services.publication import RevocationPublisher

    instance: Instance = app.state.instance
    seconds = instance.settings.publication_interval_seconds
    publisher = RevocationPublisher(instance, interval=timedelta(seconds=seconds)) if seconds else None
    app.state.revocation_publisher = publisher
    if publisher is not None:
        publisher.start()
    try:
        yield
    finally:
        if publisher is not None:
            await run_in_threadpool(publisher.stop)


router = APIRouter(tags=["seal lifecycle"], lifespan=_lifespan)

AdminDep = Annotated[Caller, Depends(require_role(Role.OPERATOR, Role.SECURITY_OFFICER))]


class MemorandumIn(BaseModel):
    """A handover memorandum to record."""

    model_config = ConfigDict(extra="forbid")

    department: str = Field(description="Authority code of the department whose approval powers move.")
    bureau: str = Field(description="Authority code of the bureau of the same jurisdiction.")
    items: list[str] | None = Field(default=None, description="Item codes that move; omit with all_items=true.")
    all_items: bool = Field(default=False, description="Move every item the department seals on the effective day.")
    effective: date = Field(description="Cut-over day: the items move at 00:00 China time (+08:00).")
    reference: str | None = Field(default=None, max_length=200, description="Number of the signed paper document.")
    note: str | None = Field(default=None, max_length=2000)


def memorandum_json(memo: Memorandum) -> dict[str, Any]:
    """A memorandum as the API shows it."""
    return {
        "id": memo.id,
        "department": memo.department,
        "bureau": memo.bureau,
        "items": list(memo.items),
        "effective": memo.effective_on.isoformat(),
        "cut_over_at": memo.cut_over_at.isoformat(),
        "whole_department": memo.whole_department,
        "reference": memo.reference,
        "recorded_at": memo.recorded_at.isoformat() if memo.recorded_at else None,
    }


def catalogue_json(state: LifecycleState, *, day: date) -> dict[str, Any]:
    """The effective catalogue (policy file + memoranda) with its history, and who seals each item on ``day``."""
    cat = state.catalogue
    return {
        "version": cat.version,
        "on": day.isoformat(),
        "authorities": [
            {
                "code": a.code,
                "name": a.name,
                "kind": a.kind.value,
                "jurisdiction": a.jurisdiction,
                "credit_code": a.credit_code,
                "retired_on": r.day.isoformat() if (r := state.retirement_of(a.code)) else None,
            }
            for a in cat.authorities.values()
        ],
        "items": [
            {
                "code": i.code,
                "name": i.name,
                "licence_type": i.licence_type,
                "licence_type_code": i.licence_type_code,
                "supervisor": i.supervisor,
                "sealed_by_on": i.sealing_authority(day),
                "sealed_by": [
                    {
                        "authority": p.authority,
                        "from": p.start.isoformat(),
                        "until": p.end.isoformat() if p.end else None,
                        "memorandum": p.memorandum,
                    }
                    for p in i.sealed_by
                ],
            }
            for i in cat.items.values()
        ],
        "memoranda": [memorandum_json(m) for m in state.memoranda],
    }


@router.post(
    "/v1/admin/memoranda",
    status_code=201,
    summary="Record a handover memorandum (审管衔接备忘录); operator or security officer",
)
def create_memorandum(body: MemorandumIn, instance: InstanceDep, caller: AdminDep) -> dict[str, Any]:
    """From 00:00 (+08:00) of ``effective`` the items move to the bureau; the department's seal retires once all
    its items have moved (its certificates are then revoked, cessationOfOperation, at the cut-over)."""
    if (body.items is None) != body.all_items:
        raise InvalidInput("give either items or all_items=true", field="items")
    outcome = record_memorandum(
        instance,
        department=body.department,
        bureau=body.bureau,
        items=body.items,
        effective_on=body.effective,
        reference=body.reference,
        note=body.note,
        at=datetime.now(UTC),
        actor=f"apikey:{caller.key_id}",
    )
    return {
        "memorandum": memorandum_json(outcome.memorandum),
        "retires": list(outcome.retired_seals),
        "retires_on": outcome.retires_on.isoformat() if outcome.retires_on else None,
    }


@router.get("/v1/memoranda", summary="Recorded handover memoranda (public)")
def memoranda(instance: InstanceDep) -> list[dict[str, Any]]:
    """Every recorded memorandum, oldest first."""
    return [memorandum_json(m) for m in instance.lifecycle.state().memoranda]


@router.get(
    "/v1/trust-bundle",
    summary="The signed trust bundle for offline verifiers",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def trust_bundle(instance: InstanceDep) -> Response:
    """Roots, CA/TSA/OCSP certificates, seals with their status history, the catalogue history and memoranda,
    signed with the bundle key (check it with ``verifier.bundle.load_trust_bundle`` and the root)."""
    from seal_service.services.trust_bundle import current_trust_bundle

    issued = current_trust_bundle(instance, at=datetime.now(UTC))
    return Response(
        issued.document,
        media_type="application/json",
        headers={
            "ETag": f'"trust-bundle-v{issued.version}"',
            "Cache-Control": "public, max-age=300",
            "X-Trust-Bundle-Version": str(issued.version),
        },
    )


_STYLE = """body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:72rem;
margin:1rem auto;padding:0 1rem;line-height:1.5}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
.retired{color:#b00020}.active{color:#0a7a2f}small{color:#555}
@media (max-width:40rem){table,tbody,tr,td{display:block;width:100%;box-sizing:border-box}tr:first-child{display:none}
tr{border:1px solid #ccc;border-radius:.4rem;margin:0 0 .6rem;padding:.2rem 0}td{border:0;padding:.15rem .6rem;
overflow-wrap:anywhere}td::before{content:attr(data-label);display:block;color:#555;font-size:.8rem}}"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _row(labels: tuple[str, ...], cells: tuple[str, ...], classes: tuple[str, ...] = ()) -> str:
    """A table row whose cells carry their column label: on a phone each row shows as a labelled card."""
    out = []
    for index, (label, cell) in enumerate(zip(labels, cells, strict=True)):
        css = f' class="{classes[index]}"' if index < len(classes) and classes[index] else ""
        out.append(f'<td data-label="{_e(label)}"{css}>{cell}</td>')
    return "<tr>" + "".join(out) + "</tr>"


_ITEM_LABELS = (
    "事项编码 Code",
    "事项名称 Item",
    "证照类型 Licence type",
    "监管部门 Supervisor",
    "盖章机关 Sealed by",
    "沿革 History",
)
_MEMO_LABELS = (
    "编号 No.",
    "移交部门 Department",
    "审批局 Bureau",
    "生效日期 Effective",
    "划转事项 Items",
    "文号 Reference",
)
_SEAL_LABELS = ("印章 Seal", "机关 Authority", "状态 Status", "废止 Retirement")


def catalogue_page(state: LifecycleState, seals: list[SealLifecycleView], *, day: date) -> str:
    """The public catalogue as a self-contained HTML page (zh-CN first, English second, no external resources)."""
    cat = state.catalogue

    def name(code: str | None) -> str:
        if code is None:
            return "—"
        authority = cat.authorities.get(code)
        return f"{_e(authority.name)} <small>{_e(code)}</small>" if authority else _e(code)

    rows = []
    for item in cat.items.values():
        history = "<br>".join(
            f"{name(p.authority)}：{p.start.isoformat()} 起"
            + (f"，至 {p.end.isoformat()} 止" if p.end else "")
            + (f"（备忘录 {p.memorandum}）" if p.memorandum else "")
            for p in item.sealed_by
        )
        cells = (_e(item.code), _e(item.name), _e(item.licence_type), name(item.supervisor))
        rows.append(_row(_ITEM_LABELS, (*cells, name(item.sealing_authority(day)), history)))
    memo_rows = [
        _row(
            _MEMO_LABELS,
            (
                str(m.id),
                name(m.department),
                name(m.bureau),
                m.effective_on.isoformat(),
                _e("、".join(m.items)),
                _e(m.reference or ""),
            ),
        )
        for m in state.memoranda
    ]
    seal_rows = []
    for view in seals:
        retirement = view.retirement
        status = {"active": "在用 active", "retired": "已废止 retired", "revoked": "已吊销 revoked"}.get(
            view.state.status.value, view.state.status.value
        )
        css = "active" if view.state.usable else "retired"
        note = f"{retirement.day.isoformat()} 废止 / retires" if retirement else ""
        seal_rows.append(
            _row(
                _SEAL_LABELS,
                (f"{_e(view.name)} <small>{_e(view.id)}</small>", name(view.authority_code), _e(status), _e(note)),
                ("", "", css, ""),
            )
        )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>划转事项目录 · Catalogue of transferred approval items</title>
<style>{_STYLE}</style></head><body>
<h1>划转事项目录 <small>Catalogue of transferred approval items</small></h1>
<p>显示 {day.isoformat()}（北京时间）的盖章机关。行政审批服务管理局一枚印章管审批；审管衔接备忘录生效之日起，
原部门审批专用章废止并封存，此前加盖的证照继续有效。<br>
<small>Who seals each item on {day.isoformat()} (China time). From the day a handover memorandum takes effect the
bureau's single approval seal seals the item and the department's seal is retired; licences it sealed before
remain valid. Machine-readable: <a href="/v1/catalogue">/v1/catalogue</a>,
<a href="/v1/trust-bundle">/v1/trust-bundle</a>.</small></p>
<h2>审批事项 <small>Approval items</small></h2>
<table><tr><th>事项编码<br><small>Code</small></th><th>事项名称<br><small>Item</small></th>
<th>证照类型<br><small>Licence type</small></th><th>监管部门<br><small>Supervisor</small></th>
<th>盖章机关<br><small>Sealed by</small></th><th>沿革<br><small>History</small></th></tr>
{"".join(rows)}</table>
<h2>审管衔接备忘录 <small>Handover memoranda</small></h2>
<table><tr><th>编号<br><small>No.</small></th><th>移交部门<br><small>Department</small></th>
<th>审批局<br><small>Bureau</small></th><th>生效日期<br><small>Effective</small></th>
<th>划转事项<br><small>Items</small></th><th>文号<br><small>Reference</small></th></tr>
{"".join(memo_rows) or '<tr><td colspan="6">暂无 / none</td></tr>'}</table>
<h2>印章 <small>Seals</small></h2>
<table><tr><th>印章<br><small>Seal</small></th><th>机关<br><small>Authority</small></th>
<th>状态<br><small>Status</small></th><th>废止<br><small>Retirement</small></th></tr>
{"".join(seal_rows)}</table>
</body></html>"""


@router.get("/catalogue", response_class=HTMLResponse, summary="The catalogue as a readable page (划转事项目录)")
def catalogue_html(
    instance: InstanceDep,
    on: Annotated[date | None, Query(description="Day to show (YYYY-MM-DD, China time); default today.")] = None,
) -> HTMLResponse:
    """Items, who seals each on a day, their history, the memoranda and the seals' status."""
    now = datetime.now(UTC)
    day = on or china_day(now)
    at = cut_over_instant(day) if on else now
    state = instance.lifecycle.state()
    return HTMLResponse(catalogue_page(state, seal_lifecycles(instance, at=at), day=day))
