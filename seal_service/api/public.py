"""Public endpoints: the catalogue, and ``mask_name`` for public pages (the licence page is in licence_page.py,
health and readiness in observability.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from seal_service.api.deps import InstanceDep

router = APIRouter(tags=["public"])


@router.get("/v1/catalogue", summary="The catalogue of transferred approval items (划转事项目录)")
def catalogue(instance: InstanceDep) -> dict[str, object]:
    """Items, who seals each today and over which period (policy file + recorded memoranda), the authorities
    (with retirement dates) and the memoranda. A readable page of the same is ``GET /catalogue``."""
    from seal_service.api.lifecycle import catalogue_json
    from seal_service.memoranda import china_day

    return catalogue_json(instance.lifecycle.state(), day=china_day(datetime.now(UTC)))


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


# The page a licence's QR code opens (GET /v/{licence_id}) lives in seal_service/api/licence_page.py.
