"""Rule-based question decomposition: main content, time relation, interval and ordinal.

MRAG splits a question into its main content and a time constraint with an LLM prompt; here the
same split is made by rules on top of the fast grammar, so it costs microseconds and never calls
spaCy. The steps:

1. find the time expressions of the question (:func:`chronorag.temporal.grammar.scan`, with relative
   expressions resolved against the reference time);
2. pick the constraint: the last expression introduced by a relation cue ("before", "as of",
   "between ... and ..."), outside parentheses (a "(footballer, born 1968)" is part of a name);
3. turn cue + interval into the relation and the constraint's interval ("before 2011" ends on
   2010-12-31, "as of 2021" is the year 2021 itself);
4. remove the cue and the expression from the question and tidy the rest into a fluent question;
5. read the ordinal ("first", "latest", "second") from what is left.

A question anchored to an event rather than a date ("when the new stadium opened", "after the 2020
crash") gets the cue's relation and an :class:`~chronorag.temporal.model.EventAnchor` instead
(:mod:`chronorag.temporal.anchors`); a date outside the anchor phrase still wins, since it is stated
outright.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chronorag.temporal.anchors import AnchorMatch, find_anchor, interval_text
from chronorag.temporal.errors import MAX_QUESTION_CHARS, EmptyQuestionError, QuestionTooLongError
from chronorag.temporal.grammar import Match, scan
from chronorag.temporal.model import EventAnchor, Interval, Ordinal, Relation, TemporalConstraint

# Cue phrases before a time expression, longest first so "no later than" wins over "than".
_CUES: dict[str, Relation] = {
    "as of": Relation.AS_OF, "as at": Relation.AS_OF, "as on": Relation.AS_OF,
    "prior to": Relation.BEFORE, "before": Relation.BEFORE, "earlier than": Relation.BEFORE,
    "previous to": Relation.BEFORE, "ahead of": Relation.BEFORE, "pre-": Relation.BEFORE,
    "after": Relation.AFTER, "later than": Relation.AFTER, "following": Relation.AFTER,
    "subsequent to": Relation.AFTER, "post-": Relation.AFTER,
    "since": Relation.SINCE, "ever since": Relation.SINCE, "starting": Relation.SINCE,
    "starting in": Relation.SINCE, "starting from": Relation.SINCE, "starting on": Relation.SINCE,
    "beginning in": Relation.SINCE, "from": Relation.SINCE, "as from": Relation.SINCE,
    "until": Relation.UNTIL, "till": Relation.UNTIL, "til": Relation.UNTIL, "up to": Relation.UNTIL,
    "up until": Relation.UNTIL, "through": Relation.UNTIL, "thru": Relation.UNTIL, "by": Relation.UNTIL,
    "no later than": Relation.UNTIL, "not later than": Relation.UNTIL, "at the latest by": Relation.UNTIL,
    "around": Relation.AROUND, "circa": Relation.AROUND, "c.": Relation.AROUND, "ca.": Relation.AROUND,
    "about": Relation.AROUND, "approximately": Relation.AROUND, "roughly": Relation.AROUND,
    "sometime around": Relation.AROUND, "near": Relation.AROUND,
    "on": Relation.ON,
    "in": Relation.IN, "during": Relation.IN, "throughout": Relation.IN, "within": Relation.IN,
    "over": Relation.IN, "at": Relation.IN, "for": Relation.IN, "of": Relation.IN,
    "in the course of": Relation.IN,
    "between": Relation.BETWEEN, "in between": Relation.BETWEEN,
}  # fmt: skip
_CUE_ALTERNATION = "|".join(re.escape(cue) for cue in sorted(_CUES, key=len, reverse=True))
# The cue, optional intensifiers before it ("right before") and fillers after it ("the period", "the year").
_CUE_BEFORE = re.compile(
    r"(?:^|(?<=[\s(,;]))(?P<cue>(?P<int>(?:right|just|shortly|immediately|sometime|some\s+time|even|only)\s+)?(?:"
    + _CUE_ALTERNATION
    + r"))(?P<fill>\s+(?:the\s+)?(?:(?:year|years|period|time|date|month|decade|season)\s+(?:of\s+)?)?)?\s*$",
    re.IGNORECASE,
)
_SUFFIX_CUES = (
    (
        re.compile(
            r"^\s*(?:to|until|till|through)\s+(?:the\s+)?(?:present(?:\s+day)?|now|today|date)\b", re.I
        ),
        Relation.SINCE,
    ),
    (
        re.compile(
            r"^\s*(?:onwards?|and\s+(?:later|after|beyond|since)|or\s+later|and\s+on)\b(?=\s*(?:[?.!,;)]|$))",
            re.I,
        ),
        Relation.SINCE,
    ),
    (
        re.compile(r"^\s*(?:and\s+(?:earlier|before)|or\s+(?:earlier|before))\b(?=\s*(?:[?.!,;)]|$))", re.I),
        Relation.UNTIL,
    ),
)
# "now" and friends: the present of the question (the grammar does not read "now" in passages).
_NOW = re.compile(
    r"\b(?:as\s+of\s+)?(?:right\s+now|now|nowadays|currently|presently|at\s+present|at\s+the\s+moment|these\s+days"
    r"|(?<!\bup\s)to\s+date|as\s+of\s+today|today)\b",
    re.IGNORECASE,
)
_INTENSIFIABLE = (Relation.BEFORE, Relation.AFTER, Relation.AROUND, Relation.SINCE)
_INTENSIFIERS = re.compile(r"^(?:right|just|shortly|immediately|sometime|some\s+time|even|only)\s+", re.I)

_ORDINAL_PATTERNS = (
    (re.compile(r"\b(?:latest|lastest|most\s+recent(?:ly)?|current(?:ly)?|newest|present|incumbent|now)\b",
                re.I), Ordinal.LATEST),
    (re.compile(r"\bearliest\b", re.I), Ordinal.EARLIEST),
    (re.compile(r"\blast\b", re.I), Ordinal.LAST),
    (re.compile(r"(?:^|(?<=[^\w]))(?:first|First(?=\s+[a-z])|FIRST)\b"), Ordinal.FIRST),
)  # fmt: skip
_NTH_WORDS = {
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12,
}  # fmt: skip
_NTH = re.compile(r"\b(?:(?P<word>" + "|".join(_NTH_WORDS) + r")|(?P<num>\d{1,3})(?:st|nd|rd|th))\b", re.I)


@dataclass(frozen=True)
class _Choice:
    """The chosen time expression, with its cue and the characters to remove from the question."""

    match: Match
    relation: Relation
    remove_start: int
    remove_end: int
    keep_in_content: bool
    interval: Interval | None = None  # set when two cues bound the interval ("after 2005 and before 2011")


def decompose(question: str, as_of: date | datetime | str | None = None) -> TemporalConstraint:
    """Split a question into its main content and its time constraint.

    :param question: the question, in English; newlines and runs of spaces are read as one space.
    :param as_of: the reference time ("now" for the question): a date, or a string in any format
        :func:`chronorag.temporal.dating.parse_publication_date` reads; ``None`` means today.
    :returns: the constraint; relation ``none`` and interval ``None`` when the question states no time.
    :raises EmptyQuestionError: when the question is empty or only whitespace.
    :raises QuestionTooLongError: when the question is longer than 10,000 characters.
    :raises ValueError: when ``as_of`` is given but is not a date.
    """
    if not isinstance(question, str):
        raise EmptyQuestionError(f"the question must be text, not {type(question).__name__}")
    if not question.strip():
        raise EmptyQuestionError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLongError(
            f"the question has {len(question)} characters; the limit is {MAX_QUESTION_CHARS}"
        )
    reference = _reference(as_of)
    text = " ".join(question.split())
    choice = _choose(text, reference)
    anchor = find_anchor(text, reference)
    if anchor is not None and (choice is None or _dates_event(choice, anchor)):
        return _anchored(question, text, anchor, reference)
    if choice is None:
        ordinal, nth = _ordinal(text)
        return TemporalConstraint(question, text, Relation.NONE, None, ordinal, reference, nth, None)
    time_text = text[choice.remove_start : choice.remove_end].strip()
    content = text if choice.keep_in_content else _tidy(text, choice.remove_start, choice.remove_end)
    ordinal, nth = _ordinal(content)
    if ordinal is None and choice.match.kind == "now":
        ordinal = Ordinal.LATEST
    interval = choice.interval or constraint_interval(choice.relation, choice.match.interval)
    return TemporalConstraint(
        question, content, choice.relation, interval, ordinal, reference, nth, time_text
    )


def _dates_event(choice: _Choice, anchor: AnchorMatch) -> bool:
    """Whether the chosen date describes the anchor's event ("after the crash in March 2020", "the 2020
    crash") rather than constraining the question itself ("before Tony Romo as of 2018")."""
    inside = anchor.event_start <= choice.match.start < anchor.end
    return inside and (choice.keep_in_content or choice.relation in (Relation.IN, Relation.ON))


def _anchored(question: str, text: str, found: AnchorMatch, reference: date) -> TemporalConstraint:
    """The constraint of a question anchored to an event: the cue's relation, the anchor's own date as
    the interval until a store resolves the event."""
    content = _tidy(text, found.start, found.end)
    ordinal, nth = _ordinal(content)
    fallback = found.fallback
    interval = constraint_interval(found.relation, fallback) if fallback else None
    if fallback is not None:
        how = f"not resolved yet: the interval is the date written in the anchor ({interval_text(fallback)})"
    else:
        how = "not resolved yet: no date is written in the anchor"
    anchor = EventAnchor(found.event, found.cue.lower(), fallback=fallback, how=how)
    time_text = text[found.start : found.end].strip()
    return TemporalConstraint(
        question, content, found.relation, interval, ordinal, reference, nth, time_text, anchor=anchor
    )


def _reference(as_of: date | datetime | str | None) -> date:
    if as_of is None or as_of == "":
        return date.today()
    from chronorag.temporal.dating import parse_publication_date

    parsed = parse_publication_date(as_of)
    if parsed is None:
        raise ValueError(f"as_of {as_of!r} is not a date (use YYYY-MM-DD)")
    return parsed


def _choose(text: str, reference: date) -> _Choice | None:
    """The time expression that constrains the question, or ``None``."""
    # Words of the present win over the grammar's reading ("currently" is "as of now", not "in").
    matches = [Match(f.start(), f.end(), Interval.day(reference), "now") for f in _NOW.finditer(text)]
    for match in scan(text, reference):
        overlaps = any(match.start < m.end and m.start < match.end for m in matches)
        if not overlaps and not _in_parentheses(text, match.start):
            matches.append(match)
    if not matches:
        return None
    choices = _join_lists(text, [_with_cue(text, match) for match in sorted(matches, key=lambda m: m.start)])
    # A suffix may have swallowed a later expression ("from 1990 to now"): drop what lies inside another.
    choices = [c for c in choices if not any(o is not c and o.remove_start <= c.match.start < o.remove_end
                                             for o in choices)]  # fmt: skip
    cued = [c for c in choices if c.relation is not Relation.IN or c.remove_start < c.match.start]
    if len(cued) >= 2:
        bounded = _bounded(text, cued[-2], cued[-1])
        if bounded is not None:
            return bounded
    return (cued or choices)[-1]


_LIST_GAP = re.compile(r"\s*(?:,\s*)?(?:and|or|&)?\s*", re.IGNORECASE)


def _join_lists(text: str, choices: list[_Choice]) -> list[_Choice]:
    """ "in 1999 and 2000": a second bare expression after "and" shares the first one's cue."""
    joined: list[_Choice] = []
    for choice in choices:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and previous.relation in (Relation.IN, Relation.ON)
            and not previous.keep_in_content
            and choice.remove_start == choice.match.start
            and choice.match.kind == previous.match.kind
            and _LIST_GAP.fullmatch(text[previous.remove_end : choice.match.start])
            and previous.match.interval.start <= choice.match.interval.start
        ):
            first, last = previous.interval or previous.match.interval, choice.match.interval
            interval = Interval(first.start, max(first.end, last.end), first.granularity)
            joined[-1] = _Choice(choice.match, previous.relation, previous.remove_start, choice.remove_end,
                                 False, interval)  # fmt: skip
            continue
        joined.append(choice)
    return joined


_LOWER_BOUNDS = (Relation.AFTER, Relation.SINCE)
_UPPER_BOUNDS = (Relation.BEFORE, Relation.UNTIL)


def _bounded(text: str, first: _Choice, second: _Choice) -> _Choice | None:
    """ "after 2005 and before 2011" is one constraint: between 2006 and 2010."""
    relations = {first.relation, second.relation}
    if not (relations & set(_LOWER_BOUNDS) and relations & set(_UPPER_BOUNDS)) or len(relations) != 2:
        return None
    if not re.fullmatch(r"\s*,?\s*(?:and|but)?\s*", text[first.remove_end : second.remove_start], re.I):
        return None
    low, high = (first, second) if first.relation in _LOWER_BOUNDS else (second, first)
    start = constraint_interval(low.relation, low.match.interval).start
    end = constraint_interval(high.relation, high.match.interval).end
    if start is None or end is None or start > end:
        return None
    granularity = min(low.match.interval.granularity, high.match.interval.granularity, key=lambda g: g.days)
    interval = Interval(start, end, granularity)
    return _Choice(second.match, Relation.BETWEEN, first.remove_start, second.remove_end, False, interval)


def _in_parentheses(text: str, position: int) -> bool:
    before = text[:position]
    return before.count("(") > before.count(")")


def _with_cue(text: str, match: Match) -> _Choice:
    """Read the relation from the words around the expression."""
    if match.kind == "now":
        return _Choice(match, Relation.AS_OF, match.start, match.end, keep_in_content=False)
    start, relation = match.start, None
    if match.lead:
        relation = Relation.BETWEEN
        cue = _CUE_BEFORE.search(text[max(0, start - 40) : start])
        if cue and cue.group("cue").lower() in {"in", "during"}:
            start -= len(cue.group(0))  # "in from 2012 to 2013", "in between 2002 and 2003"
    else:
        cue = _CUE_BEFORE.search(text[max(0, start - 40) : start])
        if cue:
            relation = _CUES[_INTENSIFIERS.sub("", cue.group("cue").lower())]
            start -= len(cue.group(0))
            if cue.group("int") and relation not in _INTENSIFIABLE:
                start += len(cue.group("int"))  # "on the right as of 2021": "right" belongs to the question
    end = match.end
    for pattern, suffix_relation in _SUFFIX_CUES:
        suffix = pattern.match(text[end:])
        if suffix:
            relation, end = suffix_relation, end + suffix.end()
            break
    if relation is None:
        relation = Relation.BETWEEN if match.kind == "range" else Relation.IN
        # A bare modifier ("the 2019 World Series", "1990s music") is part of what is asked about.
        keep = bool(re.match(r"\s*[\w'’]", text[end:])) and match.kind != "relative"
        return _Choice(match, relation, start, end, keep_in_content=keep)
    if _is_modifier(text, match, end):
        # "in the 1995-96 season": the time names the thing asked about, so it stays in the content.
        relation = Relation.BETWEEN if match.kind == "range" else relation
        return _Choice(match, relation, start, end, keep_in_content=True)
    if relation is Relation.BEFORE and re.match(r"(?:the\s+)?end\s+of\b", match_text(text, match), re.I):
        relation = Relation.UNTIL  # "before the end of 1990": up to 31 December 1990
    if relation is Relation.SINCE and match.kind == "range":
        relation = Relation.BETWEEN  # "from 1990-93"
    if relation in (Relation.IN, Relation.ON) and match.kind == "range":
        relation = Relation.BETWEEN  # "during 1990–1993"
    return _Choice(match, relation, start, end, keep_in_content=False)


_FUNCTION_WORDS = frozenset(
    str.split(
        "a an and or but nor in on at of for to from by with as than then so if"
        " who what when where which why how"
        " is was were are be been did do does has had have will would can could should shall may might must"
        " he she it they we you i his her its their our this that these those"
    )
)


def _is_modifier(text: str, match: Match, end: int) -> bool:
    """True for "the 2019 World Series": a year or range after "the" and before a content word."""
    if match.kind not in ("year", "range") or match.lead:
        return False
    if not re.search(r"\bthe\s+$", text[max(0, match.start - 5) : match.start], re.IGNORECASE):
        return False
    following = re.match(r"\s*([A-Za-z][\w'’-]*)", text[end:])
    return bool(following) and following.group(1).lower() not in _FUNCTION_WORDS


def match_text(text: str, match: Match) -> str:
    """The characters of a match."""
    return text[match.start : match.end]


def constraint_interval(relation: Relation, interval: Interval) -> Interval:
    """The days a relation to an interval allows.

    :param relation: the relation asked for.
    :param interval: the time (or event) it relates to.
    :returns: "before 2011" ends on 2010-12-31, "after May 2019" starts on 2019-06-01, "since 2011" starts
        on 2011-01-01, "as of 2021" and "in 2021" are 2021 itself.
    """
    if relation is Relation.BEFORE and interval.start is not None:
        return Interval(None, _shift(interval.start, -1), interval.granularity)
    if relation is Relation.AFTER and interval.end is not None:
        return Interval(_shift(interval.end, 1), None, interval.granularity)
    if relation is Relation.SINCE:
        return Interval(interval.start, None, interval.granularity)
    if relation is Relation.UNTIL:
        return Interval(None, interval.end, interval.granularity)
    return interval


def _shift(day: date, days: int) -> date:
    """``day`` moved by ``days``, held at the calendar's ends (a reference time of 9999-12-31)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return day


def _tidy(text: str, start: int, end: int) -> str:
    """Remove ``text[start:end]`` and leave a fluent question."""
    head, tail = text[:start].rstrip(), text[end:].lstrip()
    if not head:
        tail = re.sub(r"^[,;:]\s*", "", tail)
        if text[:1].isupper() and tail:
            tail = tail[0].upper() + tail[1:]
    joined = f"{head} {tail}" if head and tail and not re.match(r"[?.!,;:)]", tail) else head + tail
    joined = re.sub(r"\s+([?.!,;:)])", r"\1", joined)
    joined = re.sub(r",\s*([?.!])", r"\1", joined)
    joined = re.sub(r"\(\s*\)", "", joined)
    joined = re.sub(r"\s{2,}", " ", joined).strip(" ,;:")
    if not re.search(r"\w", joined):
        return text  # the question was only a time phrase: keep it whole
    return joined


def _ordinal(content: str) -> tuple[Ordinal | None, int | None]:
    """The first ordinal word of the content, and n for nth ordinals."""
    found: list[tuple[int, Ordinal, int | None]] = []
    for pattern, ordinal in _ORDINAL_PATTERNS:
        match = pattern.search(content)
        if match:
            found.append((match.start(), ordinal, None))
    nth = _NTH.search(content)
    if nth:
        number = _NTH_WORDS[nth["word"].lower()] if nth["word"] else int(nth["num"])
        if number == 1:
            found.append((nth.start(), Ordinal.FIRST, None))
        elif number > 1:
            found.append((nth.start(), Ordinal.NTH, number))
    if not found:
        return None, None
    _position, ordinal, number = min(found, key=lambda item: item[0])
    return ordinal, number
