"""National seal (国密) downloads: a seal's seal data (SES_Seal, GB/T 38540 v4)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from seal_service.api.deps import InstanceDep
from seal_service.gm import ses_seal_of

router = APIRouter(tags=["public"])


@router.get(
    "/v1/seals/{seal_id}/ses-seal",
    summary="A seal's national seal data (SES_Seal v4, DER)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "unknown seal or no data"}},
)
async def ses_seal(seal_id: str, instance: InstanceDep) -> Response:
    """The current seal data (印章数据) of ``seal_id``: GB/T 38540 v4 ``SESeal``, signed by the SM2 seal maker.

    Public, like the certificates: it holds the seal's name, picture, permitted signer certificates and validity.
    """
    der = await run_in_threadpool(ses_seal_of, instance, seal_id)
    return Response(
        der,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{seal_id}.ses"'},
    )
