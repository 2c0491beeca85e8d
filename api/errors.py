"""One JSON error shape for every failure, and no stack trace ever reaches a client.

Validation errors become 422 with the fields at fault, HTTP errors keep their status, and anything
unexpected is logged here with its trace and answered with a bare 500 JSON body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the routes raise on purpose: it carries the status, a code and a message for the client.

    :param status_code: the HTTP status.
    :param message: what went wrong, in words a client can act on.
    :param error: a stable machine-readable code; default derived from the status.
    :param headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self, status_code: int, message: str, error: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.error = error or _STATUS_CODES.get(status_code, "error")
        self.headers = headers


def error_body(
    status_code: int, message: str, error: str | None = None, details: list[Any] | None = None
) -> dict:
    """The JSON body of an error answer.

    :param status_code: the HTTP status, used for the default code.
    :param message: the human-readable message.
    :param error: the machine-readable code.
    :param details: per-field problems, for invalid input.
    :returns: a JSON-ready dict shaped like ``ErrorResponse``.
    """
    body: dict[str, Any] = {"error": error or _STATUS_CODES.get(status_code, "error"), "message": message}
    if details is not None:
        body["details"] = details
    return body


def error_response(
    status_code: int, message: str, error: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON error answer.

    :param status_code: the HTTP status.
    :param message: the message.
    :param error: the machine-readable code.
    :param headers: extra headers.
    :returns: the response.
    """
    return JSONResponse(error_body(status_code, message, error), status_code=status_code, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only loc/msg/type: pydantic's "input" and "ctx" may hold the (large, or non-JSON) offending value.
    details = []
    for item in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in item.get("loc", ())]
        details.append(
            {"loc": loc, "msg": str(item.get("msg", "invalid value")), "type": str(item.get("type", ""))}
        )
    return details


def _summary(details: list[dict[str, Any]]) -> str:
    parts = [f"{'.'.join(str(p) for p in d['loc']) or 'body'}: {d['msg']}" for d in details[:5]]
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return "; ".join(parts) + more if parts else "invalid request"


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = _validation_details(exc)
    return JSONResponse(error_body(422, _summary(details), "invalid_request", details), status_code=422)


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.status_code, exc.message, exc.error), exc.status_code, headers=exc.headers
    )


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse(error_body(exc.status_code, message), exc.status_code, headers=exc.headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The trace goes to the server log only; the client learns nothing about the internals.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body(500, "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on the app.

    :param app: the FastAPI app.
    """
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
