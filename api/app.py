"""The FastAPI app factory: routes, error handlers, limits, metrics and the lifespan.

Usage::

    from chronorag.api.app import create_app
    from chronorag.api.settings import ApiSettings

    app = create_app(None, "my_store", ApiSettings.from_env())   # then serve it with uvicorn

Middleware order (outermost first): metrics (so refused requests are counted too), then the limit on
requests in flight, then the request body's size and read time (so an oversized or stalled body is
refused before anything parses it), then FastAPI's routing.

``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json`` are served from assets installed with the
package (``chronorag.api.docs``): they work on a host with no internet access.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from chronorag import __version__
from chronorag.api.docs import install_docs
from chronorag.api.errors import install_error_handlers
from chronorag.api.limits import ConcurrencyLimitMiddleware, RequestBodyMiddleware
from chronorag.api.metrics import Metrics, MetricsMiddleware
from chronorag.api.routes import router
from chronorag.api.service import ChronoService
from chronorag.api.settings import ApiSettings
from chronorag.api.workers import WorkerGroup

logger = logging.getLogger(__name__)

DESCRIPTION = """
Temporal-aware question answering over a dated document store.

* **Reads** (`/v1/ask`, `/v1/retrieve`, `/v1/decompose`, `GET /v1/documents/{id}`) are open unless the
  server was started with reads protected; then they need the key like writes, and so do `/metrics`,
  `/docs` and `/openapi.json` (`/healthz` and a bare `/readyz` stay open for orchestrators).
* **Writes** (`POST /v1/documents`, `DELETE /v1/documents/{id}`) need `X-API-Key: <key>` or
  `Authorization: Bearer <key>` (the server's `CHRONORAG_API_KEY`).
* Every error is JSON: `{"error": code, "message": text, "details": [...]}`; no stack traces.
"""

TAGS = [
    {"name": "questions", "description": "Decompose, retrieve and answer time-sensitive questions."},
    {"name": "documents", "description": "Ingest, read and delete documents (writes need the API key)."},
    {"name": "service", "description": "Health, readiness and Prometheus metrics."},
]


def create_app(
    pipeline_path: str | None,
    store_path: str,
    settings: ApiSettings | None = None,
    metrics: Metrics | None = None,
    group: WorkerGroup | None = None,
) -> FastAPI:
    """Build the app; the pipeline loads in the background when the server starts (lifespan).

    :param pipeline_path: a pipeline YAML file, or ``None`` to build ``settings.preset`` over the store.
    :param store_path: the store folder.
    :param settings: server settings; default ``ApiSettings.from_env()`` (key from ``CHRONORAG_API_KEY``).
    :param metrics: a metrics registry to record into (a fresh one by default).
    :param group: the server's worker processes, when it runs several (``/readyz`` waits for all).
    :returns: the FastAPI app.
    """
    settings = settings or ApiSettings.from_env()
    service = ChronoService(store_path, pipeline_path, settings, group)
    registry = metrics or Metrics()
    app = FastAPI(
        title="chronorag",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan(service, registry),
        # Served by install_docs from local assets, behind the read key when reads are protected.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    # What a worker process needs to build the same app (``serve`` with several workers).
    app.state.create_args = {"pipeline_path": pipeline_path, "store_path": store_path, "settings": settings}
    app.state.metrics = registry
    registry.register_gauge(
        "chronorag_store_passages", "Passages (Haystack documents) in the store.", service.passages_in_store
    )
    registry.register_gauge(
        "chronorag_ready",
        "1 when the pipeline is loaded and warm in every worker.",
        lambda: 1.0 if service.server_state == "ready" else 0.0,
    )
    install_error_handlers(app)
    app.include_router(router)
    install_docs(app)
    if settings.protect_reads:
        _document_read_security(app)
    # Added last = outermost: the metrics middleware also sees requests the limits refuse.
    app.add_middleware(
        RequestBodyMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(ConcurrencyLimitMiddleware, max_requests=settings.max_concurrent_requests)
    app.add_middleware(MetricsMiddleware, metrics=registry)
    if not settings.writes_enabled:
        logger.warning(
            "no CHRONORAG_API_KEY: write routes are refused (use --insecure-open-writes to open them)"
        )
    return app


_ALWAYS_OPEN = frozenset({"/healthz", "/readyz"})


def _document_read_security(app: FastAPI) -> None:
    """State in the OpenAPI schema that read routes need the key too (only when reads are protected)."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default_openapi()
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                if path not in _ALWAYS_OPEN and "security" not in operation:
                    operation["security"] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _lifespan(service: ChronoService, metrics: Metrics):  # noqa: ANN202 - FastAPI's type is private
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Start-up returns at once so /healthz answers while the pipeline warms up in the background.
        service.start_loading()
        yield
        # Uvicorn runs this after in-flight requests finished (or the graceful timeout passed).
        await run_in_threadpool(service.close)
        metrics.process_exited()

    return lifespan
