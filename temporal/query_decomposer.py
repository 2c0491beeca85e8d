"""The Haystack component that decomposes a query into its main content and time constraint."""

from __future__ import annotations

from datetime import date
from typing import Any

from haystack import component, default_from_dict, default_to_dict

from chronorag.temporal.decompose import decompose
from chronorag.temporal.model import Relation, TemporalConstraint


@component
class QueryDecomposer:
    """Splits a query into its main content and a :class:`TemporalConstraint` (MRAG's question processing).

    Rule-based and fast (no model): the constraint holds the relation (before, after, in, between, as_of,
    since, until, on, around, none), the normalised interval, the ordinal and the reference time.

    Usage example:
    ```python
    decomposer = QueryDecomposer(default_as_of="2022-06-15")
    result = decomposer.run(query="Who coached Chelsea before 2011?")
    result["content"]  # "Who coached Chelsea?"
    result["constraint"].relation  # Relation.BEFORE
    ```
    """

    def __init__(self, default_as_of: str | date | None = None, decompose: bool = True) -> None:
        """Create the component.

        :param default_as_of: the reference time used when ``run`` gets no ``as_of`` (ISO date or any
            format :func:`chronorag.temporal.dating.parse_publication_date` reads); ``None`` means today.
        :param decompose: ``False`` keeps the whole question as the content with no time relation, only
            the reference time (the evaluation's no-decomposition ablation).
        :raises ValueError: when ``default_as_of`` is not a date.
        """
        self.decompose = decompose
        if isinstance(default_as_of, date):
            default_as_of = default_as_of.isoformat()  # keep the serialised form a plain string
        self.default_as_of = default_as_of
        self._default_reference = self._parse(default_as_of) if default_as_of else None

    @staticmethod
    def _parse(value: str) -> date:
        from chronorag.temporal.dating import parse_publication_date

        parsed = parse_publication_date(value)
        if parsed is None:
            raise ValueError(f"as_of {value!r} is not a date (use YYYY-MM-DD)")
        return parsed

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component.

        :returns: the dictionary form.
        """
        return default_to_dict(self, default_as_of=self.default_as_of, decompose=self.decompose)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryDecomposer:
        """Deserialise the component.

        :param data: the dictionary form.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(constraint=TemporalConstraint, content=str)
    def run(self, query: str, as_of: str | None = None) -> dict[str, Any]:
        """Decompose one query.

        :param query: the question.
        :param as_of: the reference time for this query (overrides ``default_as_of``); ``None`` uses the
            default, then today.
        :returns: ``constraint``: the :class:`TemporalConstraint`; ``content``: the question without its time
            phrase, for semantic retrieval and ranking.
        :raises EmptyQuestionError: when the query is empty.
        :raises QuestionTooLongError: when the query is over 10,000 characters.
        :raises ValueError: when ``as_of`` is not a date.
        """
        reference = self._parse(as_of) if as_of else self._default_reference
        constraint = decompose(query, as_of=reference)
        if not self.decompose:
            constraint = TemporalConstraint(
                constraint.question, constraint.question, Relation.NONE, None, None, constraint.reference_time
            )
        return {"constraint": constraint, "content": constraint.content}
