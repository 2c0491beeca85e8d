"""``ChronoAnswerBuilder``: the answer object of ``ask`` and of REST ``/v1/ask``."""

from __future__ import annotations

import re
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.pipeline.evidence import format_interval, matched_sentence, normalize_answer, unsupported_words
from chronorag.pipeline.extractive_answerer import NO_ANSWER
from chronorag.temporal.model import TemporalConstraint

_ANSWER_PREFIX = re.compile(r"^\s*(the\s+)?(final\s+)?answer\s*(is)?\s*[:\-]\s*", re.IGNORECASE)
# A candidate whose sentence lies inside the asked time scores 1; one that does not overlap it scores 0.
_FITS, _MISFITS = 0.99, 0.5


@component
class ChronoAnswerBuilder:
    """
    Assembles the answer: the cleaned reply, the cited passages (id, title, date, snippet and scores,
    numbered as in the prompt) and the question's decomposition.

    Temporal self-consistency: when two cited passages give different candidate answers for different
    times, the answer says which one holds for the asked time and why, e.g. "Carlo Ancelotti (per
    passage [1], 2009–2011, which covers 2010; passage [2] describes 2012–2014: José Mourinho)".

    ### Usage example

    ```python
    builder = ChronoAnswerBuilder()
    result = builder.run(query=q, documents=ranked, replies=["Carlo Ancelotti."], constraint=constraint)
    result["answer"]["answer"], result["answer"]["citations"][0]["id"]
    ```
    """

    def __init__(
        self,
        snippet_chars: int = 240,
        max_answer_chars: int = 400,
        explain_conflicts: bool = True,
        max_unsupported: float = 0.25,
    ) -> None:
        """
        Create the builder.

        :param snippet_chars: the longest citation snippet.
        :param max_answer_chars: replies are cut (at a sentence end when possible) to this length.
        :param explain_conflicts: add the temporal self-consistency note when passages disagree.
        :param max_unsupported: the largest share of a reply's content words that the question and the
            cited passages may lack; a reply with more is taken as invented and replaced by the
            extractor's answer with its passage and time (small local LLMs embroider). 1.0 turns the
            check off.
        """
        self.snippet_chars = snippet_chars
        self.max_answer_chars = max_answer_chars
        self.explain_conflicts = explain_conflicts
        self.max_unsupported = max_unsupported

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self,
            snippet_chars=self.snippet_chars,
            max_answer_chars=self.max_answer_chars,
            explain_conflicts=self.explain_conflicts,
            max_unsupported=self.max_unsupported,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChronoAnswerBuilder:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(answer=dict[str, Any])
    def run(
        self,
        query: str,
        documents: list[Document],
        replies: list[str] | None = None,
        constraint: TemporalConstraint | None = None,
        candidates: list[dict[str, Any]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """
        Build the answer object.

        :param query: the question.
        :param documents: the ranked passages the answer rests on, best first.
        :param replies: the generator's replies (the first is used); `None` or empty falls back to the best
            candidate.
        :param constraint: the question's decomposition.
        :param candidates: the `ExtractiveAnswerer`'s candidates, for the self-consistency note.
        :returns: `answer`: `{answer, citations: [{id, title, date, snippet, score, semantic_score,
            temporal_score}], constraint}`.
        """
        candidates = candidates or []
        text = self._clean(replies[0]) if replies else ""
        if text and candidates and not self._grounded(text, query, documents):
            text = _extracted_answer(candidates[0])
        if not text:
            text = candidates[0]["answer"] if candidates else NO_ANSWER
        note = self._conflict_note(candidates, constraint) if self.explain_conflicts else None
        if note:
            best, why = note
            # The reason follows the answer when the reply names it; otherwise the holding answer is stated.
            text = (
                f"{text} {why}"
                if normalize_answer(best) in normalize_answer(text)
                else f"{text}\n{best} {why}"
            )
        return {
            "answer": {
                "answer": text,
                "citations": [self._citation(doc) for doc in documents],
                "constraint": constraint.to_dict() if constraint else None,
            }
        }

    def _grounded(self, text: str, query: str, documents: list[Document]) -> bool:
        titles = [str((doc.meta or {}).get("title") or "") for doc in documents]
        evidence = [query, *titles, *(doc.content or "" for doc in documents)]
        unsupported, checked = unsupported_words(text, evidence)
        return not checked or len(unsupported) / checked <= self.max_unsupported

    def _clean(self, reply: str) -> str:
        # The first non-empty line is the answer; small models add "Explanation: ..." lines after it.
        lines = [line.strip() for line in (reply or "").splitlines() if line.strip()]
        text = _ANSWER_PREFIX.sub("", " ".join(lines[0].split())) if lines else ""
        if len(text) <= self.max_answer_chars:
            return text
        cut = text[: self.max_answer_chars]
        end = cut.rfind(". ")
        return cut[: end + 1] if end > self.max_answer_chars // 3 else cut.rsplit(" ", 1)[0] + " ..."

    def _citation(self, doc: Document) -> dict[str, Any]:
        meta = doc.meta or {}
        return {
            "id": doc.id,
            "title": meta.get("title") or "",
            "date": meta.get("date"),
            "snippet": self._snippet(doc),
            "score": _float(doc.score),
            "semantic_score": _float(meta.get("score_semantic")),
            "temporal_score": _float(meta.get("score_temporal")),
            # For undated passages (encyclopedia text) the span the ranker matched is the evidence's date.
            "matched_span": _matched_span(meta.get("matched_span")),
        }

    def _snippet(self, doc: Document) -> str:
        """The sentence the ranker matched (where the dated evidence is), else the passage's start."""
        meta = doc.meta or {}
        text = " ".join((matched_sentence(doc) or meta.get("summary") or doc.content or "").split())
        if len(text) <= self.snippet_chars:
            return text
        return text[: self.snippet_chars].rsplit(" ", 1)[0] + " ..."

    @staticmethod
    def _conflict_note(
        candidates: list[dict[str, Any]], constraint: TemporalConstraint | None
    ) -> tuple[str, str] | None:
        """The answer that holds for the asked time and why, when two passages disagree; else `None`."""
        if constraint is None or constraint.interval is None or len(candidates) < 2:
            return None
        fitting = sorted(
            (item for item in candidates if item["fit"] >= _FITS), key=lambda item: item["passage"]
        )
        if not fitting:
            return None
        best = fitting[0]
        rivals = [
            item
            for item in candidates
            if item["fit"] < _MISFITS
            and item["label"] == best["label"]
            and item["time"]
            and normalize_answer(item["answer"]) != normalize_answer(best["answer"])
        ]
        if not rivals:
            return None
        rival = min(rivals, key=lambda item: item["passage"])
        asked = format_interval(constraint.interval)
        why = (
            f"(per passage [{best['passage']}], {best['time']}, which covers {asked}; "
            f"passage [{rival['passage']}] describes {rival['time']}: {rival['answer']})"
        )
        return best["answer"], why


def _extracted_answer(candidate: dict[str, Any]) -> str:
    """The extractor's answer, where and when it is written: "Mona Pedersen (passage [1], 2015–present)"."""
    where = [f"passage [{candidate['passage']}]"] + ([candidate["time"]] if candidate.get("time") else [])
    return f"{candidate['answer']} ({', '.join(where)})"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _matched_span(span: Any) -> dict[str, Any] | None:
    """The ranker's matched time span as ``{text, start, end}``, or ``None``."""
    if not isinstance(span, dict):
        return None
    return {"text": span.get("text"), "start": span.get("start"), "end": span.get("end")}
