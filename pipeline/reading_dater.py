"""``ReadingDater``: the reader's answer dated by the timeline where the timeline did not list it."""

from __future__ import annotations

from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.pipeline.answer_timeline import LOCATED, AnswerTimeline, candidate_dict
from chronorag.pipeline.reader_arbiter import matching_candidate, short_answer
from chronorag.temporal.model import TemporalConstraint


@component
class ReadingDater:
    """
    Adds the reader's answer to the timeline's candidates when it is none of them but a passage writes it.

    The timeline's candidates are the spans spaCy types as answers; it misses some ("actress Tuesday Weld",
    whose first name is tagged a date). A reading that names no candidate used to be overruled unheard.
    Here the timeline dates it instead, as it dates its own candidates: the passage's sentence that writes
    it, the interval it holds and how well that fits the asked time (`candidates_of(also=...)`). The best
    place the passages write it is appended as a candidate marked `located`, for `ReaderArbiter` to rule
    on like any other. A reading no passage writes is left unmatched (the arbiter overrules it).

    ### Usage example

    ```python
    dater = ReadingDater()
    candidates = dater.run(query=question, documents=ranked, replies=["Tuesday Weld"],
                           candidates=timeline["candidates"], constraint=constraint)["candidates"]
    ```
    """

    def __init__(self, max_passages: int = 5, spacy_model: str = "default", min_overlap: float = 0.5) -> None:
        """
        Create the component; spaCy loads in `warm_up`.

        :param max_passages: how many top passages are searched (the timeline's own number).
        :param spacy_model: `"default"` or a spaCy package name (as the timeline's).
        :param min_overlap: the least token F1 between the reading and a candidate for them to be the same
            answer (as the arbiter's).
        """
        self.max_passages = max_passages
        self.spacy_model = spacy_model
        self.min_overlap = min_overlap
        self._timeline = AnswerTimeline(max_passages=max_passages, spacy_model=spacy_model)

    def warm_up(self) -> None:
        """Load spaCy and the candidate model (shared with the timeline's, by model)."""
        self._timeline.warm_up()

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self, max_passages=self.max_passages, spacy_model=self.spacy_model, min_overlap=self.min_overlap
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReadingDater:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(candidates=list[dict[str, Any]])
    def run(
        self,
        query: str,
        documents: list[Document],
        replies: list[str] | None = None,
        candidates: list[dict[str, Any]] | None = None,
        constraint: TemporalConstraint | None = None,
        abstention: dict[str, Any] | None = None,
        choices: list[str] | None = None,
    ) -> dict[str, Any]:
        """
        The timeline's candidates, with the reading appended when it is none of them and a passage writes it.

        :param query: the question.
        :param documents: the ranked passages, best first (the first `max_passages` are searched).
        :param replies: the reader's replies (the first is read).
        :param candidates: the timeline's candidates, best first.
        :param constraint: the question's decomposition.
        :param abstention: the timeline's; when it abstained nothing is added (the arbiter lets the
            abstention stand, or settles a dispute between the candidates it names).
        :param choices: the question's options: the reply names an option, nothing is added.
        :returns: `candidates` (the timeline's first, their order kept; the located reading last, with
            `located: True`).
        """
        candidates = list(candidates or [])
        reader = short_answer(replies[0]) if replies else ""
        if (
            not reader
            or not candidates
            or choices
            or (abstention or {}).get("abstained")
            or matching_candidate(reader, candidates, self.min_overlap) is not None
        ):
            return {"candidates": candidates}
        self.warm_up()
        read = [doc for doc in documents[: self.max_passages] if (doc.content or "").strip()]
        entries = self._timeline.candidates_of(query, read, constraint, also=reader)
        located = [entry for entry in entries if entry.label == LOCATED]
        if not located:
            return {"candidates": candidates}
        best = max(located, key=lambda entry: (entry.time_fit, entry.score, -entry.passage))
        return {"candidates": [*candidates, {**candidate_dict(best), "located": True}]}
