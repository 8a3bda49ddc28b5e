"""API documentation served without internet: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so ``/docs`` is blank on a network without internet
access (many government networks). Here the same pages load their scripts and styles from the service itself:
the files ship in the ``fastapi-offline`` package (Swagger UI, ReDoc; MIT, see that package's licence).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

#: The asset files served under /docs/assets/, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}


def _asset_bytes(name: str) -> bytes:
    return files("fastapi_offline").joinpath("static", name).read_bytes()


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI with its assets from this service."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon.png",
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc with its script from this service (no web fonts fetched)."""
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url="/docs/assets/redoc.standalone.js",
        redoc_favicon_url="/docs/assets/favicon.png",
        with_google_fonts=False,
    )


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    """One of the documentation assets (cached for a day)."""
    if name not in ASSETS:
        raise HTTPException(404, f"no documentation asset {name!r}")
    return Response(_asset_bytes(name), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
