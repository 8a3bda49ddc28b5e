"""Real protocol endpoints other clients can use: RFC 3161 TSA, RFC 6960/5019 OCSP, RFC 5280 CRLs, CA certs."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from seal_service.api.deps import InstanceDep
from seal_service.errors import InvalidInput, NotFound
from seal_service.instance import PkiRole
from seal_service.protocols.ocsp import ocsp_get_request_bytes

router = APIRouter(tags=["PKI protocols"])
MAX_PROTOCOL_BODY = 64 * 1024


async def _body(request: Request, content_type: str) -> bytes:
    got = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if got != content_type:
        raise InvalidInput(f"Content-Type must be {content_type}, got {got or 'none'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PROTOCOL_BODY:
            raise InvalidInput(f"request body larger than {MAX_PROTOCOL_BODY} bytes")
    return body


@router.post(
    "/tsa",
    summary="RFC 3161 time-stamp request",
    response_class=Response,
    responses={200: {"content": {"application/timestamp-reply": {}}}},
)
async def timestamp(request: Request, instance: InstanceDep) -> Response:
    """Answer a DER ``TimeStampReq`` (``application/timestamp-query``) with a ``TimeStampResp``."""
    body = await _body(request, "application/timestamp-query")
    reply = await run_in_threadpool(instance.timestamps.respond, body, at=datetime.now(UTC))
    return Response(reply, media_type="application/timestamp-reply")


@router.post(
    "/ocsp",
    summary="OCSP request (RFC 6960, POST)",
    response_class=Response,
    responses={200: {"content": {"application/ocsp-response": {}}}},
)
async def ocsp_post(request: Request, instance: InstanceDep) -> Response:
    """Answer a DER ``OCSPRequest`` about a seal certificate."""
    body = await _body(request, "application/ocsp-request")
    reply = await run_in_threadpool(instance.revocation.ocsp.respond, body, at=datetime.now(UTC))
    return Response(reply, media_type="application/ocsp-response")


@router.get(
    "/ocsp/{encoded:path}",
    summary="OCSP request (RFC 5019, GET)",
    response_class=Response,
    responses={200: {"content": {"application/ocsp-response": {}}}},
)
async def ocsp_get(encoded: str, instance: InstanceDep) -> Response:
    """Answer a base64url-in-path OCSP request; cacheable."""
    try:
        body = ocsp_get_request_bytes(encoded)
    except ValueError as exc:
        raise InvalidInput(f"malformed OCSP GET request: {exc}") from None
    reply = await run_in_threadpool(instance.revocation.ocsp.respond, body, at=datetime.now(UTC))
    return Response(reply, media_type="application/ocsp-response", headers={"Cache-Control": "max-age=300"})


@router.get(
    "/crl/{issuer}.crl",
    summary="Certificate revocation list (RFC 5280, DER)",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
)
async def crl(issuer: str, instance: InstanceDep) -> Response:
    """The current CRL of ``root`` or ``seal-ca``."""
    der = await run_in_threadpool(instance.revocation.crl, issuer, at=datetime.now(UTC))
    return Response(der, media_type="application/pkix-crl")


@router.get(
    "/pki/{role}.cer",
    summary="A CA or service certificate (DER)",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}},
)
async def pki_certificate(role: str, instance: InstanceDep) -> Response:
    """The certificate of ``root``, ``seal-ca``, ``tsa``, ``ocsp``, ``sm2-root`` or ``sm2-seal-ca`` (DER)."""
    if role in ("sm2-root", "sm2-seal-ca"):
        from seal_service.gm import Sm2Role, sm2_certificate

        der = await run_in_threadpool(sm2_certificate, instance, Sm2Role(role))
        return Response(der, media_type="application/pkix-cert")
    try:
        pki_role = PkiRole(role)
    except ValueError:
        raise NotFound(f"no certificate {role!r}; there are root, seal-ca, tsa, ocsp") from None
    cert = instance.pki.certificate(pki_role)
    return Response(cert.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert")
