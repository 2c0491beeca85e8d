"""``AnswerTimeline``: candidate answers with the intervals they hold; the one valid for the asked time."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

from haystack import Document, component, default_to_dict

from chronorag.pipeline.answer_spans import (
    SpacyPassageReader,
    Span,
    doc_text,
    full_name,
    label_rank,
    span_type_fit,
    strip_possessive,
    typed_spans,
)
from chronorag.pipeline.candidate_model import load_candidate_model
from chronorag.pipeline.evidence import (
    ANSWER_LABELS,
    Sentence,
    content_words,
    describe_constraint,
    interval_fit,
    normalize_answer,
    question_nouns,
    question_type,
    split_sentences,
)
from chronorag.pipeline.timeline import (
    EXPLICIT_ROLES,
    ROLES,
    UNDATED,
    Anchor,
    TimelineEntry,
    anchor_span,
    asks_time,
    planned,
    resolve_holds,
    sentence_relevance,
    time_fit,
)
from chronorag.temporal.dating import parse_publication_date
from chronorag.temporal.meta import source_title
from chronorag.temporal.model import TemporalConstraint

NO_EVIDENCE = "no passage was retrieved for the question"
# Two sources disagree when different answers both hold for the asked time, explicitly dated, and their
# sentences match the question this closely.
CONFLICT_MARGIN = 0.05
HOLDS_FIT = 0.8  # a time fit from which an answer counts as holding for the asked time
# The label of a span found where a passage writes a given answer (`candidates_of(also=...)`), not by type.
LOCATED = "LOCATED"
_PARSE_CACHE_SIZE = 512
# Parses shared by every timeline of the process (a server's threads too), by (spaCy model, text hash).
_PARSES: OrderedDict[tuple[str, str], Any] = OrderedDict()
_PARSES_LOCK = threading.Lock()
_NAMED_KINDS = ("person", "org", "place", "nationality")


@component
class AnswerTimeline(SpacyPassageReader):
    """
    Builds a small timeline of candidate answers from the top passages, each with the interval it holds
    (e.g. "Tom Hale: 2016 to 2022-11-08; Jane Okafor: from 2022-11-08"), derived from the passages' time
    spans and publication dates, and picks the one valid for the question's `TemporalConstraint`
    (before/after/in/between/as of, first/last/latest, the reference time). The code does the temporal
    reasoning; an LLM downstream only phrases the choice.

    When nothing in the evidence holds for the asked time (no passages, no candidate of the asked type,
    no dates, only other times) or two sources disagree, it abstains and says why.

    ### Usage example

    ```python
    timeline = AnswerTimeline()
    result = timeline.run(query="Who was mayor of Riverton in 2019?", documents=ranked, constraint=constraint)
    result["candidates"][0]["answer"], result["abstention"]
    ```
    """

    def __init__(self, max_passages: int = 3, spacy_model: str = "default", abstain: bool = True) -> None:
        """
        Create the component; spaCy loads in `warm_up`.

        :param max_passages: how many top passages the timeline reads.
        :param spacy_model: `"default"` (`chronorag.models.get_spacy`'s model) or a spaCy package name.
        :param abstain: abstain when no candidate holds for the asked time or sources disagree; `False`
            always answers with the best candidate (for measuring what abstention costs).
        """
        SpacyPassageReader.__init__(self, max_passages=max_passages, spacy_model=spacy_model)
        self.abstain = abstain

    def warm_up(self) -> None:
        """Load spaCy and the candidate model (so a broken install fails here, naming the missing file)."""
        SpacyPassageReader.warm_up(self)
        load_candidate_model()

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self, max_passages=self.max_passages, spacy_model=self.spacy_model, abstain=self.abstain
        )

    @component.output_types(
        replies=list[str],
        candidates=list[dict[str, Any]],
        timeline=list[dict[str, Any]],
        abstention=dict[str, Any],
    )
    def run(
        self, query: str, documents: list[Document], constraint: TemporalConstraint | None = None
    ) -> dict[str, Any]:
        """
        Build the timeline and choose the answer.

        :param query: the question.
        :param documents: the ranked passages, best first.
        :param constraint: the question's decomposition.
        :returns: `replies` (the chosen answer, or the abstention's sentence), `candidates` (one per distinct
            answer, best first, the chosen one first: `{answer, label, passage, id, date, role, anchor, holds,
            time, sentence, fit, score, passages, interval}`), `timeline` (every dated candidate in time
            order) and `abstention` (`{abstained: bool, reason: str | None}`; with `disputed`, the two
            answers, when two sources disagree).
        """
        self.warm_up()
        read = [doc for doc in documents[: self.max_passages] if (doc.content or "").strip()]
        if not read:
            return _abstained(NO_EVIDENCE, [], [])
        entries = self.candidates_of(query, read, constraint)
        if not entries:
            kind = question_type(query)
            reason = f"the passages name no {_KIND_WORDS.get(kind, 'answer')} that answers the question"
            return _abstained(reason, [], [])
        ranked = best_per_answer(entries)
        timeline = sorted(
            (entry for entry in entries if entry.holds is not None),
            key=lambda entry: (entry.holds.start_day if entry.holds else 0, entry.passage),
        )
        candidates = [candidate_dict(entry) for entry in ranked]
        timeline_dicts = [entry.to_dict() for entry in timeline]
        reason, disputed = self._abstention_reason(ranked, constraint) if self.abstain else (None, [])
        if reason:
            return _abstained(reason, candidates, timeline_dicts, disputed)
        return {
            "replies": [ranked[0].answer],
            "candidates": candidates,
            "timeline": timeline_dicts,
            "abstention": {"abstained": False, "reason": None},
        }

    def candidates_of(
        self,
        query: str,
        documents: list[Document],
        constraint: TemporalConstraint | None,
        also: str | None = None,
    ) -> list[TimelineEntry]:
        """
        Every candidate answer of the passages, with the interval it holds, its time fit and its score.

        :param query: the question.
        :param documents: the passages to read, best first.
        :param constraint: the question's decomposition.
        :param also: a text to take as a candidate too wherever a passage writes it (label
            :data:`LOCATED`), e.g. a reader's answer the spans missed ("Tuesday Weld", tagged a date).
        :returns: the candidates (one per answer span), in passage order.
        """
        self.warm_up()
        entries = self._entries(query, documents, constraint, also)
        resolve_holds(entries)
        support: dict[str, set[int]] = {}
        for entry in entries:
            support.setdefault(normalize_answer(entry.answer), set()).add(entry.passage)
        for entry in entries:
            entry.support = sorted(support[normalize_answer(entry.answer)])
            entry.time_fit = time_fit(entry, constraint, entries)
        # The score: trees fitted on TimeQA train over the features (chronorag.pipeline.candidate_model).
        scores = load_candidate_model().score([feature_vector(entry) for entry in entries])
        for entry, score in zip(entries, scores, strict=True):
            entry.score = float(score)
        return entries

    # --- candidates -----------------------------------------------------------------------------------
    def _entries(
        self,
        query: str,
        documents: list[Document],
        constraint: TemporalConstraint | None,
        also: str | None = None,
    ) -> list[TimelineEntry]:
        question = _Question(
            kind=question_type(query),
            nouns=question_nouns(query),
            asked=content_words(constraint.content if constraint and constraint.content else query),
            words=content_words(query) | {word.lower() for word in query.split()},
            constraint=constraint,
        )
        entries: list[TimelineEntry] = []
        names: list[str] = []
        for rank, doc in enumerate(documents, start=1):
            entries.extend(self._passage_entries(doc, rank, question, names, also))
        texts = [doc.content or "" for doc in documents]
        for entry in entries:
            entry.answer = full_name(strip_possessive(entry.answer, texts), names)
        return entries

    def _passage_entries(
        self, doc: Document, rank: int, question: _Question, names: list[str], also: str | None = None
    ) -> list[TimelineEntry]:
        """The candidates of one passage (and where it writes `also`); the full person names it writes are
        added to `names`."""
        meta = doc.meta or {}
        parsed = self._parse(doc)
        published = parse_publication_date(meta.get("date"))
        sentences = split_sentences(doc, parsed, reference=published)
        spans = typed_spans(parsed, question.kind, question.words, sentences, question.nouns, chunks="always")
        if also:
            spans.extend(located_spans(doc_text(parsed), also, spans))
        names.extend(span.text for span in spans if span.label == "PERSON" and " " in span.text)
        title = source_title(meta)
        passage = _Passage(doc, rank, parsed, published, title, content_words(title))
        entries, previous = [], None
        for sentence in sentences:
            inside = [span for span in spans if sentence.char_start <= span.char_start < sentence.char_end]
            entries.extend(_sentence_entries(inside, sentence, previous, passage, question))
            if sentence.mentions:
                previous = sentence
        return entries

    def _parse(self, doc: Document) -> Any:
        """spaCy's parse of a passage, cached by model and text: evaluations read the same passages often,
        and the `AnswerFitReranker` and the timeline after it read the same top passages."""
        text = doc.content or ""
        key = (self.spacy_model, hashlib.sha1(text.encode("utf-8")).hexdigest())
        with _PARSES_LOCK:
            parsed = _PARSES.get(key)
            if parsed is not None:
                _PARSES.move_to_end(key)
                return parsed
        parsed = self._nlp(text)
        with _PARSES_LOCK:
            _PARSES[key] = parsed
            if len(_PARSES) > _PARSE_CACHE_SIZE:
                _PARSES.popitem(last=False)
        return parsed

    # --- abstention -------------------------------------------------------------------------------------
    @staticmethod
    def _abstention_reason(
        ranked: list[TimelineEntry], constraint: TemporalConstraint | None
    ) -> tuple[str | None, list[str]]:
        """Why the evidence gives no answer for the asked time (`None` when the best candidate holds), and
        the two answers in dispute when the reason is that two sources disagree (else `[]`)."""
        if not asks_time(constraint):
            return None, []
        best = ranked[0]
        asked = describe_constraint(constraint)
        if all(entry.role == UNDATED for entry in ranked):
            return f"the passages give no dates, so nothing shows what held {_as_phrase(asked)}", []
        if best.time_fit <= 0.0:
            spoken = "; ".join(
                f"{entry.answer}: {entry.to_dict()['time']}"
                for entry in ranked[:3]
                if entry.holds is not None
            )
            return f"no passage covers the asked time ({asked})" + (
                f" (the passages speak of {spoken})" if spoken else ""
            ), []
        rival = _rival(best, ranked)
        if rival is not None:
            return (
                f"the passages disagree for {asked}: passage [{best.passage}] says {best.answer}, "
                f"passage [{rival.passage}] says {rival.answer}"
            ), [best.answer, rival.answer]
        return None, []


_KIND_WORDS = {
    "person": "person",
    "org": "organisation",
    "place": "place",
    "nationality": "nationality",
    "date": "date",
    "number": "number",
    "action": "event",
    "entity": "name",
}


def located_spans(text: str, answer: str, known: list[Span]) -> list[Span]:
    """
    Where `text` writes `answer`, as spans labelled :data:`LOCATED`: case and the spacing of punctuation
    aside ("C.D. Montijo" is written "C.D . Montijo"), at word boundaries; a place a known span already
    covers exactly is skipped.

    :param text: the passage's text.
    :param answer: the answer to find (a reader's words).
    :param known: the passage's candidate spans.
    :returns: the spans, in text order.
    """
    words = re.findall(r"\w+", answer)
    if not words:
        return []
    pattern = re.compile(r"\b" + r"\W{0,3}".join(re.escape(word) for word in words) + r"\b", re.IGNORECASE)
    taken = {(span.char_start, span.char_end) for span in known}
    return [
        Span(match.group(0), LOCATED, match.start(), match.end())
        for match in pattern.finditer(text)
        if (match.start(), match.end()) not in taken
    ]


def _as_phrase(asked: str) -> str:
    return (
        asked
        if asked.split(" ", 1)[0] in ("in", "as", "before", "after", "since", "until", "from")
        else f"in {asked}"
    )


@dataclass(frozen=True)
class _Question:
    """What the candidates are matched against: the answer type, its nouns, the content words."""

    kind: str
    nouns: set[str]
    asked: set[str]
    words: set[str]
    constraint: TemporalConstraint | None


@dataclass(frozen=True)
class _Passage:
    """A read passage with what its candidates share: rank, parse, publication date, title words."""

    doc: Document
    rank: int
    parsed: Any
    published: date | None
    title: str
    title_words: set[str]


def _sentence_entries(
    spans: list[Span], sentence: Sentence, previous: Sentence | None, passage: _Passage, question: _Question
) -> list[TimelineEntry]:
    """One candidate per answer span of the sentence, each with its time, relevance and features."""
    relevance = sentence_relevance(question.asked, sentence.text, passage.title)
    # The sentence's own times against the asked one: robust where the parse misattaches.
    sentence_fit = interval_fit(sentence.intervals, question.constraint) if sentence.intervals else 0.0
    order: dict[tuple[str, str | None], int] = {}
    entries = []
    for span in spans:
        anchor = anchor_span(span, sentence, passage.parsed, passage.published, previous)
        # Lists that share one time ("fellowships at A, B and C") run in the order written.
        position = order[(span.label, anchor.text)] = order.get((span.label, anchor.text), -1) + 1
        window = doc_text(passage.parsed)[max(0, span.char_start - 60) : span.char_end + 60]
        features = _span_features(
            span, question.kind, anchor, window, question.asked, passage.title_words, passage.rank
        )
        features["planned"] = 1.0 if planned(span, passage.parsed) else 0.0
        features["competition"] = 1.0 if _competition_for_team(span.text, question.nouns) else 0.0
        entries.append(
            TimelineEntry(
                answer=span.text,
                label=span.label,
                passage=passage.rank,
                doc_id=passage.doc.id,
                source=str((passage.doc.meta or {}).get("doc_id") or passage.title or passage.doc.id),
                published=passage.published,
                sentence=sentence.text.strip(),
                char_start=span.char_start,
                char_end=span.char_end,
                role=anchor.role,
                stated=anchor.interval,
                anchor_text=anchor.text,
                relevance=relevance,
                type_fit=span_type_fit(span, question.kind),
                features={**features, "sentence_time": sentence_fit, "list_first": float(position == 0)},
            )
        )
    return entries


# A league, cup or award where the question asks for a team: "coached which team" is rarely answered by
# "Southern League Premier Division", though biographies name both in one sentence.
_TEAM_NOUNS = frozenset({"team", "club", "side", "franchise"})
_COMPETITION = re.compile(
    r"\b(?:league|division|conference|cup|championship|championships|tournament|trophy|award|prize|"
    r"medal|olympics|games|series|liga|serie|bundesliga|premiership)\b",
    re.IGNORECASE,
)


def _competition_for_team(answer: str, nouns: set[str]) -> bool:
    return bool(nouns & _TEAM_NOUNS) and _COMPETITION.search(answer) is not None


def _span_features(
    span: Span, kind: str, anchor: Anchor, window: str, asked: set[str], title_words: set[str], rank: int
) -> dict[str, float]:
    """What the score weighs about a candidate besides its time fit."""
    labels = ANSWER_LABELS.get(kind, ())
    words = content_words(span.text)
    nearby = {word[:5] for word in content_words(window)}
    return {
        "relevance_local": sum(1 for word in asked if word[:5] in nearby) / max(1, len(asked)),
        "label": 0.0
        if span.label == "NOUN_CHUNK"
        else 1.0 - label_rank(span.label, labels) / max(1, len(labels)),
        "noun": 1.0 if span.rank[0] == 0 else 0.0,
        "chunk": 1.0 if span.label == "NOUN_CHUNK" else 0.0,
        # A noun phrase where the question asks for a name (who, which team, where) is rarely the answer.
        "chunk_named": 1.0 if span.label == "NOUN_CHUNK" and kind in _NAMED_KINDS else 0.0,
        "rank": 1.0 / rank,
        "attachment": anchor.attachment / 3.0,
        "near": 1.0 / (1.0 + anchor.distance / 40.0) if anchor.text else 0.0,
        "title": 1.0 if words and words <= title_words else 0.0,
        "length": min(len(span.text.split()), 8) / 8.0,
        **{f"role_{role}": 1.0 if anchor.role == role else 0.0 for role in ROLES},
    }


def feature_vector(entry: TimelineEntry) -> dict[str, float]:
    """
    Everything the candidate score weighs (the candidate model's feature names).

    :param entry: a ranked candidate (time fit and support resolved).
    :returns: the features.
    """
    return {
        **entry.features,
        "time": entry.time_fit,
        "relevance": entry.relevance,
        "extended": 1.0 if entry.extended else 0.0,
        "support": min(len(entry.support), 3) / 3.0,
    }


def best_per_answer(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """
    One entry per distinct answer (its best), best first: the first is the timeline's choice.

    :param entries: the candidates (`AnswerTimeline.candidates_of`).
    :returns: the best entry of each normalised answer, by score (then passage and position).
    """
    best: dict[str, TimelineEntry] = {}
    for entry in entries:
        key = normalize_answer(entry.answer)
        if key and (key not in best or entry.score > best[key].score):
            best[key] = entry
    return sorted(best.values(), key=lambda entry: (-entry.score, entry.passage, entry.char_start))


def _rival(best: TimelineEntry, ranked: list[TimelineEntry]) -> TimelineEntry | None:
    """A different answer from another source that holds for the asked time as surely as the best one:
    as explicitly dated, as fitting, of the same kind, and its sentence as close to the question (the
    ranker's order does not settle a disagreement between sources)."""
    if best.role not in EXPLICIT_ROLES or best.time_fit < HOLDS_FIT:
        return None
    for entry in ranked[1:]:
        if (
            entry.source != best.source
            and entry.label == best.label
            and entry.role in EXPLICIT_ROLES
            and entry.time_fit >= best.time_fit - CONFLICT_MARGIN
            and entry.relevance >= best.relevance - CONFLICT_MARGIN
            and entry.type_fit >= best.type_fit - CONFLICT_MARGIN
        ):
            return entry
    return None


def candidate_dict(entry: TimelineEntry) -> dict[str, Any]:
    """
    The entry in the candidate shape the prompt and answer builders and the arbiter read.

    :param entry: a ranked timeline entry.
    :returns: its `to_dict()` with `interval` (the interval it holds).
    """
    data = entry.to_dict()
    data["interval"] = data["holds"]
    return data


def _abstained(
    reason: str,
    candidates: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
    disputed: list[str] | None = None,
) -> dict[str, Any]:
    abstention: dict[str, Any] = {"abstained": True, "reason": reason}
    if disputed:
        # Both hold for the asked time as surely: a reading of the passages may settle it (ReaderArbiter).
        abstention["disputed"] = disputed
    return {
        "replies": [f"No answer: {reason}."],
        "candidates": candidates,
        "timeline": timeline,
        "abstention": abstention,
    }
