"""Time expression extraction: a fast regex path and a full spaCy + dateparser path.

The fast path (:mod:`chronorag.temporal.grammar`) covers the forms that carry most of the dates in
encyclopaedic and news text (years, ISO and written dates, month-year, decades, seasons, quarters,
ranges) and is cheap enough for whole corpora. The full path adds spaCy DATE entities the rules did
not cover ("Christmas 2019", "the summer of '69") and normalises them with dateparser, guarding
against its habit of filling missing parts from today's date.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from chronorag.temporal.grammar import MAX_YEAR, MIN_YEAR, scan
from chronorag.temporal.model import Granularity, Interval, TimeMention

MODES = ("fast", "full")
# Raised whenever extraction reads a text differently: a document's content hash includes it, so re-indexing
# a store re-reads every document's spans (they are read at ingestion). 2: open-ended spans ("since 2012").
SPANS_VERSION = 2

# Entities that are durations or frequencies, not points in time ("three years", "annual").
_DURATION = re.compile(
    r"(?:(?:the\s+)?(?:past|last|next|first|few|several|many|\d+|\w+)\s+)?(?:\w+\s+)?"
    r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries)(?:\s+old|\s+long)?"
    r"|annual(?:ly)?|daily|weekly|monthly|yearly|quarterly|(?:the\s+)?age\s+of\s+\d+|\d+\s*-\s*years?\s*-\s*old",
    re.IGNORECASE,
)
# An entity must name a point in time: a month, a 4-digit or apostrophe year, a weekday, a season, a
# holiday or a relative word. Bare numbers ("55", an age) and spans ("5-6 days", "five-year") do not.
_POINT_HINT = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b\d{4}\b|['’]\d\d\b"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day|\b(?:spring|summer|autumn|fall|winter|christmas|easter"
    r"|new\s+year|thanksgiving|halloween|ago|yesterday|today|tomorrow|tonight|last|next|this)\b",
    re.IGNORECASE,
)
_RELATIVE_HINT = re.compile(
    r"\b(?:ago|last|next|this|yesterday|today|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
# A stated time that opens a state which still holds: "since 2012", "2015–present", "from 2000 onwards".
# The interval is then open at its end (what the ranker, the store's span index and the answer timeline read);
# the mention's text and offsets stay those of the date itself, so the words around it keep their meaning
# for the readers that look at them (the answer timeline's start and end cues).
_OPEN_LEAD = re.compile(r"\b(?:ever\s+)?since\s+(?:the\s+)?(?:(?:early|mid|late)[\s-]+)?$", re.IGNORECASE)
_OPEN_TRAIL = re.compile(
    r"\s*(?:(?:[-–—]|to|until|till)\s*(?:the\s+)?(?:present|date|today|now)\b|onwards?\b)", re.IGNORECASE
)
_FROM_LEAD = re.compile(r"\bfrom\s+$", re.IGNORECASE)
_ON_TRAIL = re.compile(r"\s+on\b(?!\s+(?:the|a|an|\d))", re.IGNORECASE)
_PERIOD_GRANULARITY = {"day": Granularity.DAY, "week": Granularity.WEEK, "month": Granularity.MONTH,
                       "year": Granularity.YEAR, "time": Granularity.DAY}  # fmt: skip


def extract_mentions(text: str, reference: date | None = None, mode: str = "fast") -> list[TimeMention]:
    """Find every time expression in a text and normalise it to an interval.

    :param text: any text (a passage, an article, a question).
    :param reference: the day relative expressions ("last year", "three weeks ago", "on Monday") are
        resolved against; ``None`` skips them, because their dates are then unknown.
    :param mode: ``"fast"`` for the regex path only, ``"full"`` to add spaCy DATE entities normalised by
        dateparser (slower, for small texts and questions).
    :returns: the mentions in text order, non-overlapping.
    :raises ValueError: when ``mode`` is not ``"fast"`` or ``"full"``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if not isinstance(text, str) or not text:
        return []
    if isinstance(reference, datetime):
        reference = reference.date()  # intervals are whole days
    mentions = [
        TimeMention(text[m.start : m.end], m.start, m.end, _held_from(text, m.start, m.end, m.interval))
        for m in scan(text, reference)
    ]
    if mode == "full":
        mentions = _add_entities(text, reference, mentions)
    return mentions


def _held_from(text: str, start: int, end: int, interval: Interval) -> Interval:
    """The interval of a date at ``text[start:end]``, open at its end when the words around it say the state
    it dates still holds ("since 2012", "2015–present", "from 2000 onwards", "from 2000 on")."""
    if interval.start is None or interval.end is None:
        return interval
    before = text[max(0, start - 25) : start]
    opened = (
        _OPEN_LEAD.search(before)
        or _OPEN_TRAIL.match(text, end)
        or (_FROM_LEAD.search(before) and _ON_TRAIL.match(text, end))
    )
    return Interval(interval.start, None, interval.granularity) if opened else interval


def _add_entities(text: str, reference: date | None, mentions: list[TimeMention]) -> list[TimeMention]:
    """Add the spaCy DATE entities that no rule covered, normalised by dateparser."""
    from chronorag.models import get_spacy

    nlp = get_spacy()
    found = list(mentions)
    for entity in nlp(text).ents:
        if entity.label_ != "DATE":
            continue
        start, end = entity.start_char, entity.end_char
        if any(start < m.char_end and m.char_start < end for m in mentions):
            continue  # the rules already read (part of) this entity, and read it more reliably
        interval = normalise_with_dateparser(entity.text, reference)
        if interval is not None:
            found.append(TimeMention(entity.text, start, end, interval))
    found.sort(key=lambda m: m.char_start)
    return found


def normalise_with_dateparser(phrase: str, reference: date | None = None) -> Interval | None:
    """Normalise one date phrase with dateparser, or return ``None`` when it is not a dated point.

    dateparser fills missing parts from today and reads durations as dates; this wrapper rejects
    durations, never lets a relative phrase resolve against today when no reference is given, and
    turns dateparser's detected period into the interval's granularity.

    :param phrase: the phrase, e.g. a spaCy DATE entity.
    :param reference: the day relative phrases are resolved against.
    :returns: the interval, or ``None``.
    """
    phrase = " ".join(phrase.split())
    if not phrase or _DURATION.fullmatch(phrase) or not _POINT_HINT.search(phrase):
        return None
    if re.search(
        r"\d\s*[-–]\s*\d+\s+(?:days?|weeks?|months?|years?)|\w+-(?:day|week|month|year)\b", phrase, re.I
    ):
        return None  # "5-6 days", "five-year": a length of time
    if reference is None and (_RELATIVE_HINT.search(phrase) or not re.search(r"\d", phrase)):
        return None
    own = scan(phrase, reference)
    if own:
        return own[0].interval
    try:
        from dateparser.date import DateDataParser

        base = datetime.combine(reference or date.today(), datetime.min.time())
        parser = DateDataParser(
            languages=["en"],
            settings={"PREFER_DAY_OF_MONTH": "first", "RELATIVE_BASE": base, "PREFER_DATES_FROM": "past",
                      "RETURN_AS_TIMEZONE_AWARE": False},
        )  # fmt: skip
        data = parser.get_date_data(phrase)
    except Exception:  # dateparser raises assorted errors on odd input; a phrase it cannot read is no date
        return None
    if data is None or data.date_obj is None:
        return None
    day = data.date_obj.date()
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        return None
    if reference is None and not re.search(r"\b\d{4}\b", phrase):
        return None  # without a stated year dateparser took today's: unknown
    return _period_interval(day, data.period or "day")


def _period_interval(day: date, period: str) -> Interval:
    granularity = _PERIOD_GRANULARITY.get(period, Granularity.DAY)
    if granularity is Granularity.YEAR:
        return Interval.year(day.year)
    if granularity is Granularity.MONTH:
        return Interval.month(day.year, day.month)
    if granularity is Granularity.WEEK:
        monday = day - timedelta(days=day.weekday())
        return Interval(monday, monday + timedelta(days=6), Granularity.WEEK)
    return Interval.day(day)
