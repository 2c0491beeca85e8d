"""Errors raised by the answering components, with a machine-readable reason for the REST layer."""

from __future__ import annotations


class GeneratorError(RuntimeError):
    """A generator could not produce a reply.

    :param message: a human-readable explanation naming the server or model.
    :param reason: one of ``"timeout"``, ``"connection"``, ``"http_status"``, ``"bad_json"``, ``"config"``,
        ``"model"``; lets callers map the failure (e.g. to HTTP 504 for a timeout) without parsing text.
    :param status: the HTTP status code of the failing response, when there was one.
    """

    def __init__(self, message: str, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
