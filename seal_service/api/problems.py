"""The one place that turns errors into RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from seal_service.errors import SealServiceError
from seal_service.outages import as_outage

PROBLEM_BASE = "https://one-seal.example/problems/"
log = logging.getLogger(__name__)


def problem(status: int, slug: str, title: str, detail: str, **extra: object) -> JSONResponse:
    """An RFC 9457 problem response."""
    body: dict[str, object] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(SealServiceError)
    async def _domain(_: Request, exc: SealServiceError) -> JSONResponse:
        if exc.status >= 500:
            log.error("service error: %s", exc.detail)
        response = problem(exc.status, exc.slug, exc.title, exc.detail, field=exc.field)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is None and exc.status == 503:
            retry_after = 2  # every 503 is transient here: say when to come back (RFC 9110 10.2.3)
        if retry_after is not None:
            response.headers["Retry-After"] = str(int(retry_after))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                # A body that is not JSON at all has its character offset as location: the field is the body.
                "field": "body"
                if e.get("type") == "json_invalid"
                else ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")),
                "message": e.get("msg"),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        return problem(422, "invalid-input", "Invalid input", f"{first['field']}: {first['message']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Upload too large"}
        title = titles.get(exc.status_code, "Request refused")
        return problem(exc.status_code, f"http-{exc.status_code}", title, str(exc.detail))

    async def _outage_or_internal(request: Request, exc: Exception) -> JSONResponse:
        outage = as_outage(exc)
        if outage is None:
            return await _unexpected(request, exc)
        return await _domain(request, outage)  # logged there, without a traceback

    # The database or the disk failing (seal_service.outages): a 503 with Retry-After, not a 500.
    app.add_exception_handler(SQLAlchemyError, _outage_or_internal)
    app.add_exception_handler(OSError, _outage_or_internal)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "internal", "Internal error", "an unexpected error occurred; it has been logged")
