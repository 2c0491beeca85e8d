"""Request limits: body size (checked before any parsing) and the per-setting ceilings on fields.

The body-size middleware is plain ASGI so that an over-limit body is refused before FastAPI reads it
into memory: a declared ``Content-Length`` over the limit is answered at once, and a chunked body is
buffered only up to the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronorag.api.errors import ApiError, error_body
from chronorag.api.settings import ApiSettings


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, before the app parses them.

    :param app: the wrapped ASGI app.
    :param max_bytes: the largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        if declared is not None:
            # A declared length within the limit: the server itself stops reading at that length.
            await self.app(scope, receive, send)
            return
        messages = await self._buffer(receive)
        if messages is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _buffer(self, receive: Receive) -> list[Message] | None:
        """Read a chunked body, or return ``None`` as soon as it exceeds the limit."""
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

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(413, f"request body is larger than the limit of {self.max_bytes} bytes")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
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
