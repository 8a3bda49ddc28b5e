"""The public verify API: one PDF, a batch (multipart or zip, large ones as jobs), and licence status for verifiers.

No API key: verification is public (citizens, departments). Every bad input is a problem+json answer.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from seal_service.api.deps import InstanceDep
from seal_service.errors import InvalidInput
from seal_service.instance import Instance
from seal_service.ops import metrics
from seal_service.services.verification import (
    JOB_ABOVE,
    JOB_PROGRESS_EVERY,
    MAX_BATCH_FILES,
    BatchFile,
    JobStore,
    Verification,
    licence_record,
    now,
    summary,
    unzip_batch,
    verification_pool,
    verify_batch,
)

router = APIRouter(tags=["verify"])

_REPORT_EXAMPLE: dict[str, Any] = {
    "file": "licence.pdf",
    "verdict": "valid",
    "indication": "TOTAL_PASSED",
    "subindication": None,
    "seal": {"name": "晋城市行政审批服务管理局行政审批专用章", "seal_id": "jc-bureau-approval"},
    "licence": {"id": "L3F2A9C41B7D0E5A6C1B2", "number": "140500-20260000001", "status": "valid"},
    "signed_at": "2026-11-28T06:07:52+00:00",
    "messages": [
        "印章有效：晋城市行政审批服务管理局行政审批专用章 / Seal valid: 晋城市行政审批服务管理局行政审批专用章"
    ],
    "checks": [{"name": "structure", "passed": True, "outcome": "passed", "detail": None}],
}


class PublicLicence(BaseModel):
    """What anyone may know about a licence, to check a copy they hold: no holder, no personal data."""

    id: str = Field(examples=["L3F2A9C41B7D0E5A6C1B2"])
    identifier: str = Field(examples=["1.2.156.3005.2.11100000MB01432171001.11140500MB01234568.20260000001.001.C"])
    number: str = Field(examples=["140500-20260000001"])
    status: str = Field(
        description="valid, suspended, revoked, cancelled or expired (past valid_until).", examples=["valid"]
    )
    valid_until: str | None = Field(default=None, examples=["2031-11-27"])
    document_sha256: str = Field(description="SHA-256 of the sealed PDF exactly as issued.")


async def _read_limited(upload: UploadFile, limit: int, field: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{upload.filename or field}: larger than {limit} bytes", field=field)
    return data


async def _verify_one(instance: Instance, data: bytes, name: str) -> dict[str, Any]:
    at = now()
    verification = Verification.of(instance)
    loop = asyncio.get_running_loop()
    report = await loop.run_in_executor(verification_pool(), lambda: verification.verify(data, at=at, file=name))
    answer = report.to_json()
    metrics.count_verdicts([str(answer["verdict"])])
    return answer


@router.post(
    "/v1/verify",
    summary="Verify one sealed PDF",
    responses={
        200: {
            "description": "The verification report (docs/verification.md)",
            "content": {"application/json": {"example": _REPORT_EXAMPLE}},
        },
        413: {"description": "Upload larger than the limit"},
        422: {"description": "No PDF part, or an empty one"},
    },
)
async def verify_document(
    instance: InstanceDep,
    pdf: Annotated[UploadFile, File(description="The PDF to verify, as received.")],
) -> JSONResponse:
    """Verify the seal(s) on ``pdf`` and, for this service's own licences, the licence record and status.

    Trusts this instance's root (and its trust bundle). A document that is not valid is still a 200 answer: the
    report says why (``verdict``, ``indication``, ``subindication``, ``messages``, ``checks``).
    """
    data = await _read_limited(pdf, instance.settings.max_upload_bytes, "pdf")
    if not data:
        raise InvalidInput("the uploaded file is empty", field="pdf")
    return JSONResponse(await _verify_one(instance, data, pdf.filename or "document.pdf"))


async def _batch_files(instance: Instance, uploads: list[UploadFile]) -> list[BatchFile]:
    limit = instance.settings.max_upload_bytes
    if len(uploads) > MAX_BATCH_FILES:
        raise InvalidInput(f"{len(uploads)} files; at most {MAX_BATCH_FILES} per batch", field="files")
    files: list[BatchFile] = []
    for index, upload in enumerate(uploads):
        data = await _read_limited(upload, limit, "files")
        name = upload.filename or f"file-{index + 1}"
        is_zip = data[:4] == b"PK\x03\x04" or name.lower().endswith(".zip")
        if is_zip:
            if len(uploads) != 1:
                raise InvalidInput("send either one zip file or PDF files, not both", field="files")
            return await run_in_threadpool(unzip_batch, data, max_entry_bytes=limit)
        files.append(BatchFile(name, data))
    if not files:
        raise InvalidInput("no files in the batch", field="files")
    return files


async def _run_job(instance: Instance, job_id: str, files: list[BatchFile]) -> None:
    store = JobStore(instance)
    at = now()
    try:
        loop = asyncio.get_running_loop()
        results: list[dict[str, object]] = []
        for start in range(0, len(files), JOB_PROGRESS_EVERY):
            chunk = files[start : start + JOB_PROGRESS_EVERY]
            results += await loop.run_in_executor(verification_pool(), partial(verify_batch, instance, chunk, at=at))
            if len(results) < len(files):
                await run_in_threadpool(store.progress, job_id, len(results), at=now())
        metrics.count_verdicts(str(result["verdict"]) for result in results)
        await run_in_threadpool(store.finish, job_id, results, at=now())
    except Exception as exc:  # recorded for the client; the job never hangs in "running"
        await run_in_threadpool(store.fail, job_id, f"{type(exc).__name__}: {exc}", at=now())


_jobs: set[asyncio.Task[None]] = set()


def _start_job(instance: Instance, job_id: str, files: list[BatchFile]) -> None:
    task = asyncio.create_task(_run_job(instance, job_id, files))
    _jobs.add(task)
    task.add_done_callback(_jobs.discard)


@router.post(
    "/v1/verify/batch",
    summary="Verify many sealed PDFs (multipart files, or one zip)",
    responses={
        200: {"description": "Small batch: per-file reports and a summary"},
        202: {"description": "Large batch: a job; fetch the results from the Location"},
        413: {"description": "The batch is larger than the upload limit"},
        422: {"description": "Bad batch: too many files, a bad or dangerous zip, no files"},
    },
)
async def verify_many(
    instance: InstanceDep,
    files: Annotated[list[UploadFile], File(description="PDF files, or a single zip of PDF files.")],
) -> JSONResponse:
    """Up to 20 files are verified at once and answered here; more (up to 500) become a job: ``202 Accepted`` with
    ``Location: /v1/verify/jobs/{id}``. The request body is limited like a single upload (``max_upload_bytes``);
    a zip is checked for bombs (entry count, declared sizes, compression ratio) before anything is extracted."""
    batch = await _batch_files(instance, files)
    if len(batch) <= JOB_ABOVE:
        at = now()
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(verification_pool(), lambda: verify_batch(instance, batch, at=at))
        metrics.count_verdicts(str(result["verdict"]) for result in results)
        return JSONResponse({"status": "done", "files": len(batch), "summary": summary(results), "results": results})
    job_id = await run_in_threadpool(JobStore(instance).create, batch, at=now())
    _start_job(instance, job_id, batch)
    location = f"/v1/verify/jobs/{job_id}"
    return JSONResponse(
        {"id": job_id, "status": "running", "files": len(batch), "location": location},
        status_code=202,
        headers={"Location": location, "Retry-After": "2"},
    )


@router.get("/v1/verify/jobs/{job_id}", summary="A batch verification job and, once done, its results")
async def verification_job(job_id: str, instance: InstanceDep) -> JSONResponse:
    """``{"id", "status": "running|done|failed", "files", "verified", "summary", "results"}``; 404 for unknown or
    expired (24 h) jobs. Any node answers: jobs live in the database. A job whose node stopped (no progress for 10
    minutes) is taken over by the node polled and verified again from its stored documents."""
    store = JobStore(instance)
    taken = await run_in_threadpool(store.take_over, job_id, at=now())
    if taken is not None:
        _start_job(instance, job_id, taken)
    record = await run_in_threadpool(store.read, job_id, at=now())
    headers = {"Retry-After": "2"} if record.get("status") == "running" else {}
    return JSONResponse(record, headers=headers)


@router.get(
    "/v1/public/licences/{licence_id}",
    response_model=PublicLicence,
    summary="A licence's public status, for verifiers (no personal data)",
    responses={404: {"description": "No such licence"}},
)
def public_licence(licence_id: str, instance: InstanceDep) -> PublicLicence:
    """Status (valid, suspended, revoked, expired), identifier, number, validity end and the sealed document's
    SHA-256: what ``seal-verify --service URL`` compares a document with. Never the holder or other personal data."""
    record = licence_record(instance, licence_id)
    return PublicLicence(
        id=record.id,
        identifier=record.identifier,
        number=record.number,
        status=record.status_at(now()),
        valid_until=record.valid_until.isoformat() if record.valid_until else None,
        document_sha256=record.document_sha256,
    )
