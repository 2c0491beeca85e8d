"""``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json`` that work on a host without internet access.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank on an air-gapped server. The
``fastapi-offline`` package ships both bundles (Swagger UI 5, which reads OpenAPI 3.1, and ReDoc 2);
they are served here under :data:`ASSETS_URL`, and Swagger UI's online validator badge is turned off, so
a page makes no request beyond this server. With reads protected, the pages and the schema need the
key like every read route; the assets are the public Swagger UI and ReDoc builds and stay open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from chronorag.api.security import require_read_key

ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# No request to validator.swagger.io: the badge would call it with the schema's URL.
SWAGGER_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def assets_folder() -> Path:
    """The folder of Swagger UI and ReDoc files that ``fastapi-offline`` installs.

    :returns: the folder (``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``,
        ``favicon.png``).
    :raises RuntimeError: naming the package when it is not installed.
    """
    try:
        import fastapi_offline
    except ImportError as exc:
        raise RuntimeError(
            "the API docs need the fastapi-offline package: pip install fastapi-offline"
        ) from exc
    return Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """Serve the OpenAPI schema, Swagger UI and ReDoc from local assets.

    :param app: an app built with ``docs_url``, ``redoc_url`` and ``openapi_url`` set to ``None``.
    """
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")
    guarded = [Depends(require_read_key)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guarded)
    async def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guarded)
    async def swagger_ui(request: Request) -> HTMLResponse:
        url = _local_urls(request)
        return get_swagger_ui_html(
            openapi_url=url("/openapi.json"),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=url(f"{ASSETS_URL}/swagger-ui-bundle.js"),
            swagger_css_url=url(f"{ASSETS_URL}/swagger-ui.css"),
            swagger_favicon_url=url(f"{ASSETS_URL}/favicon.png"),
            oauth2_redirect_url=url(OAUTH2_REDIRECT_URL),
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, dependencies=guarded)
    async def redoc(request: Request) -> HTMLResponse:
        url = _local_urls(request)
        return get_redoc_html(
            openapi_url=url("/openapi.json"),
            title=f"{app.title} - ReDoc",
            redoc_js_url=url(f"{ASSETS_URL}/redoc.standalone.js"),
            redoc_favicon_url=url(f"{ASSETS_URL}/favicon.png"),
            with_google_fonts=False,
        )


def _local_urls(request: Request) -> Callable[[str], str]:
    """Paths on this server, behind the proxy prefix (``root_path``) the app is mounted under, if any."""
    root = request.scope.get("root_path", "")
    return lambda path: f"{root}{path}"
