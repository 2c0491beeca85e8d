"""API-key checks: writes always need the key; reads need it only when the server is started so.

The key may come as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Comparison is
constant-time (``hmac.compare_digest``) so response timing does not leak how much of a guess matched.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from chronorag.api.errors import ApiError
from chronorag.api.settings import API_KEY_ENV, ApiSettings

# auto_error=False: the dependencies below decide (and word) every refusal themselves.
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The server's CHRONORAG_API_KEY."
)
bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <CHRONORAG_API_KEY>`.")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="chronorag"'}


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one.

    :param given: the key the client sent, or ``None``.
    :param expected: the configured key.
    :returns: True when they are equal.
    """
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _presented_key(header_key: str | None, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if header_key:
        return header_key
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    return None


def _check_key(settings: ApiSettings, presented: str | None) -> None:
    if settings.api_key is None:
        return
    if presented is None:
        raise ApiError(
            401,
            "missing API key: send `X-API-Key: <key>` or `Authorization: Bearer <key>`",
            headers=_CHALLENGE,
        )
    if not key_matches(presented, settings.api_key):
        raise ApiError(401, "invalid API key", headers=_CHALLENGE)


def require_write_key(
    request: Request,
    header_key: str | None = Depends(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> None:
    """Dependency of write routes: refuse unless the key matches (or open writes were explicitly enabled).

    :param request: the request (for the app's settings).
    :param header_key: the ``X-API-Key`` header.
    :param credentials: the ``Authorization: Bearer`` credentials.
    :raises ApiError: 403 when writes are disabled, 401 when the key is missing or wrong.
    """
    settings: ApiSettings = request.app.state.settings
    if not settings.writes_enabled:
        raise ApiError(
            403,
            f"writes are disabled: no {API_KEY_ENV} is configured on the server "
            "(set it, or start the server with --insecure-open-writes)",
            "writes_disabled",
        )
    _check_key(settings, _presented_key(header_key, credentials))


def _presented_read_key(request: Request) -> str | None:
    presented = request.headers.get("x-api-key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not presented and scheme.lower() == "bearer" and token.strip():
        presented = token.strip()
    return presented or None


def require_read_key(request: Request) -> None:
    """Dependency of read routes (and of ``/metrics``, ``/docs``, ``/openapi.json``): check the key only
    when the server protects reads.

    It reads the headers itself instead of declaring the security schemes, so the OpenAPI schema of an
    open server does not claim that reads need a key; ``create_app`` adds the requirement to the schema
    when reads are protected.

    :param request: the request (for the app's settings and headers).
    :raises ApiError: 401 when reads are protected and the key is missing or wrong.
    """
    settings: ApiSettings = request.app.state.settings
    if not settings.protect_reads:
        return
    _check_key(settings, _presented_read_key(request))


def may_read_details(request: Request) -> bool:
    """Whether the caller may see more than a bare answer (``/readyz``'s details): reads are open, or the
    caller presented the key.

    :param request: the request.
    :returns: True when details may be shown.
    """
    settings: ApiSettings = request.app.state.settings
    if not settings.protect_reads or settings.api_key is None:
        return True
    return key_matches(_presented_read_key(request), settings.api_key)
