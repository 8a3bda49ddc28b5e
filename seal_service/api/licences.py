"""The sign API for approval systems: seal a licence, read it back, change its status."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from seal_service.api.deps import InstanceDep, require_role
from seal_service.api.workers import seal_in_pool, sealing_lifespan
from seal_service.archive import licence_pdf, versions_of
from seal_service.errors import InvalidInput, NotAuthorised, NotFound
from seal_service.gm import licence_seals
from seal_service.instance import Instance
from seal_service.services import idempotency
from seal_service.services.apikeys import Caller, Role
from seal_service.services.bootstrap import seal_id_for
from seal_service.services.sealing import (
    LicenceAction,
    LicenceRequest,
    change_licence_status,
    get_licence,
)
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Licence

router = APIRouter(prefix="/v1/licences", tags=["licences"], lifespan=sealing_lifespan)
ApprovalSystem = Annotated[Caller, Depends(require_role(Role.APPROVAL_SYSTEM))]


class LicenceLinks(BaseModel):
    """Where to find a licence."""

    self: str = Field(examples=["/v1/licences/L3F2A9C41B7D0E5A6C1B2"])
    pdf: str = Field(examples=["/v1/licences/L3F2A9C41B7D0E5A6C1B2/pdf"])
    verify: str = Field(examples=["http://127.0.0.1:8000/v/L3F2A9C41B7D0E5A6C1B2"])


class LicenceVersionOut(BaseModel):
    """One version of the licence's PDF: 1 as issued, then one per archive renewal."""

    version: int = Field(examples=[2])
    sha256: str = Field(description="SHA-256 of this version's PDF (GET .../pdf?version=N).")
    created_at: datetime = Field(description="Sealing time (version 1) or the renewal time-stamp's time.")
    renewal: bool = Field(description="Whether this version is an archive renewal (re-time-stamping).")


class LicenceOut(BaseModel):
    """A sealed licence as the API reports it."""

    id: str = Field(description="Record id; also the public verification id.", examples=["L3F2A9C41B7D0E5A6C1B2"])
    identifier: str = Field(
        description="GB/T 36904 electronic licence identifier with its ISO 7064 check character.",
        examples=["1.2.156.3005.2.11100000MB01432171001.11140500MB01234568.20260000001.001.C"],
    )
    number: str = Field(examples=["140500-20260000001"])
    item_code: str = Field(examples=["JC-001"])
    licence_type: str = Field(examples=["食品经营许可证"])
    holder_name: str = Field(examples=["晋城市示例餐饮有限公司"])
    issue_date: date
    valid_from: date | None
    valid_until: date | None
    seal_id: str = Field(examples=["jc-bureau-approval"])
    level: str = Field(examples=["B-LTA"])
    seals: list[str] = Field(
        description="The seals the PDF carries: pades, and gm (national SM2 seal, GB/T 38540) when dual-sealed.",
        examples=[["gm", "pades"]],
    )
    sealed_at: datetime
    document_sha256: str = Field(
        description="SHA-256 of the sealed PDF as issued (version 1); renewed versions are listed in `versions`."
    )
    status: Literal["valid", "suspended", "revoked", "cancelled"]
    status_reason: str | None
    verify_url: str
    links: LicenceLinks
    versions: list[LicenceVersionOut] = Field(
        default_factory=list, description="Every version of the PDF, oldest first; GET .../pdf serves the newest."
    )


class StatusChange(BaseModel):
    """Why a licence's status changes."""

    reason: str = Field(min_length=1, max_length=500, examples=["持证主体申请注销 / surrendered by the holder"])


def _out(instance: Instance, licence: Licence) -> LicenceOut:
    base = instance.settings.public_url
    return LicenceOut(
        id=licence.id,
        identifier=licence.identifier,
        number=licence.number,
        item_code=licence.item_code,
        licence_type=licence.licence_type,
        holder_name=licence.holder_name,
        issue_date=licence.issue_date,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        seal_id=licence.seal_id,
        level=licence.level,
        seals=sorted(licence_seals(instance, licence.id)),
        sealed_at=licence.sealed_at,
        document_sha256=licence.document_sha256,
        status=licence.status,  # type: ignore[arg-type]
        status_reason=licence.status_reason,
        verify_url=f"{base}/v/{licence.id}",
        links=LicenceLinks(
            self=f"/v1/licences/{licence.id}", pdf=f"/v1/licences/{licence.id}/pdf", verify=f"{base}/v/{licence.id}"
        ),
        versions=[LicenceVersionOut(**asdict(v)) for v in versions_of(instance, licence)],
    )


def _own_licence(instance: Instance, licence_id: str, caller: Caller) -> Licence:
    licence = get_licence(instance, licence_id)
    if licence.authority_id != caller.authority_id:
        # Same answer as for an unknown id: one authority's system cannot probe another's licences.
        raise NotFound(f"unknown licence {licence_id!r}")
    return licence


@router.post(
    "",
    status_code=201,
    response_model=LicenceOut,
    summary="Seal a PDF licence",
    responses={
        200: {"description": "A retry with the same Idempotency-Key: the licence issued the first time."},
        401: {"description": "No or bad API key"},
        403: {"description": "The seal belongs to another authority, or the seal may not seal this item today"},
        409: {"description": "Seal not usable, or the same Idempotency-Key is in progress"},
        413: {"description": "Upload larger than the limit"},
        422: {"description": "Bad field or bad PDF (problem+json names which)"},
    },
)
async def create_licence(
    instance: InstanceDep,
    caller: ApprovalSystem,
    pdf: Annotated[UploadFile, File(description="The licence PDF to seal (unsigned, unencrypted, no active content).")],
    item_code: Annotated[str, Form(min_length=1, max_length=64, examples=["JC-001"])],
    holder_name: Annotated[str, Form(min_length=1, max_length=200, examples=["晋城市示例餐饮有限公司"])],
    holder_code: Annotated[str | None, Form(max_length=64, examples=["11430000006122244L"])] = None,
    holder_code_type: Annotated[Literal["111", "001"] | None, Form(description="111 ID card, 001 credit code")] = None,
    licence_type_code: Annotated[str | None, Form(max_length=40, description="Must match the item's, if given")] = None,
    number: Annotated[
        str | None, Form(max_length=100, description="Licence number; default jurisdiction-serial")
    ] = None,
    valid_from: Annotated[date | None, Form()] = None,
    valid_until: Annotated[date | None, Form()] = None,
    seal_id: Annotated[str | None, Form(max_length=64, description="Default: the caller's approval seal")] = None,
    level: Annotated[PadesLevel, Form()] = PadesLevel.B_LTA,
    gm: Annotated[bool, Form(description="Also apply the national SM2 seal (GB/T 38540) when the seal has one")] = True,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    """Seal ``pdf`` with the caller's seal and record the licence. Retries with the same ``Idempotency-Key``
    return the same licence (same id, same bytes) and never issue twice."""
    at = datetime.now(UTC)
    data = await pdf.read(instance.settings.max_upload_bytes + 1)
    if len(data) > instance.settings.max_upload_bytes:
        raise InvalidInput(f"the PDF exceeds the limit of {instance.settings.max_upload_bytes} bytes", field="pdf")
    item = instance.catalogue.item(item_code)
    if licence_type_code is not None and licence_type_code != item.licence_type_code:
        raise InvalidInput(
            f"licence type {licence_type_code} does not match item {item_code} ({item.licence_type_code})",
            field="licence_type_code",
        )
    if caller.authority_id is None:
        raise NotAuthorised(f"the key {caller.key_id} is bound to no authority; it may not seal", field="seal_id")
    chosen_seal = seal_id or seal_id_for(caller.authority_code or "")
    request = LicenceRequest(
        item_code=item_code,
        holder_name=holder_name,
        seal_id=chosen_seal,
        level=level,
        holder_code=holder_code,
        holder_code_type=holder_code_type,
        number=number,
        valid_from=valid_from,
        valid_until=valid_until,
        gm=gm,
    )
    claim = None
    if idempotency_key is not None:
        fingerprint = idempotency.request_fingerprint(
            {k: v for k, v in request.__dict__.items()} | {"licence_type_code": licence_type_code}, data
        )
        claim = await run_in_threadpool(
            lambda: idempotency.claim(
                instance, api_key_id=caller.key_id, key=idempotency_key, fingerprint=fingerprint, at=at
            )
        )
        if claim.existing_licence_id is not None:
            licence = await run_in_threadpool(get_licence, instance, claim.existing_licence_id)
            return JSONResponse(json.loads(_out(instance, licence).model_dump_json()), status_code=200)
    token = claim.token if claim is not None else None
    try:
        # The seal must be the caller's authority's own (checked where the seal is loaded, in the sealing process).
        # The claim is completed in the licence's own transaction: recorded together, or neither.
        licence = await seal_in_pool(
            instance,
            data,
            request,
            actor=f"apikey:{caller.key_id}",
            at=at,
            for_authority_id=caller.authority_id,
            claim=token,
        )
    except BaseException:
        if token is not None:
            await run_in_threadpool(idempotency.release, instance, token)
        raise
    finally:
        if token is not None:
            idempotency.finished(token)
    body = json.loads(_out(instance, licence).model_dump_json())
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/licences/{licence.id}"})


@router.get("/{licence_id}", response_model=LicenceOut, summary="A licence record")
def read_licence(licence_id: str, instance: InstanceDep, caller: ApprovalSystem) -> LicenceOut:
    """The record of one of the caller's authority's licences, with its current status."""
    return _out(instance, _own_licence(instance, licence_id, caller))


@router.get(
    "/{licence_id}/pdf",
    summary="The sealed PDF, exactly as hashed",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def read_licence_pdf(
    licence_id: str,
    instance: InstanceDep,
    caller: ApprovalSystem,
    version: Annotated[int | None, Query(ge=1, description="A version (1 = as issued); default the newest")] = None,
) -> Response:
    """The sealed bytes of the newest version (or of ``version``); their SHA-256 is that version's ``sha256``."""
    licence = _own_licence(instance, licence_id, caller)
    data, info = licence_pdf(instance, licence_id, version)
    name = licence.id if version is None else f"{licence.id}-v{version}"
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.pdf"',
            "Digest": f"sha-256={info.sha256}",
            "Licence-Version": str(info.version),
        },
    )


def _status_route(action: LicenceAction):  # type: ignore[no-untyped-def]
    def change(licence_id: str, body: StatusChange, instance: InstanceDep, caller: ApprovalSystem) -> LicenceOut:
        licence = change_licence_status(
            instance,
            licence_id,
            action=action,
            reason=body.reason,
            authority_id=caller.authority_id,
            actor=f"apikey:{caller.key_id}",
            at=datetime.now(UTC),
        )
        return _out(instance, licence)

    change.__doc__ = f"{action.value.capitalize()} a licence (issuing authority only), with a reason."
    return change


for _action in LicenceAction:
    router.add_api_route(
        f"/{{licence_id}}/{_action.value}",
        _status_route(_action),
        methods=["POST"],
        response_model=LicenceOut,
        summary=f"{_action.value.capitalize()} a licence",
        name=f"{_action.value}_licence",
    )
