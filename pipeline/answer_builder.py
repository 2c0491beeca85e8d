"""``ChronoAnswerBuilder``: the answer object of ``ask`` and of REST ``/v1/ask``."""

from __future__ import annotations

import re
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.pipeline.answer_reranker import RERANK_META
from chronorag.pipeline.evidence import (
    answer_contains,
    format_interval,
    matched_sentence,
    normalize_answer,
    unsupported_words,
)
from chronorag.pipeline.extractive_answerer import NO_ANSWER
from chronorag.pipeline.options import (
    LETTERS,
    choice_from_evidence,
    choose_option,
    option_from_reply,
    option_text,
    passages_writing,
)
from chronorag.temporal.meta import source_title
from chronorag.temporal.model import TemporalConstraint

_CITATION = re.compile(r"\[(\d{1,2})\]")
_ANSWER_PREFIX = re.compile(r"^\s*(the\s+)?(final\s+)?answer\s*(is)?\s*[:\-]\s*", re.IGNORECASE)
NO_OPTION = "neither the passages, the reader nor the timeline name one of the options"
# The chosen answer holds for the asked time from this fit on (`AnswerTimeline`); a rival below the other.
_FITS, _MISFITS = 0.8, 0.5


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
        abstention: dict[str, Any] | None = None,
        timeline: list[dict[str, Any]] | None = None,
        arbitration: dict[str, Any] | None = None,
        choices: list[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """
        Build the answer object.

        :param query: the question.
        :param documents: the ranked passages the answer rests on, best first.
        :param replies: the generator's replies (the first is used); `None` or empty: the answer is phrased
            from the best candidate (the extractive pipeline).
        :param constraint: the question's decomposition.
        :param candidates: the extractor's candidates, best first (`AnswerTimeline` or
            `ExtractiveAnswerer`): the first is the chosen answer.
        :param abstention: the extractor's `{abstained, reason}`: when it abstained, the answer says so and
            no reply is used.
        :param timeline: the extractor's timeline (candidates with the intervals they hold), passed on.
        :param arbitration: `ReaderArbiter`'s verdict on the LLM's reading (`{reader_answer, matched,
            accepted, reason}`), passed on as `reader`.
        :param choices: the question's options (multiple choice): the option the passages support best
            is the answer, else the one the reply names (its letter or words); `choice` says which and why.
        :returns: `answer`: `{answer, short_answer, abstained, abstention_reason, cited: [{n, id, title,
            date}], reply_replaced, replacement_reason, reader, timeline, citations: [{id, title, date,
            snippet, score, semantic_score, temporal_score, matched_span, answer_rerank}], constraint,
            choice}` (`choice`: `{index, letter, option, by}` with `by` "evidence", "reader" or "timeline",
            or `None`).
        """
        candidates = candidates or []
        abstained = bool(abstention and abstention.get("abstained"))
        if choices:
            # The timeline's choice breaks a silence of the passages and the reader, unless it abstained.
            timeline_choice = None if abstained or not candidates else candidates[0]["answer"]
            answer = self._choice_answer(
                query, documents, replies, constraint, arbitration, choices, timeline_choice
            )
            return {"answer": answer}
        replaced_because = None
        short_answer = None
        if abstained:
            text = f"No answer: {abstention['reason']}." if abstention.get("reason") else NO_ANSWER
        elif candidates:
            best = candidates[0]
            short_answer = best["answer"]
            reply = self._clean(replies[0]) if replies else ""
            replaced_because = self._unfaithful(reply, candidates, query, documents) if replies else None
            text = reply if replies and replaced_because is None else _phrased(best)
        else:
            text = self._clean(replies[0]) if replies else ""
            text = text or NO_ANSWER
        note = (
            None
            if abstained
            else self._conflict_note(candidates, constraint)
            if self.explain_conflicts
            else None
        )
        if note:
            best_answer, why = note
            # The reason follows the answer when the reply names it; otherwise the holding answer is stated.
            text = (
                f"{text} {why}"
                if normalize_answer(best_answer) in normalize_answer(text)
                else f"{text}\n{best_answer} {why}"
            )
        answer = self._answer_object(
            text,
            short_answer,
            # Without candidates (an extractor that found none) an empty reply is no answer either.
            abstained or (replies is not None and not candidates and text == NO_ANSWER),
            (abstention or {}).get("reason") if abstained else None,
            documents,
            constraint,
            arbitration,
        )
        answer.update(
            reply_replaced=replaced_because is not None,
            replacement_reason=replaced_because,
            timeline=list(timeline or []),
        )
        return {"answer": answer}

    def _answer_object(
        self,
        text: str,
        short_answer: str | None,
        abstained: bool,
        abstention_reason: str | None,
        documents: list[Document],
        constraint: TemporalConstraint | None,
        arbitration: dict[str, Any] | None,
        choice: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The answer object's fields, its text's citations and the passages' (no reply replaced, no
        timeline: the caller sets those it has)."""
        return {
            "answer": text,
            "short_answer": short_answer,
            "abstained": abstained,
            "abstention_reason": abstention_reason,
            "cited": _cited(text, documents),
            "reply_replaced": False,
            "replacement_reason": None,
            "reader": dict(arbitration) if arbitration else None,
            "timeline": [],
            "citations": [self._citation(doc) for doc in documents],
            "constraint": constraint.to_dict() if constraint else None,
            "choice": choice,
        }

    def _choice_answer(
        self,
        query: str,
        documents: list[Document],
        replies: list[str] | None,
        constraint: TemporalConstraint | None,
        arbitration: dict[str, Any] | None,
        choices: list[str],
        timeline_choice: str | None,
    ) -> dict[str, Any]:
        """The answer to a multiple-choice question: the passages decide first, the reader's reply where
        no passage writes any option (or two tie), then the timeline's choice; no option decided is an
        abstention."""
        reply = replies[0] if replies else ""  # with options the arbiter passes the reply on as it is
        index, by = choice_from_evidence(query, choices, documents), "evidence"
        if index is None:
            index, by = option_from_reply(reply, choices), "reader"
        if index is None and timeline_choice:
            index, by = choose_option(timeline_choice, choices), "timeline"
        choice = None
        if index is None:
            text = f"No answer: {NO_OPTION}."
        else:
            option = option_text(choices[index])
            marks = "".join(f"[{number}]" for number in passages_writing(option, documents)[:3])
            text = f"{LETTERS[index]}. {option or '(empty)'}{f' {marks}' if marks else ''}"
            choice = {"index": index, "letter": LETTERS[index], "option": option, "by": by}
        return self._answer_object(
            text,
            choice["option"] if choice else None,
            choice is None,
            NO_OPTION if choice is None else None,
            documents,
            constraint,
            arbitration,
            choice,
        )

    def _unfaithful(
        self, reply: str, candidates: list[dict[str, Any]], query: str, documents: list[Document]
    ) -> str | None:
        """Why a reply cannot stand for the chosen answer (the first candidate), or `None` when it can.

        A reply must state the chosen answer, not name a rival answer as well, cite a passage that exists,
        and not invent: small local LLMs drop the answer, contradict it, forget the citation or embroider.
        """
        best = candidates[0]
        if not reply:
            return "empty reply"
        if not answer_contains(reply, best["answer"]):
            return f"the reply does not state the answer the evidence supports ({best['answer']})"
        rival = _rival_named(reply, candidates, query)
        if rival:
            return f"the reply also names {rival}, another candidate than the one the evidence supports"
        cited = [int(number) for number in _CITATION.findall(reply)]
        if not cited:
            return "the reply cites no passage"
        if any(number < 1 or number > len(documents) for number in cited):
            return "the reply cites a passage that does not exist"
        if not self._grounded(reply, query, documents):
            return "the reply states things the passages do not"
        return None

    def _grounded(self, text: str, query: str, documents: list[Document]) -> bool:
        titles = [source_title(doc.meta) for doc in documents]
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
            "title": source_title(meta),
            "date": meta.get("date"),
            "snippet": self._snippet(doc),
            "score": _float(doc.score),
            "semantic_score": _float(meta.get("score_semantic")),
            "temporal_score": _float(meta.get("score_temporal")),
            # For undated passages (encyclopedia text) the span the ranker matched is the evidence's date.
            "matched_span": _matched_span(meta.get("matched_span")),
            # Why the answer reranker put this passage first (`None` when it did not move it).
            "answer_rerank": meta.get(RERANK_META),
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
        """The answer that holds for the asked time and why, when another passage gives another answer for
        another time of the same kind; else `None`."""
        if constraint is None or constraint.interval is None or len(candidates) < 2:
            return None
        best = candidates[0]
        if best["fit"] < _FITS or not best.get("time"):
            return None
        rivals = [
            item
            for item in candidates[1:]
            if item["fit"] < _MISFITS
            and item["label"] == best["label"]
            and item.get("time")
            and item["passage"] != best["passage"]
            and normalize_answer(item["answer"]) != normalize_answer(best["answer"])
        ]
        if not rivals:
            return None
        rival = min(rivals, key=lambda item: item["passage"])
        asked = format_interval(constraint.interval)
        why = (
            f"(passage [{best['passage']}]: {best['answer']}, {best['time']}, asked: {asked}; "
            f"passage [{rival['passage']}]: {rival['answer']}, {rival['time']})"
        )
        return best["answer"], why


def _rival_named(reply: str, candidates: list[dict[str, Any]], query: str) -> str | None:
    """Another candidate answer of the chosen one's kind that the reply names ("Serie A [1] led Bologna"
    where Serie A was chosen): the reply then contradicts the choice. Answers that overlap the chosen one
    or that the question itself names are no rivals."""
    best = candidates[0]
    chosen, asked = normalize_answer(best["answer"]), normalize_answer(query)
    text = normalize_answer(reply.replace(best["answer"], " ", 1))
    for other in candidates[1:]:
        name = normalize_answer(other["answer"])
        if (
            other.get("label") == best.get("label")
            and len(name) > 2
            and name not in chosen
            and chosen not in name
            and name not in asked
            and f" {name} " in f" {text} "
        ):
            return other["answer"]
    return None


def _phrased(candidate: dict[str, Any]) -> str:
    """The chosen answer with its passages and time: "Tom Hale [1] (2016 to 2022-11-08)"."""
    passages = candidate.get("passages") or [candidate["passage"]]
    marks = "".join(f"[{number}]" for number in passages[:3])
    when = f" ({candidate['time']})" if candidate.get("time") else ""
    return f"{candidate['answer']} {marks}{when}"


def _cited(text: str, documents: list[Document]) -> list[dict[str, Any]]:
    """The passages an answer text cites as [n], in order: `{n, id, title, date}`."""
    numbers = dict.fromkeys(int(number) for number in _CITATION.findall(text))
    return [
        {
            "n": number,
            "id": documents[number - 1].id,
            "title": source_title(documents[number - 1].meta),
            "date": (documents[number - 1].meta or {}).get("date"),
        }
        for number in numbers
        if 1 <= number <= len(documents)
    ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _matched_span(span: Any) -> dict[str, Any] | None:
    """The ranker's matched time span as ``{text, start, end}``, or ``None``."""
    if not isinstance(span, dict):
        return None
    return {"text": span.get("text"), "start": span.get("start"), "end": span.get("end")}
