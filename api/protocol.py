"""uvicorn's h11 HTTP protocol with a deadline on reading each request's line and headers.

uvicorn times out idle keep-alive connections, but nothing bounds how long a client may take to send a
request head: a slow-loris client that sends a byte every few seconds holds its connection (and a slot
of ``limit_concurrency``) for ever. This protocol gives every head ``header_timeout_s`` seconds from its
first byte (from the connection's opening for the first request); a head still incomplete then is
answered ``408`` with the API's JSON error body and the connection is closed. A connection that sent
nothing at all is closed without an answer. Bodies are bounded by ``RequestBodyMiddleware`` (ASGI),
which sees them; the head never reaches the app, hence this layer.

The server always uses this protocol (h11), whether or not httptools is installed, so the deadline
holds everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from chronorag.api.errors import error_body

logger = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT_S = 10.0


def request_timeout_answer(message: str) -> bytes:
    """A complete ``408`` HTTP/1.1 answer with the JSON error body, closing the connection.

    :param message: what timed out.
    :returns: the bytes to write.
    """
    body = json.dumps(error_body(408, message, "request_timeout")).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedH11Protocol(H11Protocol):
    """``H11Protocol`` plus a per-request deadline on the head (``config.header_timeout_s``)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = float(getattr(config, "header_timeout_s", DEFAULT_HEADER_TIMEOUT_S))
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first head's clock when the connection opens (a silent connection times out too)."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Feed h11, then keep the clock running only while a head is incomplete."""
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self._arm()  # part of a head arrived; the clock started at its first byte keeps running
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._on_head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        pending, _ = self.conn.trailing_data
        if pending:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            logger.info("%s sent no complete request head in %.1f s: 408", client, self.header_timeout_s)
            self.transport.write(
                request_timeout_answer(
                    f"the request line and headers did not arrive within {self.header_timeout_s:g} s"
                )
            )
        self.transport.close()
