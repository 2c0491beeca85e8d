"""Dating an anchored event from sentences that describe it (the store-free half of anchor resolution).

A resolver (``chronorag.indexers.AnchorResolver``) finds the sentences most similar to the event
("the new stadium opened") among passages published by the question's reference time, and hands them
here with their time spans and similarity. :func:`date_event` picks the event's interval:

1. a sentence is evidence only when its relevance to the event is at least ``min_relevance``: its cosine
   similarity to the event text, plus ``word_weight`` times the share of the event's own words it
   contains (short anchors such as "the crash" score low cosines even against "shares crashed on Monday");
2. in each such sentence the event's date is the time span nearest the event's own words ("The club was
   founded in 1901 and the new stadium opened in May 2019": "May 2019", next to "stadium" and
   "opened"); when that span starts after the reference time the sentence dates nothing (the event
   lies in the question's future, and an earlier span of the sentence would date something else); a
   date written in the anchor ("the 2020 crash") must overlap the candidate;
3. a sentence with no usable span that is the lead of a document with a *given* publication date
   (news) is dated by that day: news reports what just happened. An inferred date is an estimate of
   the text's age, not of the event, and is never used;
4. each candidate scores its relevance plus ``agreement_weight`` times the relevances of candidates
   from other passages whose intervals overlap it; the best score wins (ties: the finer granularity).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from chronorag.temporal.anchors import content_words, interval_text
from chronorag.temporal.model import Interval, TimeMention

_WORD = re.compile(r"[A-Za-z][\w'’-]*|\d+")


@dataclass(frozen=True)
class EventEvidence:
    """A sentence that may describe the anchored event.

    :param source_id: the passage (or event) id it comes from.
    :param sentence: the sentence.
    :param similarity: its similarity to the event text (cosine of unit embeddings).
    :param mentions: its time spans, offsets relative to the sentence.
    :param published: the document's given publication date when the sentence is its lead, else ``None``.
    """

    source_id: str
    sentence: str
    similarity: float
    mentions: tuple[TimeMention, ...] = field(default_factory=tuple)
    published: date | None = None


@dataclass(frozen=True)
class EventDate:
    """The interval found for an event, and why.

    :param interval: the event's interval.
    :param source_id: the passage it was read from.
    :param evidence: the sentence.
    :param how: the explanation, in words.
    :param score: similarity plus agreement (see the module docstring).
    """

    interval: Interval
    source_id: str
    evidence: str
    how: str
    score: float


@dataclass(frozen=True)
class _Candidate:
    interval: Interval
    evidence: EventEvidence
    span_text: str | None  # None: dated by the publication day
    relevance: float


def date_event(
    event: str,
    evidence: list[EventEvidence],
    reference: date,
    within: Interval | None = None,
    min_relevance: float = 0.5,
    word_weight: float = 0.15,
    agreement_weight: float = 0.25,
) -> tuple[EventDate | None, str]:
    """Pick the event's interval from the sentences that describe it.

    :param event: the event without the dates written in it ("the new stadium opened", "the crash").
    :param evidence: candidate sentences (any order).
    :param reference: the question's reference time; a sentence dating the event later dates nothing.
    :param within: the date written in the anchor ("the 2020 crash": 2020): candidates must overlap it.
    :param min_relevance: the least relevance (similarity plus ``word_weight`` times the share of the
        event's words the sentence contains) for a sentence to count as describing the event.
    :param word_weight: weight of the event's own words in the sentence ("crash" in "shares crashed"):
        short anchors ("the crash", "the merger") have low cosines even with the sentence that states them.
    :param agreement_weight: weight of agreeing candidates from other passages.
    :returns: ``(EventDate, "")`` when dated, else ``(None, why not)``.
    """
    if not evidence:
        return None, f"no dated sentence published by {reference.isoformat()} was found for it"
    words = content_words(event)
    scored_evidence = [(_relevance(item, words, word_weight), item) for item in evidence]
    relevant = [(relevance, item) for relevance, item in scored_evidence if relevance >= min_relevance]
    if not relevant:
        best = max(relevance for relevance, _ in scored_evidence)
        return None, (
            f"no sentence published by {reference.isoformat()} describes it closely enough "
            f"(best relevance {best:.2f}, needs {min_relevance:.2f})"
        )
    candidates: list[_Candidate] = []
    future = outside = 0
    for relevance, item in relevant:
        if item.mentions:
            span = _nearest(item.sentence, list(item.mentions), words)
            interval, span_text = span.interval, span.text
            if not _known_by(interval, reference):
                future += 1  # the sentence dates the event after "now": no earlier span of it may stand in
                continue
        elif item.published is not None and item.published <= reference:
            interval, span_text = Interval.day(item.published), None
        else:
            continue
        if within is not None and not within.overlaps(interval):
            outside += 1
            continue
        candidates.append(_Candidate(interval, item, span_text, relevance))
    if not candidates:
        why = f"the sentences that describe it state no date on or before {reference.isoformat()}"
        if future:
            why += f" ({future} of them date it after the reference time)"
        if outside:
            why += f" ({outside} of them date it outside {interval_text(within)})"
        return None, why
    scored = [(_score(c, candidates, agreement_weight), c) for c in candidates]
    score, best = max(scored, key=lambda pair: (round(pair[0], 6), -pair[1].interval.granularity.days))
    agreeing = _agreeing(best, candidates)
    return EventDate(best.interval, best.evidence.source_id, best.evidence.sentence,
                     _how(best, agreeing), round(score, 4)), ""  # fmt: skip


def _known_by(interval: Interval, reference: date) -> bool:
    """A span that starts on or before the reference time (an open start counts by its end)."""
    first = interval.start or interval.end
    return first is not None and first <= reference


def _nearest(sentence: str, mentions: list[TimeMention], words: list[str]) -> TimeMention:
    """The span closest (in characters) to a word of the event; the first span when no word matches."""
    positions = [
        (found.start(), found.end())
        for found in _WORD.finditer(sentence)
        if any(_same_word(found.group(0).lower(), word) for word in words)
    ]
    if not positions:
        return mentions[0]

    def distance(mention: TimeMention) -> int:
        return min(_gap(mention.char_start, mention.char_end, start, end) for start, end in positions)

    return min(mentions, key=distance)


def _same_word(token: str, word: str) -> bool:
    """Same word up to its ending: "opened"/"opening"/"opens" share the stem "open"."""
    stem = word[:5] if len(word) > 5 else word
    return token.startswith(stem) or (len(token) >= 4 and word.startswith(token))


def _gap(start: int, end: int, other_start: int, other_end: int) -> int:
    if start < other_end and other_start < end:
        return 0
    return other_start - end if end <= other_start else start - other_end


def _agreeing(candidate: _Candidate, candidates: list[_Candidate]) -> list[_Candidate]:
    """Candidates from other passages whose intervals overlap this one."""
    own = candidate.evidence.source_id
    return [
        other
        for other in candidates
        if other.evidence.source_id != own and other.interval.overlaps(candidate.interval)
    ]


def _relevance(item: EventEvidence, words: list[str], word_weight: float) -> float:
    """Similarity plus ``word_weight`` times the share of the event's words found in the sentence."""
    if not words:
        return item.similarity
    tokens = [found.group(0).lower() for found in _WORD.finditer(item.sentence)]
    found = sum(any(_same_word(token, word) for token in tokens) for word in words)
    return item.similarity + word_weight * found / len(words)


def _score(candidate: _Candidate, candidates: list[_Candidate], agreement_weight: float) -> float:
    support = sum(other.relevance for other in _agreeing(candidate, candidates))
    return candidate.relevance + agreement_weight * support


def _how(candidate: _Candidate, agreeing: list[_Candidate]) -> str:
    match = f"similarity {candidate.evidence.similarity:.2f}, relevance {candidate.relevance:.2f}"
    if candidate.span_text is None:
        how = (
            f"dated by the publication day {candidate.evidence.published} (a given date) of the news lead "
            f"that reports it ({match})"
        )
    else:
        how = f"dated by '{candidate.span_text}' in the sentence that best describes it ({match})"
    sources = {other.evidence.source_id for other in agreeing}
    if sources:
        how += f"; {len(sources)} other passage(s) agree"
    return how
