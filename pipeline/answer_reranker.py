"""``AnswerFitReranker``: within one source, the passage that holds the answer for the asked time goes first.

The hybrid ranker scores a passage by its relevance and by how well the times it mentions fit the asked
time; a Wikipedia page's intro ("( 7 May 1939 - 14 February 2018 )") or a career summary mentions times
that fit almost any question, so the passage ranked first is often the right page but the wrong part of it.
The answer timeline reads finer: every candidate answer of the asked type with the interval it holds. When
none of the first passage's candidates holds for the asked time, and the timeline's best candidate among
the top passages comes from a later passage *of the same source* (same title), that passage goes first.

Relevance still decides which source comes first: a passage of another title, or an untitled one, is never
moved (on corpora of many topics, lifting another topic's passage by its time fit loses more than it wins:
TimeQA train passages mixed with other pages, and the TempRAGEval draft, both fell by 1-2 AR@1 points
without this guard). Tuned on TimeQA train over train + dev pages (982 questions: AR@1 66.5 -> 68.6 at 3
passages and a fit of 0.7; `benchmarks/results/answer_rerank.json`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.pipeline.answer_timeline import AnswerTimeline, best_per_answer
from chronorag.pipeline.timeline import TimelineEntry, asks_time
from chronorag.temporal.meta import source_title
from chronorag.temporal.model import TemporalConstraint

RERANK_META = "answer_rerank"  # the meta key that explains a move


@component
class AnswerFitReranker:
    """
    Moves the passage holding the answer for the asked time to the front, within the first passage's
    source.

    Runs the answer timeline over the top `passages`. When no candidate of the first passage fits the asked
    time by at least `min_fit`, and the timeline's best candidate is in a later passage with the first
    passage's (non-empty) title, that passage is put first; the others keep their order. The moved
    passage's `meta["answer_rerank"]` says why (`{from_rank, answer, time, fit, first_fit}`). Questions that
    ask no time, and a `passages` below 2, leave the order as it is.

    ### Usage example

    ```python
    reranker = AnswerFitReranker()
    result = reranker.run(query="Who coached Chelsea in 2010?", documents=ranked, constraint=constraint)
    result["documents"][0].meta.get("answer_rerank")
    ```
    """

    def __init__(self, passages: int = 3, min_fit: float = 0.7, spacy_model: str = "default") -> None:
        """
        Create the component; spaCy and the timeline's candidate model load in `warm_up`.

        :param passages: how many top passages the timeline reads (0 or 1: never reorder).
        :param min_fit: the time fit from which a candidate of the first passage counts as holding for the
            asked time (the first passage then stays first).
        :param spacy_model: `"default"` (`chronorag.models.get_spacy`'s model) or a spaCy package name.
        :raises ValueError: for a negative `passages` or a `min_fit` outside [0, 1].
        """
        if passages < 0:
            raise ValueError(f"passages must be >= 0, not {passages}")
        if not 0.0 <= min_fit <= 1.0:
            raise ValueError(f"min_fit must be within [0, 1], not {min_fit}")
        self.passages = passages
        self.min_fit = min_fit
        self.spacy_model = spacy_model
        self._timeline = AnswerTimeline(max_passages=max(passages, 1), spacy_model=spacy_model)

    def warm_up(self) -> None:
        """Load spaCy and the timeline's candidate model."""
        if self.passages >= 2:
            self._timeline.warm_up()

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self, passages=self.passages, min_fit=self.min_fit, spacy_model=self.spacy_model
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerFitReranker:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(
        self, query: str, documents: list[Document], constraint: TemporalConstraint | None = None
    ) -> dict[str, list[Document]]:
        """
        Reorder the ranked passages.

        :param query: the question.
        :param documents: the ranked passages, best first.
        :param constraint: the question's decomposition (nothing moves when it asks no time).
        :returns: `documents`: the same passages, the one holding the answer for the asked time first
            when it is of the first passage's source.
        """
        head = [doc for doc in documents[: self.passages] if (doc.content or "").strip()]
        if self.passages < 2 or len(head) < 2 or not asks_time(constraint):
            return {"documents": list(documents)}
        first_title = source_title(head[0].meta)
        if not first_title or all(source_title(doc.meta) != first_title for doc in head[1:]):
            return {"documents": list(documents)}  # only a passage of the first's source may move: no parse
        self.warm_up()
        entries = self._timeline.candidates_of(query, head, constraint)
        moved = self._passage_to_move(entries, head)
        if moved is None:
            return {"documents": list(documents)}
        rank, entry, first_fit = moved
        doc = head[rank - 1]
        explained = replace(
            doc,
            meta={
                **(doc.meta or {}),
                RERANK_META: {
                    "from_rank": documents.index(doc) + 1,
                    "answer": entry.answer,
                    "time": entry.to_dict()["time"],
                    "fit": round(entry.time_fit, 4),
                    "first_fit": round(first_fit, 4),
                },
            },
        )
        return {"documents": [explained] + [other for other in documents if other is not doc]}

    def _passage_to_move(
        self, entries: list[TimelineEntry], head: list[Document]
    ) -> tuple[int, TimelineEntry, float] | None:
        """The rank (in `head`) of the passage to put first, its best candidate and the first passage's best
        fit; `None` when the first passage holds an answer for the asked time or the best is elsewhere."""
        ranked = best_per_answer(entries)
        if not ranked:
            return None
        first_fit = max((entry.time_fit for entry in entries if entry.passage == 1), default=0.0)
        best = ranked[0]
        if first_fit >= self.min_fit or best.passage == 1:
            return None
        title = source_title(head[0].meta)
        if not title or source_title(head[best.passage - 1].meta) != title:
            return None
        return best.passage, best, first_fit
