"""The app factory: ``create_app(settings)`` builds the FastAPI application of one instance."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from seal_service import __version__
from seal_service.api import licence_page, observability, problems, protocols, public
from seal_service.api.limits import UploadLimit
from seal_service.instance import Instance
from seal_service.settings import Settings

#: Router modules of feature areas, included in this order.
ROUTER_MODULES: tuple[str, ...] = (
    "seal_service.api.licences",
    "seal_service.api.admin_keys",
    "seal_service.api.lifecycle",
    "seal_service.api.verify",
    "seal_service.api.licence_page",
    "seal_service.api.offline_docs",
    "seal_service.api.public_site",
    "seal_service.api.supervision",
    "seal_service.api.transparency",
    "seal_service.api.archive",
    "seal_service.api.gm",
)


def create_app(settings: Settings | None = None, *, instance: Instance | None = None) -> FastAPI:
    """Build the application; refuses unsafe settings (e.g. production with a development passphrase)."""
    settings = settings or (instance.settings if instance else Settings())
    settings.check_startup()
    # Answers cached QR pages (GET /v/{id}) ahead of FastAPI and every middleware: see licence_page.
    app = licence_page.AppWithLicencePages(
        title="One-seal service",
        docs_url=None,  # /docs and /redoc come from seal_service.api.offline_docs (no CDN)
        redoc_url=None,
        version=__version__,
        description=(
            "Electronic approval seals (行政审批专用章) applied to PDF licences as PAdES signatures, "
            "with the service's own RFC 3161 TSA, OCSP responder and CRLs."
        ),
    )
    app.state.instance = instance or Instance(settings)
    problems.install(app)
    observability.install(app)  # request ids, access log, metrics; /healthz, /readyz, /metrics
    app.add_middleware(
        UploadLimit,
        max_body=lambda: app.state.instance.settings.max_upload_bytes,
        paths=("/v1/licences", "/v1/verify", "/check"),
    )
    app.include_router(public.router)
    app.include_router(protocols.router)
    # Feature areas add their routers here, one line each (module with a ``router`` attribute).
    for module_name in ROUTER_MODULES:
        app.include_router(importlib.import_module(module_name).router)
    importlib.import_module("seal_service.api.transparency").install(app)  # the log's sequencer runs in serve
    return app
