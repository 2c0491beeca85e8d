"""Server-sent events for ``/v1/ask`` with ``stream: true``, as LLM APIs stream their tokens.

The stream is ``event: retrieval`` (citations and constraint, sent before the first token, so a client
can show sources at once), ``event: token`` per generated piece, then ``event: done`` with the full
``AskResponse`` body, or ``event: error`` if the LLM fails midway. The first token is generated before
the response starts, so an LLM that is down gives a proper 502/503/504 status, not a 200 stream that
only says "error".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from chronorag.api import pipeline_bridge as bridge
from chronorag.api.errors import error_body
from chronorag.api.schemas import AskRequest
from chronorag.api.service import ChronoService
from chronorag.pipeline.errors import GeneratorError

SSE_MEDIA_TYPE = "text/event-stream"

# The schema of one event of the stream (OpenAPI describes an event stream by its events).
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["retrieval", "token", "done", "error"]},
        "data": {
            "type": "string",
            "description": "JSON: retrieval {citations, constraint}; token {token}; done: the AskResponse; "
            "error: the ErrorResponse plus its HTTP status.",
        },
    },
}


def sse_event(event: str, data: dict[str, Any]) -> str:
    """One server-sent event.

    :param event: the event name.
    :param data: its JSON payload (one line: JSON escapes newlines).
    :returns: the event text, ending in the blank line that closes it.
    """
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _events(stream: bridge.AnswerStream) -> Iterator[str]:
    yield sse_event("retrieval", stream.head)
    pieces: list[str] = []
    try:
        for token in stream.tokens:
            pieces.append(token)
            yield sse_event("token", {"token": token})
    except GeneratorError as exc:
        status, message = bridge.generator_failure(exc)
        yield sse_event("error", {**error_body(status, message, "llm_unavailable"), "status": status})
        return
    yield sse_event("done", stream.finish("".join(pieces)))


async def stream_answer(service: ChronoService, body: AskRequest) -> StreamingResponse:
    """Retrieve, start generating, and stream the rest as server-sent events.

    :param service: the app's service.
    :param body: the ask request.
    :returns: the streaming response.
    :raises ApiError: 503 when not ready; 502/503/504 when the LLM fails before its first token.
    """
    stream = await run_in_threadpool(bridge.start_stream, service, body)
    # Sync iterator: Starlette pulls it in the thread pool, so generation never blocks the event loop.
    return StreamingResponse(
        _events(stream),
        media_type=SSE_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
