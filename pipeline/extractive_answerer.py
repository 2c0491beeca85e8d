"""``ExtractiveAnswerer``: the best answer span of the top passages, typed by the question (no LLM)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.models import get_spacy
from chronorag.pipeline.evidence import (
    ANSWER_LABELS,
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


@dataclass
class _Span:
    text: str
    label: str
    char_start: int
    char_end: int
    rank: tuple[int, int] = (1, 99)


def _label_rank(label: str, labels: tuple[str, ...]) -> int:
    return labels.index(label) if label in labels else len(labels)


@component
class ExtractiveAnswerer:
    """
    Answers from the passages themselves: in each top passage it picks the sentence that best fits the
    asked time and the question's words, then the span whose type the question asks for
    (who -> person or organisation, when -> date, where -> place, how many -> number, which team ->
    organisation, ...), skipping names the question already contains.

    It is the fallback generator when no LLM is configured, and it gives the LLM pipeline its
    candidate answers (`candidates`): the LLM phrases the answer, the code chooses the evidence, and
    the answer builder uses the candidates to explain disagreements between passages.

    ### Usage example

    ```python
    answerer = ExtractiveAnswerer()
    result = answerer.run(query="Who coached Chelsea in 2010?", documents=ranked, constraint=constraint)
    result["replies"][0], result["candidates"][0]["passage"]
    ```
    """

    def __init__(self, max_passages: int = 3, spacy_model: str = "default") -> None:
        """
        Create the answerer; spaCy loads in `warm_up`.

        :param max_passages: how many top passages are read for candidates.
        :param spacy_model: `"default"` (`chronorag.models.get_spacy`'s model) or a spaCy package name.
        """
        self.max_passages = max_passages
        self.spacy_model = spacy_model
        self._nlp: Any = None

    def warm_up(self) -> None:
        """Load (or reuse) the spaCy pipeline."""
        if self._nlp is None:
            self._nlp = get_spacy(None if self.spacy_model == "default" else self.spacy_model)

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(self, max_passages=self.max_passages, spacy_model=self.spacy_model)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractiveAnswerer:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

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
            candidate["answer"] = _full_name(_strip_possessive(candidate["answer"], texts), names)
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
        spans = self._typed_spans(parsed, kind, question_words, sentences, nouns)
        best: tuple[float, Sentence, _Span] | None = None
        for sentence in sentences:
            overlap = len(asked & content_words(sentence.text)) / max(1, len(asked))
            sentence_score = 0.6 * overlap - (0.15 if sentence.inherited else 0.0)
            for span in spans:
                if not sentence.char_start <= span.char_start < sentence.char_end:
                    continue
                fits = _span_time_fit(span, sentence, constraint) + _span_type_fit(span, kind)
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

    def _typed_spans(
        self, parsed: Any, kind: str, question_words: set[str], sentences: list[Sentence], nouns: set[str]
    ) -> list[_Span]:
        """Spans of the asked type, best label first, then in text order; the question's own names skipped."""
        labels = ANSWER_LABELS[kind]
        if kind == "date":
            found = [
                _Span(_date_text(parsed, sentence), "DATE", sentence.char_start, sentence.char_end)
                for sentence in sentences
                if sentence.intervals and not sentence.inherited
            ]
            return [span for span in found if span.text]
        spans = []
        for ent in _merged_entities(parsed):
            if ent.label not in labels:
                continue
            words = {word.lower() for word in ent.text.replace(",", " ").split()}
            if words and words <= question_words:
                continue  # the question's own subject is not its answer
            spans.append(ent)
        if not spans and kind in ("org", "entity", "person"):
            spans = _noun_chunks(parsed, question_words)
        for span in spans:
            # "what university" -> "Seoul National University": a span naming the asked noun ranks first.
            span.rank = (0 if nouns & set(span.text.lower().split()) else 1, _label_rank(span.label, labels))
        return sorted(spans, key=lambda span: span.rank)


def _span_time_fit(span: _Span, sentence: Sentence, constraint: TemporalConstraint | None) -> float:
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


def _span_type_fit(span: _Span, kind: str) -> float:
    """How surely a span is of the asked type: naming the asked noun counts most, then the label's rank."""
    names_noun, label_rank = span.rank
    labels = ANSWER_LABELS.get(kind, ())
    by_label = 1.0 - 0.5 * label_rank / max(1, len(labels))
    return 0.5 * (1.0 if names_noun == 0 else 0.7 * by_label)


def _strip_possessive(answer: str, texts: list[str]) -> str:
    """Strip a possessive: "Chelsea's" -> "Chelsea"; also "Chelseas" where a text lost its apostrophes
    (as TimeQA's did) and the bare name is written elsewhere in the read passages."""
    for suffix in ("'s", "\u2019s"):
        if answer.endswith(suffix):
            return answer[: -len(suffix)]
    words = answer.split()
    if not words or len(words[-1]) < 4 or not words[-1].endswith("s") or not words[-1][0].isupper():
        return answer
    stem = answer[:-1]
    bare = re.compile(rf"\b{re.escape(stem)}\b")
    return stem if any(bare.search(text) for text in texts) else answer


def _full_name(answer: str, names: list[str]) -> str:
    """A surname alone ("Henn") becomes the full name the passages give ("Jürgen Henn")."""
    if " " in answer or not answer[:1].isupper():
        return answer
    longer = [name for name in names if name.endswith(" " + answer) and len(name.split()) <= 4]
    return max(longer, key=len) if longer else answer


def _date_text(parsed: Any, sentence: Sentence) -> str:
    """The first DATE entity inside the sentence, else its formatted time span."""
    for ent in parsed.ents:
        if ent.label_ == "DATE" and sentence.char_start <= ent.start_char < sentence.char_end:
            return ent.text
    return format_interval(sentence.intervals[0]) if sentence.intervals else ""


def _merged_entities(parsed: Any) -> list[_Span]:
    """spaCy entities, with the pieces of one name joined: "University of Arizona , Tucson" (ORG , GPE),
    "Hunter-Lehman College of the City University of New York" (ORG of ORG), "Patrol Squadron 14-F"
    (ORG followed by a code the tagger calls PRODUCT or CARDINAL)."""
    ents = list(parsed.ents)
    merged: list[_Span] = []
    index = 0
    while index < len(ents):
        ent = ents[index]
        span = _Span(ent.text, ent.label_, ent.start_char, ent.end_char)
        while index + 1 < len(ents) and _joins(span, ents[index + 1], parsed.text):
            following = ents[index + 1]
            span = _Span(
                parsed.text[span.char_start : following.end_char],
                span.label,
                span.char_start,
                following.end_char,
            )
            index += 1
        merged.append(span)
        index += 1
    return merged


def _joins(span: _Span, following: Any, text: str) -> bool:
    if span.label not in ("ORG", "FAC"):
        return False
    between = text[span.char_end : following.start_char].strip().lower()
    if between == ",":
        return following.label_ == "GPE"
    if between in ("of", "of the"):
        return following.label_ in ("ORG", "GPE", "FAC")
    return between == "" and following.label_ in ("PRODUCT", "CARDINAL")


def _noun_chunks(parsed: Any, question_words: set[str]) -> list[_Span]:
    """Noun phrases not made of question words: the answer of "what position did X hold" questions."""
    if not parsed.has_annotation("DEP"):
        return []
    chunks = []
    for chunk in parsed.noun_chunks:
        words = {word.lower() for word in chunk.text.split()}
        if chunk.root.pos_ == "PRON" or words <= question_words:
            continue
        chunks.append(_Span(chunk.text, "NOUN_CHUNK", chunk.start_char, chunk.end_char))
    return chunks
