"""Request limits: body size and read time, requests in flight, and the per-setting ceilings on fields.

The middlewares are plain ASGI so that a request is refused before FastAPI reads or parses anything:

* ``RequestBodyMiddleware`` reads the whole body before the app runs: a declared ``Content-Length`` over
  the limit is answered 413 at once, a chunked body is buffered only up to the limit, and a body that
  has not fully arrived ``body_timeout_s`` after the headers (a slow-loris upload) is answered 408;
* ``ConcurrencyLimitMiddleware`` answers 503 ``overloaded`` with ``Retry-After`` when the worker already
  serves ``max_concurrent_requests`` requests (health, readiness and metrics are exempt).

The request head's own deadline is the HTTP protocol's (``chronorag.api.protocol``).
"""

from __future__ import annotations

import asyncio
import json

from haystack.errors import FilterError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronorag.api.errors import ApiError, error_body
from chronorag.api.schemas import RetrieveRequest
from chronorag.api.settings import ApiSettings
from chronorag.indexers.validation import check_filters, text_problem

# Cheap operator routes that must answer even when the worker is saturated.
EXEMPT_FROM_CONCURRENCY_LIMIT = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestBodyMiddleware:
    """Read the whole request body before the app: 413 over ``max_bytes``, 408 when it is too slow.

    :param app: the wrapped ASGI app.
    :param max_bytes: the largest body accepted.
    :param timeout_s: how long the whole body may take to arrive after the headers.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _answer(send, 413, f"request body is larger than the limit of {self.max_bytes} bytes")
            return
        try:
            messages = await asyncio.wait_for(self._buffer(receive), self.timeout_s)
        except TimeoutError:
            await _answer(
                send, 408, f"the request body did not arrive within {self.timeout_s:g} s", "request_timeout"
            )
            return
        if messages is None:
            await _answer(send, 413, f"request body is larger than the limit of {self.max_bytes} bytes")
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _buffer(self, receive: Receive) -> list[Message] | None:
        """Read the body, or return ``None`` as soon as it exceeds the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages


class ConcurrencyLimitMiddleware:
    """Answer 503 ``overloaded`` (with ``Retry-After``) past ``max_requests`` requests in flight.

    :param app: the wrapped ASGI app.
    :param max_requests: requests served at once.
    """

    def __init__(self, app: ASGIApp, max_requests: int) -> None:
        self.app = app
        self.max_requests = max_requests
        self.active = 0  # one event loop per worker: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope.get("path") in EXEMPT_FROM_CONCURRENCY_LIMIT:
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_requests:
            await _answer(
                send,
                503,
                f"the server is serving its limit of {self.max_requests} requests at once; retry shortly",
                "overloaded",
                close=False,
                headers=[(b"retry-after", b"1")],
            )
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


async def _answer(
    send: Send,
    status: int,
    message: str,
    error: str | None = None,
    close: bool = True,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(error_body(status, message, error)).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        # The unread rest of the request would otherwise be parsed as the next request.
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        # After the buffered body, fall through to the real channel (it carries http.disconnect).
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def check_question(settings: ApiSettings, question: str, top_k: int | None = None) -> None:
    """Apply the server's (possibly lower than the schema's) ceilings to a question request.

    :param settings: the server settings.
    :param question: the question.
    :param top_k: the requested ``top_k``, if any.
    :raises ApiError: 422 naming the field and its limit.
    """
    if not question.strip():
        raise ApiError(422, "body.question: the question is empty", "invalid_request")
    problem = text_problem(question, "the question")
    if problem is not None:
        raise ApiError(422, f"body.question: {problem}", "invalid_request")
    if len(question) > settings.max_question_chars:
        raise ApiError(
            422,
            f"body.question: {len(question)} characters is over this server's limit of "
            f"{settings.max_question_chars}",
            "invalid_request",
        )
    if top_k is not None and top_k > settings.max_top_k:
        raise ApiError(
            422, f"body.top_k: {top_k} is over this server's limit of {settings.max_top_k}", "invalid_request"
        )


def check_batch(settings: ApiSettings, size: int) -> None:
    """Apply the server's batch-size ceiling.

    :param settings: the server settings.
    :param size: documents in the request.
    :raises ApiError: 413 when the batch is larger than allowed.
    """
    if size > settings.max_batch_documents:
        raise ApiError(
            413,
            f"body.documents: {size} documents is over this server's limit of {settings.max_batch_documents} "
            "per request; split the batch",
        )


def check_request_filters(body: RetrieveRequest) -> None:
    """Refuse filters the store cannot apply before any work is done (the store checks them again, and
    answers a comparison its stored values cannot take part in with the same error).

    :param body: a retrieve or ask request.
    :raises ApiError: 400 ``invalid_filters`` naming the field and operator, and why.
    """
    if body.filters is None:
        return
    try:
        check_filters(body.filters.model_dump())
    except FilterError as exc:
        raise ApiError(400, f"body.filters: {exc}", "invalid_filters") from exc
