"""Time for chronorag: intervals, extraction, document dating, question decomposition.

Importing this package is light: spaCy, dateparser and Haystack load only when a function or
component that needs them is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chronorag.temporal.dating import infer_document_date, parse_publication_date
from chronorag.temporal.decompose import decompose
from chronorag.temporal.errors import EmptyQuestionError, QuestionTooLongError
from chronorag.temporal.extractor import extract_mentions
from chronorag.temporal.model import (
    EventAnchor,
    Granularity,
    Interval,
    Ordinal,
    Relation,
    TemporalConstraint,
    TimeMention,
)

if TYPE_CHECKING:
    from chronorag.temporal.query_decomposer import QueryDecomposer

__all__ = [
    "EmptyQuestionError",
    "EventAnchor",
    "Granularity",
    "Interval",
    "Ordinal",
    "QueryDecomposer",
    "QuestionTooLongError",
    "Relation",
    "TemporalConstraint",
    "TimeMention",
    "decompose",
    "extract_mentions",
    "infer_document_date",
    "parse_publication_date",
]


def __getattr__(name: str) -> Any:
    # The component imports Haystack, which takes a second; load it only when asked for.
    if name == "QueryDecomposer":
        from chronorag.temporal.query_decomposer import QueryDecomposer

        return QueryDecomposer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
