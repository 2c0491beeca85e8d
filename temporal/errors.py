"""Errors raised by the temporal package on bad input."""

from __future__ import annotations

MAX_QUESTION_CHARS = 10_000


class EmptyQuestionError(ValueError):
    """Raised when a question is empty or only whitespace."""


class QuestionTooLongError(ValueError):
    """Raised when a question is longer than ``MAX_QUESTION_CHARS`` characters."""
