"""What operators watch, over HTTP: ``/healthz`` (live), ``/readyz`` (ready), ``/metrics`` (Prometheus), and the
request observation that gives every request an id, a log line and its metrics.

``/healthz`` answers 200 as long as the process serves HTTP, touching nothing else: a load balancer or
orchestrator that restarts dead processes must not restart a healthy node because the database is down.
``/readyz`` runs the readiness checks (:mod:`seal_service.ops.health`) and answers 503 when one fails, so that a
load balancer stops sending requests to the node until it recovers.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from seal_service.api.deps import InstanceDep
from seal_service.api.limits import ASGIApp, Message, Receive, Scope, Send
from seal_service.api.problems import problem
from seal_service.ops import metrics
from seal_service.ops.health import check_readiness
from seal_service.ops.logs import REQUEST_ID
from seal_service.settings import MetricsAccess

router = APIRouter(tags=["operations"])
access_log = logging.getLogger("seal_service.access")

#: A request id a client may choose: short, and only characters that cannot forge log structure.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
#: Methods counted by name; any other is counted as OTHER, so clients cannot grow the metrics without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Route template of cached QR pages, answered ahead of FastAPI (no route in the scope).
_PAGE_ROUTE = "/v/{licence_id}"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.fullmatch(text):
                return text
            break
    return os.urandom(16).hex()  # as random as a UUID 4, at a fifth of its cost


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("path", "").startswith("/v/"):
        return _PAGE_ROUTE
    return "unmatched"  # an unknown path: one label for all, so clients cannot grow the metrics without bound


class RequestObservation:
    """ASGI wrapper around the whole application (the QR page fast path included): request id (``X-Request-ID``
    taken from the client or made, and returned), one access log line and the request metrics per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the application, observed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode())
        token = REQUEST_ID.set(request_id)
        status = 500
        start = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - start
            route, method = _route(scope), scope.get("method", "")
            method = method if method in _METHODS else "OTHER"
            metrics.count_request(route, method, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                fields = {"method": method, "route": route, "status": status, "ms": round(elapsed * 1000, 2)}
                access_log.info("request", extra={"fields": fields})
            REQUEST_ID.reset(token)


def install(app: FastAPI) -> None:
    """Observe every request of ``app`` (ahead of its QR page fast path, if it has one), count database
    connections, and add the operations routes."""
    front = getattr(app, "_front", None)
    if front is not None:
        app._front = RequestObservation(front)  # type: ignore[attr-defined]
    else:
        app.add_middleware(RequestObservation)
    metrics.instrument_engine(app.state.instance.engine)
    app.include_router(router)


@router.get("/healthz", summary="Liveness: the process serves HTTP (no dependency is checked)")
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process answers; readiness is ``/readyz``."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database, keys, sealing processes and publication freshness",
    responses={503: {"description": "A check failed (named in `checks`); the node should get no traffic"}},
)
async def readyz(request: Request, instance: InstanceDep) -> JSONResponse:
    """``{"status": "ready", "checks": {...}}`` with 200, or 503 ``application/problem+json`` naming the failed
    checks (``Retry-After: 5``)."""
    publisher = getattr(request.app.state, "revocation_publisher", None)
    readiness = await run_in_threadpool(
        check_readiness,
        instance,
        at=datetime.now(UTC),
        sealing_socket=instance.settings.sealing_socket,
        publisher=publisher,
    )
    if readiness.ready:
        return JSONResponse(readiness.to_json())
    failed = [c for c in readiness.checks if not c.ok]
    detail = "; ".join(f"{c.name}: {c.detail}" for c in failed)
    answer = problem(503, "not-ready", "Not ready", detail, checks=readiness.to_json()["checks"])
    answer.headers["Retry-After"] = "5"
    return answer


def _authorised(request: Request, access: MetricsAccess, token: str | None) -> bool:
    if access is MetricsAccess.OPEN:
        return True
    presented = request.headers.get("authorization", "")
    scheme, _, value = presented.partition(" ")
    return scheme.lower() == "bearer" and token is not None and hmac.compare_digest(value.strip(), token)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, instance: InstanceDep) -> Response:
    """Prometheus text exposition (``SEAL_METRICS``: off → 404, open, bearer → ``Authorization: Bearer``)."""
    settings = instance.settings
    if settings.metrics is MetricsAccess.OFF:
        return problem(404, "http-404", "Not found", "metrics are switched off (SEAL_METRICS=off)")
    token = settings.metrics_token_value() if settings.metrics is MetricsAccess.BEARER else None
    if not _authorised(request, settings.metrics, token):
        answer = problem(401, "unauthenticated", "Authentication required", "GET /metrics needs the metrics token")
        answer.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    body, content_type = await run_in_threadpool(metrics.exposition, instance, at=datetime.now(UTC))
    return Response(body, media_type=content_type)
