"""Public endpoints: the catalogue, and ``mask_name`` (natural persons; rules in seal_service.public.masking;
the licence page is in licence_page.py, health and readiness in observability.py)."""

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
    """Mask a natural person's name (张三丰 -> 张*丰); the rules live in :mod:`seal_service.public.masking`."""
    from seal_service.public.masking import mask_person_name

    return mask_person_name(name)


# The page a licence's QR code opens (GET /v/{licence_id}) lives in seal_service/api/licence_page.py.
