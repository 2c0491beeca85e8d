"""The routes: thin handlers that check limits and keys, then call the pipeline or the store.

Pipeline and store calls are blocking (torch, FAISS, SQLite), so they run in the server's thread pool
(``run_in_threadpool``): many reads proceed at once while the event loop keeps accepting requests.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from chronorag.api import pipeline_bridge as bridge
from chronorag.api.documents import PASSAGE_META_KEYS, stored_document
from chronorag.api.errors import ApiError
from chronorag.api.limits import check_batch, check_question, check_request_filters
from chronorag.api.metrics import Metrics
from chronorag.api.schemas import (
    AskRequest,
    AskResponse,
    ConstraintOut,
    DecomposeRequest,
    DeleteResponse,
    DocumentOut,
    ErrorResponse,
    HealthResponse,
    IngestRequest,
    IngestResponse,
    ReadyResponse,
    RetrieveRequest,
    RetrieveResponse,
    StoredPassage,
)
from chronorag.api.security import may_read_details, require_read_key, require_write_key
from chronorag.api.service import ChronoService
from chronorag.api.streaming import SSE_EVENT_SCHEMA, SSE_MEDIA_TYPE, stream_answer

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "A body that cannot be read (not UTF-8 JSON), or bad filters.",
    },
    401: {"model": ErrorResponse, "description": "Missing or wrong API key."},
    413: {"model": ErrorResponse, "description": "Request body over the size limit."},
    422: {"model": ErrorResponse, "description": "Invalid input; `details` names the fields."},
    500: {"model": ErrorResponse, "description": "Unexpected server error (no trace is returned)."},
}
_NOT_READY = {503: {"model": ErrorResponse, "description": "The pipeline is loading, failed, or stopping."}}
_LLM_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "A body that cannot be read (not UTF-8 JSON), or bad filters.",
    },
    502: {
        "model": ErrorResponse,
        "description": "The LLM backend answered with an error (use /v1/retrieve).",
    },
    503: {"model": ErrorResponse, "description": "Not ready, or the LLM backend is unreachable."},
    504: {"model": ErrorResponse, "description": "The LLM backend timed out."},
}


def _service(request: Request) -> ChronoService:
    return request.app.state.service


# --- service -------------------------------------------------------------------------------------
@router.get("/healthz", response_model=HealthResponse, tags=["service"], summary="Liveness")
async def healthz() -> HealthResponse:
    """The process is up and answering (whether or not the pipeline has loaded)."""
    return HealthResponse()


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    tags=["service"],
    summary="Readiness",
    responses={503: {"model": ReadyResponse, "description": "Not ready yet, failed, or stopping."}},
)
async def readyz(request: Request, response: Response) -> ReadyResponse:
    """True once the pipeline is loaded and warmed up in every worker; 503 until then (load balancers key
    on the status). Without the key on a server that protects reads, only `ready` and `status`."""
    service = _service(request)
    status = service.server_state
    ready = status == "ready"
    if not ready:
        response.status_code = 503
    if not may_read_details(request):
        return ReadyResponse(ready=ready, status=status)
    count = await run_in_threadpool(service.passages_in_store) if service.state == "ready" else None
    group = service.group
    return ReadyResponse(
        ready=ready,
        status=status,
        error=service.error,
        passages_in_store=count,
        worker=os.getpid(),
        workers=group.size if group else 1,
        workers_ready=(group.ready_count() if group else int(service.state == "ready")),
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    tags=["service"],
    summary="Prometheus metrics",
    dependencies=[Depends(require_read_key)],
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text (or OpenMetrics) exposition."},
        401: {"model": ErrorResponse, "description": "Reads are protected and the key is missing or wrong."},
    },
)
async def metrics(request: Request) -> Response:
    """Request counts and latency histograms per route, in-flight requests, passages in the store."""
    registry: Metrics = request.app.state.metrics
    body, content_type = await run_in_threadpool(registry.render, request.headers.get("accept"))
    return Response(body, media_type=content_type)


# --- questions -----------------------------------------------------------------------------------
@router.post(
    "/v1/decompose",
    response_model=ConstraintOut,
    tags=["questions"],
    summary="Decompose a question",
    dependencies=[Depends(require_read_key)],
    responses=_ERRORS,
)
async def decompose(body: DecomposeRequest, request: Request) -> dict[str, Any]:
    """Split a question into its main content and its time constraint (relation, interval, ordinal)."""
    check_question(_service(request).settings, body.question)
    return await run_in_threadpool(bridge.decompose, body.question, body.as_of)


@router.post(
    "/v1/retrieve",
    response_model=RetrieveResponse,
    tags=["questions"],
    summary="Retrieve and rank passages (no LLM)",
    dependencies=[Depends(require_read_key)],
    responses={
        **_ERRORS,
        **_NOT_READY,
    },
)
async def retrieve(body: RetrieveRequest, request: Request) -> dict[str, Any]:
    """The passages the answer would rest on, ranked by semantic and temporal fit, with timings."""
    service = _service(request)
    check_question(service.settings, body.question, body.top_k)
    check_request_filters(body)
    return await run_in_threadpool(bridge.retrieve, service, body)


@router.post(
    "/v1/ask",
    response_model=AskResponse,
    tags=["questions"],
    summary="Answer a question",
    dependencies=[Depends(require_read_key)],
    responses={
        200: {
            "description": "The answer as JSON, or with `stream: true` a server-sent event stream: "
            "`retrieval` (citations and constraint), `token` events, then `done` (the full answer) "
            "or `error`.",
            "content": {SSE_MEDIA_TYPE: {"schema": SSE_EVENT_SCHEMA}},
        },
        **_ERRORS,
        **_LLM_ERRORS,
    },
)
async def ask(body: AskRequest, request: Request) -> Any:
    """Retrieve, rank and answer; ``stream: true`` sends tokens as they are generated (SSE)."""
    service = _service(request)
    check_question(service.settings, body.question, body.top_k)
    check_request_filters(body)
    if body.stream:
        return await stream_answer(service, body)
    return await run_in_threadpool(bridge.ask, service, body)


# --- documents -----------------------------------------------------------------------------------
@router.post(
    "/v1/documents",
    response_model=IngestResponse,
    tags=["documents"],
    summary="Ingest a batch of documents",
    dependencies=[Depends(require_write_key)],
    responses={**_ERRORS, **_NOT_READY, 403: {"model": ErrorResponse, "description": "Writes are disabled."}},
)
async def ingest(body: IngestRequest, request: Request) -> IngestResponse:
    """Split, date, embed and store documents in one transaction; bad documents are reported, not fatal."""
    service = _service(request)
    check_batch(service.settings, len(body.documents))
    service.require_ready()
    result = await run_in_threadpool(service.writer.write, body.documents, service.settings)
    metrics: Metrics = request.app.state.metrics
    metrics.count_ingested(len(result.written), len(result.rejected))
    return IngestResponse(
        written=result.written,
        rejected=result.rejected,
        passages_written=result.passages_written,
        passages_in_store=result.passages_in_store,
    )


@router.get(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentOut,
    tags=["documents"],
    summary="Get a stored document",
    dependencies=[Depends(require_read_key)],
    responses={**_ERRORS, **_NOT_READY, 404: {"model": ErrorResponse, "description": "No such document."}},
)
async def get_document(doc_id: str, request: Request) -> DocumentOut:
    """A stored document as its passages (ids with `/` or `#` must be percent-encoded)."""
    passages = await run_in_threadpool(_read_document, _service(request), doc_id)
    if not passages:
        raise ApiError(404, f"no document with id {doc_id!r}")
    return _document_out(doc_id, passages)


@router.delete(
    "/v1/documents/{doc_id:path}",
    response_model=DeleteResponse,
    tags=["documents"],
    summary="Delete a stored document",
    dependencies=[Depends(require_write_key)],
    responses={
        **_ERRORS,
        **_NOT_READY,
        403: {"model": ErrorResponse, "description": "Writes are disabled."},
        404: {"model": ErrorResponse, "description": "No such document."},
    },
)
async def delete_document(doc_id: str, request: Request) -> DeleteResponse:
    """Delete every passage of a document, in one transaction."""
    service = _service(request)
    service.require_ready()
    deleted = await run_in_threadpool(service.writer.delete, doc_id)
    if deleted == 0:
        raise ApiError(404, f"no document with id {doc_id!r}")
    total = await run_in_threadpool(service.passages_in_store)
    return DeleteResponse(id=doc_id, deleted_passages=deleted, passages_in_store=total or 0)


def _read_document(service: ChronoService, doc_id: str) -> list[Any]:
    service.require_ready()
    return stored_document(service.store, doc_id)


def _document_out(doc_id: str, passages: list[Any]) -> DocumentOut:
    first = passages[0].meta or {}
    own_meta = {k: v for k, v in first.items() if k not in PASSAGE_META_KEYS}
    return DocumentOut(
        id=doc_id,
        title=first.get("title") or "",
        date=first.get("date"),
        date_source=first.get("date_source"),
        meta=own_meta,
        passages=[
            StoredPassage(
                id=p.id,
                passage_index=(p.meta or {}).get("passage_index"),
                content=p.content or "",
                time_spans=(p.meta or {}).get("time_spans") or [],
            )
            for p in passages
        ],
    )
