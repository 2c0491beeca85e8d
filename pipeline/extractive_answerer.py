"""``ExtractiveAnswerer``: the best answer span of the top passages, typed by the question (no LLM)."""

from __future__ import annotations

from typing import Any

from haystack import Document, component, default_to_dict

from chronorag.pipeline.answer_spans import (
    SpacyPassageReader,
    Span,
    full_name,
    span_type_fit,
    strip_possessive,
    typed_spans,
)
from chronorag.pipeline.evidence import (
    Sentence,
    content_words,
    format_interval,
    interval_fit,
    merge_intervals,
    question_nouns,
    question_type,
    split_sentences,
)
from chronorag.temporal.model import TemporalConstraint

NO_ANSWER = "No answer was found in the evidence."
# Weight of the ranker's order against the reader's own span score when passages offer different answers.
RANK_PRIOR = 1.0


@component
class ExtractiveAnswerer(SpacyPassageReader):
    """
    Answers from the passages themselves: in each top passage it picks the sentence that best fits the
    asked time and the question's words, then the span whose type the question asks for
    (who -> person or organisation, when -> date, where -> place, how many -> number, which team ->
    organisation, ...), skipping names the question already contains.

    The per-passage baseline reader: the pipeline's `extractor` is the `AnswerTimeline`, which reads
    every candidate with the interval it holds; `benchmarks/measure_reader.py --reader extractive`
    measures this one against it.

    ### Usage example

    ```python
    answerer = ExtractiveAnswerer()
    result = answerer.run(query="Who coached Chelsea in 2010?", documents=ranked, constraint=constraint)
    result["replies"][0], result["candidates"][0]["passage"]
    ```
    """

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(self, max_passages=self.max_passages, spacy_model=self.spacy_model)

    @component.output_types(replies=list[str], candidates=list[dict[str, Any]])
    def run(
        self, query: str, documents: list[Document], constraint: TemporalConstraint | None = None
    ) -> dict[str, Any]:
        """
        Extract the answer.

        :param query: the question.
        :param documents: the ranked passages, best first.
        :param constraint: the question's decomposition (its interval picks the sentence).
        :returns: `replies` (the best span, or a no-answer sentence) and `candidates`: per read passage,
            `{passage (1-based rank), id, answer, label, sentence, interval (dict|None), time (text), fit,
            score}`, best first.
        """
        self.warm_up()
        kind = question_type(query)
        nouns = question_nouns(query)
        asked = content_words(constraint.content if constraint and constraint.content else query)
        question_words = content_words(query) | {word.lower() for word in query.split()}
        candidates, names = [], []
        for rank, doc in enumerate(documents[: self.max_passages], start=1):
            found = self._passage_candidate(doc, rank, (kind, nouns), asked, question_words, constraint)
            if found is not None:
                candidates.append(found[0])
                names.extend(found[1])
        texts = [doc.content or "" for doc in documents[: self.max_passages]]
        for candidate in candidates:
            candidate["answer"] = full_name(strip_possessive(candidate["answer"], texts), names)
        # The ranker's order counts (its temporal score saw the whole passage); the sentence fit breaks ties.
        candidates.sort(key=lambda item: (-item["score"], item["passage"]))
        reply = candidates[0]["answer"] if candidates else NO_ANSWER
        return {"replies": [reply], "candidates": candidates}

    # --- per passage --------------------------------------------------------------------------------
    def _passage_candidate(
        self,
        doc: Document,
        rank: int,
        asked_type: tuple[str, set[str]],
        asked: set[str],
        question_words: set[str],
        constraint: TemporalConstraint | None,
    ) -> tuple[dict[str, Any], list[str]] | None:
        """The passage's best answer candidate, and the full person names it writes (to complete surnames)."""
        text = doc.content or ""
        if not text.strip():
            return None
        parsed = self._nlp(text)
        sentences = split_sentences(doc, parsed)
        kind, nouns = asked_type
        spans = typed_spans(parsed, kind, question_words, sentences, nouns)
        best: tuple[float, Sentence, Span] | None = None
        for sentence in sentences:
            overlap = len(asked & content_words(sentence.text)) / max(1, len(asked))
            sentence_score = 0.6 * overlap - (0.15 if sentence.inherited else 0.0)
            for span in spans:
                if not sentence.char_start <= span.char_start < sentence.char_end:
                    continue
                fits = _span_time_fit(span, sentence, constraint) + span_type_fit(span, kind)
                score = sentence_score + fits
                if best is None or score > best[0]:
                    best = (score, sentence, span)
        if best is None:
            return None
        score, sentence, span = best
        fitting = [
            interval for interval in sentence.intervals if interval_fit([interval], constraint) >= 0.99
        ]
        interval = merge_intervals(fitting or sentence.intervals)
        fit = interval_fit(sentence.intervals, constraint)
        candidate = {
            "passage": rank,
            "id": doc.id,
            "answer": span.text,
            "label": span.label,
            "sentence": sentence.text.strip(),
            "interval": interval.to_dict() if interval else None,
            "time": format_interval(interval) if interval else None,
            "fit": fit,
            # A rank prior so a weak later passage does not outvote the ranker's choice.
            "score": score / 2.6 + RANK_PRIOR / (rank + 1),
        }
        return candidate, [span.text for span in spans if span.label == "PERSON" and " " in span.text]


def _span_time_fit(span: Span, sentence: Sentence, constraint: TemporalConstraint | None) -> float:
    """How well the time written next to a span fits the asked time, in [0, 1].

    The nearest time mention speaks for the span ("joined X in 2004 and Y in 2009": the 2009 question
    wants Y); the sentence's other mentions count for less, as do times inherited from the sentence before.
    """
    sentence_fit = interval_fit(sentence.intervals, constraint)
    if constraint is None or constraint.interval is None or not sentence.mentions:
        return sentence_fit
    centre = (span.char_start + span.char_end) / 2

    def distance(mention: tuple[int, int, Any]) -> float:
        start, end, _ = mention
        return 0.0 if start <= centre <= end else min(abs(centre - start), abs(centre - end))

    nearest = min(sentence.mentions, key=distance)
    nearest_fit = interval_fit([nearest[2]], constraint)
    return 0.7 * max(nearest_fit, 0.8 * sentence_fit if sentence_fit >= 0.8 else 0.0) + 0.3 * sentence_fit
