"""Public endpoints: health, the catalogue, and the page a licence's QR code opens."""

from __future__ import annotations

import html
from datetime import timedelta, timezone

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from seal_service.api.deps import InstanceDep
from seal_service.errors import NotFound
from seal_service.instance import Instance
from seal_service.services.sealing import get_licence

router = APIRouter(tags=["public"])
CHINA_TZ = timezone(timedelta(hours=8))


def _probe(instance: Instance) -> None:
    with instance.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    instance.timestamps  # noqa: B018 - loads the TSA key once: proves the key store unlocks


@router.get("/healthz", summary="Liveness and readiness: database and keys reachable")
async def healthz(instance: InstanceDep) -> dict[str, object]:
    """``{"status": "ok"}`` when the database answers and the PKI keys unlock."""
    await run_in_threadpool(_probe, instance)
    return {"status": "ok", "database": "ok", "keys": "ok"}


@router.get("/v1/catalogue", summary="The catalogue of transferred approval items (划转事项目录)")
def catalogue(instance: InstanceDep) -> dict[str, object]:
    """Items, who seals each over which period, and the authorities."""
    cat = instance.catalogue
    return {
        "version": cat.version,
        "authorities": [
            {
                "code": a.code,
                "name": a.name,
                "kind": a.kind.value,
                "jurisdiction": a.jurisdiction,
                "credit_code": a.credit_code,
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
                "sealed_by": [
                    {
                        "authority": p.authority,
                        "from": p.start.isoformat(),
                        "until": p.end.isoformat() if p.end else None,
                    }
                    for p in i.sealed_by
                ],
            }
            for i in cat.items.values()
        ],
    }


def mask_name(name: str) -> str:
    """Mask a person's or company's name for a public page: 张三丰 -> 张*丰, 张三 -> 张*, companies keep ends."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    if len(name) <= 4:
        return name[0] + "*" * (len(name) - 2) + name[-1]
    # Longer names are organisations: keep the first two and last two characters (晋城*****公司).
    return name[:2] + "*" * (len(name) - 4) + name[-2:]


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:40rem;margin:1rem auto;
padding:0 1rem;line-height:1.5}} .ok{{color:#0a7a2f}} .bad{{color:#b00020}}
dt{{font-weight:600;margin-top:.5rem}}</style>
</head><body>
<h1 class="{cls}">{headline}</h1>
<p>{subline}</p>
<dl>{rows}</dl>
<p><small>本页显示登记记录。要核验您手中的文件是否被篡改，请上传 PDF 核验（核验服务）。
This page shows the registry record; to check that the PDF you hold is unaltered, verify the file itself.</small></p>
</body></html>"""


@router.get("/v/{licence_id}", response_class=HTMLResponse, summary="Public licence page (opened by the QR code)")
async def licence_page(licence_id: str, instance: InstanceDep) -> HTMLResponse:
    """A mobile page: is this licence on record, and is it in force."""
    try:
        licence = await run_in_threadpool(get_licence, instance, licence_id)
    except NotFound:
        body = _PAGE.format(
            title="未找到证照 / Licence not found",
            cls="bad",
            headline="未找到该证照 · Licence not found",
            subline="此链接不对应任何已登记的证照。The link does not match any licence on record.",
            rows="",
        )
        return HTMLResponse(body, status_code=404)
    in_force = licence.status == "valid"
    rows = [
        ("证照编号 Number", licence.number),
        ("证照标识 Identifier", licence.identifier),
        ("证照类型 Type", licence.licence_type),
        ("持证主体 Holder", mask_name(licence.holder_name)),
        ("发证日期 Issued", licence.issue_date.isoformat()),
        ("盖章时间 Sealed", licence.sealed_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S +08:00")),
        ("状态 Status", licence.status),
        ("文件摘要 SHA-256", licence.document_sha256),
    ]
    body = _PAGE.format(
        title=f"证照核验 {html.escape(licence.number)}",
        cls="ok" if in_force else "bad",
        headline="证照有效 · Licence in force" if in_force else "证照已失效 · Licence not in force",
        subline=html.escape(licence.status_reason or ""),
        rows="".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows),
    )
    return HTMLResponse(body)
