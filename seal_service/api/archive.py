"""Archive endpoints and the renewal schedule: retired TSA certificates stay downloadable, and the app's lifespan
runs :class:`~seal_service.archive.schedule.RenewalSchedule` when ``SEAL_ARCHIVE_RENEWAL_INTERVAL_HOURS`` > 0.

``GET /pki/tsa/{serial}.cer``: a TSA certificate (current or retired by ``seal-service tsa rotate``) by its serial
number in hex, so time-stamps made with a retired key keep verifying.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, FastAPI, Response
from fastapi.concurrency import run_in_threadpool

from seal_service.api.deps import InstanceDep
from seal_service.errors import NotFound
from seal_service.instance import Instance, PkiRole


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from seal_service.archive.schedule import RenewalSchedule

    instance: Instance = app.state.instance
    settings = instance.settings
    hours = settings.archive_renewal_interval_hours
    schedule = (
        RenewalSchedule(
            instance,
            interval=timedelta(hours=hours),
            horizon=timedelta(days=settings.archive_renewal_horizon_days),
        )
        if hours
        else None
    )
    app.state.renewal_schedule = schedule
    if schedule is not None:
        schedule.start()
    try:
        yield
    finally:
        if schedule is not None:
            await run_in_threadpool(schedule.stop)


router = APIRouter(tags=["archive"], lifespan=_lifespan)


@router.get(
    "/pki/tsa/{serial}.cer",
    summary="A current or retired TSA certificate (DER) by serial number",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}, 404: {"description": "No such TSA certificate"}},
)
def tsa_certificate(serial: str, instance: InstanceDep) -> Response:
    """The TSA certificate with serial ``serial`` (hex, any case); retired ones stay here for verifiers."""
    from seal_service.archive.tsa_rotation import retired_tsa_certificates

    wanted = serial.lower().lstrip("0")
    certificates = [instance.pki.certificate(PkiRole.TSA), *retired_tsa_certificates(instance)]
    for cert in certificates:
        if format(cert.serial_number, "x") == wanted:
            return Response(cert.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert")
    raise NotFound(f"no TSA certificate with serial {serial!r}", field="serial")
