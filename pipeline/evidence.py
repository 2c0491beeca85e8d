"""Evidence helpers shared by the answering components: question types, passage sentences with their
time spans, candidate answer spans, and human-readable dates.

The small local LLM is weak at date reasoning, so the code picks the evidence: which sentence of which
passage fits the asked time, and which span in it has the type the question asks for.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from haystack import Document

from chronorag.temporal.model import Granularity, Interval, TemporalConstraint

# Question word -> the answer type; "which/what NOUN" questions are typed by their noun.
_NUMBER_PATTERN = re.compile(r"\bhow (many|much|old|long|far|tall)\b|\bwhat (number|percentage|amount)\b")
_DATE_PATTERN = re.compile(r"^\s*when\b|\b(what|which|in what) (year|date|month|day|decade)\b")
# "Where did X work/study" asks for an institution in TimeQA-style questions, not a city.
_WHERE_ORG_PATTERN = re.compile(
    r"\bwhere\b.*\b(work|worked|study|studied|educat\w*|attend\w*|play\w*|school\w*|employ\w*)\b"
)
_PLACE_PATTERN = re.compile(r"\bwhere\b")
# "What did the central bank do last week?", "What happened to X?": the answer is a predicate.
_ACTION_PATTERN = re.compile(
    r"^\s*what\s+(?:did|does|do|has|have|had|will|would|is|was|were|are)\b.*\b(?:do|doing|done)\b"
    r"|^\s*what\s+happen(?:s|ed)?\b"
)
_PERSON_PATTERN = re.compile(r"\b(who|whom|whose)\b")
_WHICH_WORDS = re.compile(r"\b(?:which|what)((?:\s+[a-z-]+){1,4})")
_NATIONALITY_NOUNS = {"nationality", "citizenship", "citizen", "nation"}
_ORG_NOUNS = {
    "team",
    "club",
    "university",
    "college",
    "school",
    "company",
    "organization",
    "organisation",
    "party",
    "institution",
    "employer",
    "band",
    "league",
    "firm",
    "corporation",
    "agency",
    "group",
    "newspaper",
    "network",
    "label",
    "museum",
    "hospital",
    "church",
    "department",
    "ministry",
    "committee",
    "board",
    "academy",
    "institute",
    "side",
    "franchise",
    "orchestra",
    "studio",
    "business",
    "airline",
    "unit",
    "squadron",
    "regiment",
    "division",
    "magazine",
    "publication",
    "outlet",
    "station",
    "channel",
    "owner",
}
_PERSON_NOUNS = {
    "person",
    "coach",
    "manager",
    "president",
    "spouse",
    "wife",
    "husband",
    "leader",
    "chairman",
    "chairperson",
    "head",
    "director",
    "player",
    "minister",
    "governor",
    "mayor",
    "king",
    "queen",
    "partner",
    "ceo",
    "captain",
    "editor",
    "successor",
    "predecessor",
    "boss",
    "advisor",
    "adviser",
    "supervisor",
    "member",
    "senator",
    "candidate",
    "chancellor",
    "secretary",
    "prime",
    "monarch",
    "general",
    "commander",
    "emperor",
    "empress",
    "ruler",
    "bishop",
    "archbishop",
    "pope",
    "premier",
    "chief",
    "dean",
    "rector",
    "speaker",
    "ambassador",
    "conductor",
    "principal",
    "treasurer",
    "mentor",
    "teacher",
    "founder",
    "chair",
    "executive",
    "officer",
    "trainer",
    "skipper",
    "pastor",
}
_PLACE_NOUNS = {
    "city",
    "country",
    "town",
    "state",
    "place",
    "location",
    "province",
    "region",
    "county",
    "nation",
    "village",
    "capital",
    "continent",
    "island",
    "venue",
    "stadium",
}

# Preferred spaCy entity labels per answer type, best first.
ANSWER_LABELS: dict[str, tuple[str, ...]] = {
    "person": ("PERSON", "ORG", "NORP"),
    "org": ("ORG", "FAC", "GPE", "NORP", "PERSON"),
    "place": ("GPE", "LOC", "FAC", "ORG"),
    "nationality": ("GPE", "NORP"),
    "date": ("DATE",),
    "number": ("CARDINAL", "QUANTITY", "MONEY", "PERCENT"),
    "entity": ("ORG", "PERSON", "GPE", "LOC", "FAC", "NORP", "WORK_OF_ART", "EVENT", "PRODUCT", "LAW"),
    "action": ("ACTION",),
}
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = {
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "for",
    "from",
    "by",
    "with",
    "and",
    "or",
    "did",
    "does",
    "do",
    "was",
    "is",
    "were",
    "are",
    "be",
    "been",
    "which",
    "what",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "how",
    "during",
    "between",
    "before",
    "after",
    "until",
    "since",
    "as",
    "that",
    "this",
    "it",
    "he",
    "she",
    "they",
    "his",
    "her",
    "their",
    "its",
    "has",
    "had",
    "have",
    "work",
    "worked",
    "play",
    "played",
}


def question_type(question: str) -> str:
    """
    The kind of answer a question asks for.

    :param question: the question text.
    :returns: `"action"` (what did X do), `"number"`, `"date"`, `"place"`, `"nationality"`, `"person"`,
        `"org"` or `"entity"` (anything named).
    """
    text = question.lower()
    if _ACTION_PATTERN.search(text):
        return "action"
    if _NUMBER_PATTERN.search(text):
        return "number"
    if _DATE_PATTERN.search(text):
        return "date"
    if _WHERE_ORG_PATTERN.search(text):
        return "org"
    if _PLACE_PATTERN.search(text):
        return "place"
    if _PERSON_PATTERN.search(text):
        return "person"
    if _NATIONALITY_NOUNS & set(_WORD.findall(text)):
        return "nationality"
    for match in _WHICH_WORDS.finditer(text):
        for noun in match.group(1).split():
            kind = _noun_type(noun)
            if kind:
                return kind
    return "entity"


def question_nouns(question: str) -> set[str]:
    """
    The type nouns of a "which/what NOUN" question ("what high school" -> {"school"}): an answer span
    naming one ("Sehwa Girls High School") is very likely the answer.

    :param question: the question text.
    :returns: singular lower-case nouns from the known organisation, person and place nouns.
    """
    known = _ORG_NOUNS | _PERSON_NOUNS | _PLACE_NOUNS
    nouns = set()
    for match in _WHICH_WORDS.finditer(question.lower()):
        for word in match.group(1).split():
            singular = word[:-1] if word.endswith("s") and word[:-1] in known else word
            if singular in known:
                nouns.add(singular)
    return nouns


def _noun_type(noun: str) -> str | None:
    singular = (
        noun[:-1] if noun.endswith("s") and noun[:-1] in _ORG_NOUNS | _PERSON_NOUNS | _PLACE_NOUNS else noun
    )
    if singular in _NATIONALITY_NOUNS:
        return "nationality"
    if singular in _PLACE_NOUNS:
        return "place"
    if singular in _PERSON_NOUNS:
        return "person"
    if singular in _ORG_NOUNS:
        return "org"
    return None


def content_words(text: str) -> set[str]:
    """Lower-case words of a text without stop words or years (the question's content, for overlap)."""
    return {word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS and not word.isdigit()}


def unsupported_words(text: str, evidence: list[str]) -> tuple[list[str], int]:
    """
    The content words (numbers included) of `text` that no evidence text contains, for grounding checks.
    A word counts as found when its first five letters begin a word of the evidence, so inflections
    ("chaired" / "chair", "Norwegian" / "Norway") do not count as new claims.

    :param text: a generated reply.
    :param evidence: the texts the reply may rest on (passages, titles, the question).
    :returns: the unsupported words and the number of content words checked.
    """
    found = {word[:5] for source in evidence for word in _WORD.findall(source.lower())}
    checked = [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]
    return [word for word in checked if word[:5] not in found], len(checked)


def normalize_answer(text: str) -> str:
    """
    SQuAD/DrQA answer normalisation, the one chronorag uses everywhere (the timeline's support, the arbiter,
    the eval's EM/F1): lower case, ASCII punctuation dropped, articles dropped, single spaces.

    :param text: an answer string.
    :returns: the normalised string.
    """
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(word for word in text.split() if word not in _ARTICLES)


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = frozenset({"a", "an", "the"})


def answer_overlap(first: str, second: str) -> float:
    """Token F1 of two answers after `normalize_answer` (0.0 when either is empty): how far two short
    answers name the same thing ("UN High Commissioner for Refugees" / "High Commissioner for Refugees")."""
    left, right = normalize_answer(first).split(), normalize_answer(second).split()
    common = sum((Counter(left) & Counter(right)).values())
    if not common:
        return 0.0
    precision, recall = common / len(left), common / len(right)
    return 2 * precision * recall / (precision + recall)


def answer_contains(text: str, gold: str) -> bool:
    """True when the normalised `gold` answer occurs in the normalised `text` (as whole words)."""
    gold_norm = normalize_answer(gold)
    return bool(gold_norm) and f" {gold_norm} " in f" {normalize_answer(text)} "


# --- dates ------------------------------------------------------------------------------------------
def format_interval(interval: Interval | None) -> str:
    """
    A short human form of an interval: `2010`, `2009–2011`, `March 2010`, `before 2011`, `since 2015`.

    :param interval: the interval, or `None`.
    :returns: the text, `"any time"` for `None`.
    """
    if interval is None or (interval.start is None and interval.end is None):
        return "any time"
    if interval.start is None:
        return f"until {_format_day(interval.end, interval.granularity, end=True)}"
    if interval.end is None:
        return f"since {_format_day(interval.start, interval.granularity, end=False)}"
    first = _format_day(interval.start, interval.granularity, end=False)
    last = _format_day(interval.end, interval.granularity, end=True)
    return first if first == last else f"{first}–{last}"


def _format_day(day: date | None, granularity: Granularity, end: bool) -> str:
    assert day is not None
    whole_year = (day.month, day.day) == ((12, 31) if end else (1, 1))
    if granularity in (Granularity.YEAR, Granularity.DECADE, Granularity.CENTURY) or whole_year:
        return str(day.year)
    if granularity in (Granularity.MONTH, Granularity.SEASON, Granularity.QUARTER):
        return day.strftime("%B %Y")
    return day.isoformat()


def describe_constraint(constraint: TemporalConstraint | None) -> str:
    """
    The asked time in words: the question's own time phrase when the decomposer kept it
    (`"from 2004 to 2005"`), else built from the relation and interval (`"before 2011"`, `"in 2010"`).

    :param constraint: the question's decomposition.
    :returns: the text; `"no time given"` without an interval.
    """
    if constraint is None:
        return "no time given"
    if constraint.relation.value == "as_of" and constraint.interval is None:
        return f"as of {constraint.reference_time.isoformat()}"
    if constraint.interval is None:
        return "no time given"
    if constraint.time_text:
        return constraint.time_text
    interval = constraint.interval
    relation = constraint.relation.value
    if relation == "before" and interval.end is not None:
        return f"before {_format_day(interval.end + timedelta(days=1), interval.granularity, end=False)}"
    if relation == "after" and interval.start is not None:
        return f"after {_format_day(interval.start - timedelta(days=1), interval.granularity, end=True)}"
    return f"{relation.replace('_', ' ') if relation in ('since', 'until', 'as_of', 'around') else 'in'} " + (
        format_interval(interval).removeprefix("since ").removeprefix("until ")
    )


def matched_sentence(doc: Document) -> str:
    """
    The sentence the ranker matched (`meta["matched_sentence"]`), without the title prefix that
    title-prefixed passage texts give the first sentence; `""` when the ranker set none.

    :param doc: a ranked passage.
    :returns: the sentence with single spaces.
    """
    meta = doc.meta or {}
    sentence = " ".join(str(meta.get("matched_sentence") or "").split())
    title = " ".join(str(meta.get("title") or "").split())
    if title and sentence.startswith(f"{title}. "):
        sentence = sentence[len(title) + 2 :]
    return sentence


# --- passages --------------------------------------------------------------------------------------
@dataclass
class Sentence:
    """A sentence of a passage with the time spans inside it."""

    text: str
    char_start: int
    char_end: int
    intervals: list[Interval] = field(default_factory=list)
    inherited: bool = False  # the intervals come from the previous sentence ("He stayed there until...")
    mentions: list[tuple[int, int, Interval]] = field(default_factory=list)  # its own spans, with offsets


def passage_intervals(doc: Document, reference: date | None = None) -> list[tuple[int, int, Interval]]:
    """
    The time spans of a passage as `(char_start, char_end, interval)`, from `meta["time_spans"]`
    (written at ingestion), else extracted now with `chronorag.temporal.extract_mentions`.

    :param doc: the passage.
    :param reference: the day relative expressions ("on Wednesday") are read against when the spans are
        extracted now: the passage's publication date, as ingestion does.
    :returns: spans sorted by position.
    """
    spans = (doc.meta or {}).get("time_spans")
    if spans is None:
        from chronorag.temporal import extract_mentions

        spans = [mention.to_dict() for mention in extract_mentions(doc.content or "", reference=reference)]
    result = []
    for span in spans:
        try:
            result.append((int(span["char_start"]), int(span["char_end"]), Interval.from_dict(span)))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed span is no evidence; the passage is still usable
    return sorted(result, key=lambda item: item[0])


def split_sentences(doc: Document, parsed: Any, reference: date | None = None) -> list[Sentence]:
    """
    The passage's sentences with their time spans; a sentence without its own dates inherits the
    previous sentence's, since narratives state a year once ("In 2004 he joined X. He left in ...").

    :param doc: the passage.
    :param parsed: the spaCy `Doc` of `doc.content`.
    :param reference: the passage's publication date (for spans extracted now, see `passage_intervals`).
    :returns: the sentences in order.
    """
    spans = passage_intervals(doc, reference)
    sentences: list[Sentence] = []
    for sent in _spacy_sentences(parsed):
        mentions = [item for item in spans if item[0] < sent.end_char and item[1] > sent.start_char]
        own = [interval for _, _, interval in mentions]
        sentence = Sentence(sent.text, sent.start_char, sent.end_char, own, mentions=mentions)
        if not own and sentences and sentences[-1].intervals:
            sentence.intervals, sentence.inherited = list(sentences[-1].intervals), True
        sentences.append(sentence)
    return sentences


def _spacy_sentences(parsed: Any) -> list[Any]:
    if parsed.has_annotation("SENT_START") or parsed.has_annotation("DEP"):
        return list(parsed.sents)
    return [parsed[:]]  # a blank pipeline has no sentence boundaries: the passage is one sentence


def interval_fit(intervals: list[Interval], constraint: TemporalConstraint | None) -> float:
    """
    How well a sentence's time spans fit the asked time: 1 when one lies inside it (or it inside one),
    0.8 when two of them bracket it, 0.75 when the only one inside is the first or last year of a
    several-year question, the overlap share otherwise (at most 0.9), 0 for no overlap or no spans;
    0.5 when nothing is asked (no interval).

    :param intervals: the sentence's spans.
    :param constraint: the question's decomposition.
    :returns: a score in [0, 1].
    """
    if constraint is None or constraint.interval is None:
        return 0.5
    asked = constraint.interval
    best = 0.0
    for interval in intervals:
        if interval.contains(asked) or (asked.contains(interval) and not _at_edge(interval, asked)):
            return 1.0
        if asked.contains(interval):
            best = max(best, 0.75)
            continue
        if asked.overlaps(interval):
            shared = min(asked.end_day, interval.end_day) - max(asked.start_day, interval.start_day) + 1
            shorter = min(asked.end_day - asked.start_day, interval.end_day - interval.start_day) + 1
            best = max(best, shared / shorter)
    span = merge_intervals(intervals)
    if len(intervals) > 1 and span is not None and span.contains(asked):
        # "joined in 2013 and stayed until 2015": two dates of one sentence bracket the asked time.
        best = max(best, 0.8)
    return min(best, 0.9)


def _at_edge(interval: Interval, asked: Interval) -> bool:
    """A mention of just the first or last year of a several-year question ("from 1988 to 2011" and
    "... in 1988"): in dated biographies that year usually ends the previous period or starts the next."""
    if asked.start is None or asked.end is None or asked.start.year == asked.end.year:
        return False
    if interval.start is None or interval.end is None or interval.start.year != interval.end.year:
        return False
    return interval.start.year in (asked.start.year, asked.end.year)


def merge_intervals(intervals: list[Interval]) -> Interval | None:
    """The smallest interval covering all given ones, or `None` for none."""
    if not intervals:
        return None
    start = min(intervals, key=lambda interval: interval.start_day)
    end = max(intervals, key=lambda interval: interval.end_day)
    return Interval(start.start, end.end, start.granularity)
