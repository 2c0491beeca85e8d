"""The answer timeline: candidate answers of the top passages, each with the interval it holds, and the
choice of the one valid for the question's time constraint.

LLMs are unreliable at before/after and "as of" reasoning, so the code does it:

1. every answer span of the asked type is attached to the time written for it: the mention in its own
   clause (dependency parse), else the nearest one in its sentence, else the sentence before's, else the
   passage's publication date;
2. the words around that time say what it marks: a range ("from 2004 to 2006") is when the answer held,
   "since 2016" / "joined in 2004" its start, "until 2005" / "left in 2005" its end, "defeated X" the end
   of X and the start of the winner, a bare year a point;
3. an answer with only a start holds until the next answer of the same kind in the same source starts
   (Tom Hale: 2016 to 2022-11-08, Jane Okafor: from 2022-11-08); one with only an end held since the
   previous one changed;
4. each answer's held interval is scored against the constraint's relation, interval, ordinal and
   reference time, together with how well its sentence matches the question and the passage's rank.

When no candidate holds for the asked time, or two sources give different answers for it with equal
support, the timeline abstains and says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chronorag.pipeline.answer_spans import Span, doc_text
from chronorag.pipeline.evidence import Sentence, content_words
from chronorag.temporal.model import MAX_DAY, MIN_DAY, Interval, Ordinal, Relation, TemporalConstraint

# Roles of the time attached to an answer, from surest to weakest.
RANGE, START, END, POINT, INHERITED, PUBLISHED, UNDATED = (
    "range",
    "start",
    "end",
    "point",
    "inherited",
    "published",
    "undated",
)
EXPLICIT_ROLES = (RANGE, START, END, POINT)
ROLES = (RANGE, START, END, POINT, INHERITED, PUBLISHED, UNDATED)

_START_CUES = re.compile(
    r"(?:\bsince|\bfrom|\bstarting(?:\s+(?:in|on|from))?|\bbeginning(?:\s+(?:in|on))?|\bas\s+of|\beffective)\s*$",
    re.IGNORECASE,
)
_END_CUES = re.compile(r"(?:\buntil|\btill|\bup\s+to|\bthrough|\bby|\bto)\s*$", re.IGNORECASE)
_BEFORE_CUE = re.compile(r"\b(?:before|prior\s+to)\s*$", re.IGNORECASE)
_AFTER_CUE = re.compile(r"\b(?:after|following)\s*$", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r";|\s[–—]\s|\s-\s")
_BEFORE_WORD = re.compile(r"\b(?:before|prior\s+to)\b", re.IGNORECASE)
_AFTER_WORD = re.compile(r"\b(?:after|following)\b", re.IGNORECASE)
# Verbs whose date starts (or ends) what their subject and object hold.
START_VERBS = {
    "join", "become", "appoint", "elect", "sign", "move", "transfer", "found", "establish", "hire",
    "name", "assume", "acquire", "buy", "purchase", "marry", "enter", "enrol", "enroll", "start",
    "begin", "take", "win", "succeed", "replace", "inaugurate", "launch", "open", "promote", "recruit",
    "draft", "select", "nominate", "install", "swear", "rejoin", "return", "re-elect", "reelect",
    "create", "form", "merge", "rename",
}  # fmt: skip
END_VERBS = {
    "leave", "resign", "retire", "depart", "quit", "die", "sell", "close", "end", "fire", "dismiss",
    "sack", "divorce", "release", "lose", "step", "graduate", "abolish", "dissolve", "disband", "defeat",
    "oust", "unseat", "replace", "succeed", "finish", "expire", "terminate", "vacate", "relegate",
}  # fmt: skip
# Verbs where the subject starts and the object ends ("Jane Okafor defeated Tom Hale").
TAKEOVER_VERBS = {"defeat", "succeed", "replace", "oust", "unseat", "beat", "overthrow", "depose"}


@dataclass
class TimelineEntry:
    """One candidate answer of the timeline, with the time written for it and the interval it holds."""

    answer: str
    label: str
    passage: int
    doc_id: str | None
    source: str
    published: date | None
    sentence: str
    char_start: int
    char_end: int
    role: str
    stated: Interval | None
    anchor_text: str | None = None
    holds: Interval | None = None
    extended: bool = False
    relevance: float = 0.0
    type_fit: float = 0.0
    time_fit: float = 0.0
    score: float = 0.0
    support: list[int] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)  # what the score weighs, besides time_fit

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in the pipeline's outputs and the answer object.

        :returns: `{answer, label, passage, id, date, role, anchor, holds: {start, end}|None, time, sentence,
            fit, score, passages}`.
        """
        return {
            "answer": self.answer,
            "label": self.label,
            "passage": self.passage,
            "id": self.doc_id,
            "date": self.published.isoformat() if self.published else None,
            "role": self.role,
            "anchor": self.anchor_text,
            "holds": _interval_dict(self.holds),
            "time": describe_holds(self.holds, self.role),
            "sentence": self.sentence,
            "fit": round(self.time_fit, 4),
            "score": round(self.score, 4),
            "passages": sorted(set(self.support or [self.passage])),
        }


def _interval_dict(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {
        "start": interval.start.isoformat() if interval.start else None,
        "end": interval.end.isoformat() if interval.end else None,
    }


def describe_holds(holds: Interval | None, role: str) -> str | None:
    """The held interval in words: "2016 to 2022-11-08", "from 2022-11-08", "until 2005", "in 2010".

    :param holds: the interval the answer holds.
    :param role: the entry's role (a publication date is written "as of").
    :returns: the text, or `None` for an unknown time.
    """
    if holds is None or (holds.start is None and holds.end is None):
        return None
    first = _day_text(holds.start, start=True) if holds.start else None
    last = _day_text(holds.end, start=False) if holds.end else None
    if role == PUBLISHED:
        return f"as of {first}"
    if first is None:
        return f"until {last}"
    if last is None:
        return f"from {first}"
    return first if first == last else f"{first} to {last}"


def _day_text(day: date, start: bool) -> str:
    """A day at the precision it carries: a year's first (or last) day is the year, a month's the month."""
    if (day.month, day.day) == ((1, 1) if start else (12, 31)):
        return str(day.year)
    month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if day.day == 1 if start else day == month_end:
        return day.strftime("%B %Y")
    return day.isoformat()


# --- anchoring a span to its time ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Anchor:
    """The time written for an answer span: what it marks, its interval, its text, and how closely it
    belongs to the span (3: it modifies the span, 2: same verb, 1: a clause of the span's verb, 0: only
    the same sentence) and how far from the span it is written (characters)."""

    role: str
    interval: Interval | None
    text: str | None = None
    attachment: int = 0
    distance: float = 0.0


def anchor_span(
    span: Span, sentence: Sentence, parsed: Any, published: date | None, previous: Sentence | None = None
) -> Anchor:
    """
    The time written for an answer span and what it marks.

    :param span: the answer span (offsets into the passage).
    :param sentence: its sentence, with the time mentions inside it.
    :param parsed: the passage's spaCy `Doc` (dependency parse, for clause attachment).
    :param published: the passage's publication date.
    :param previous: the last earlier sentence with dates of its own (what a dateless sentence inherits).
    :returns: the anchor; its role one of range/start/end/point/inherited/published/undated.
    """
    if not sentence.mentions:
        if sentence.intervals and previous is not None and previous.mentions:
            start, end, interval = previous.mentions[-1]
            if _END_CUES.search(doc_text(parsed)[max(0, start - 25) : start]):
                # "remained in Germany until 2004. She moved to ... A": what follows starts then.
                return Anchor(START, interval, doc_text(parsed)[start:end])
        if sentence.intervals:
            return Anchor(INHERITED, _merged(sentence.intervals))
        if published is not None:
            return Anchor(PUBLISHED, Interval.day(published))
        return Anchor(UNDATED, None)
    (start, end, interval), attachment, distance = _attached_mention(span, sentence, parsed)
    text = doc_text(parsed)[start:end]
    role = _mention_role(span, parsed, start, end, interval)
    if role in (START, POINT):
        closing = _closing_mention(parsed, sentence, start, end)
        if (
            closing is not None
            and closing[2].end is not None
            and closing[2].end >= (interval.start or date.min)
        ):
            # "returned as manager in 2013 and stayed until 2015": one stretch, 2013 to 2015.
            stretch = Interval(interval.start, closing[2].end, interval.granularity)
            return Anchor(RANGE, stretch, doc_text(parsed)[start : closing[1]], attachment, distance)
    return Anchor(role, interval, text, attachment, distance)


def _merged(intervals: list[Interval]) -> Interval:
    # A later sentence told after "since 1979" happened after 1979, not for as long as that state held.
    intervals = [interval.stated_start() for interval in intervals]
    first = min(intervals, key=lambda interval: interval.start_day)
    last = max(intervals, key=lambda interval: interval.end_day)
    return Interval(first.start, last.end, first.granularity)


def _attached_mention(
    span: Span, sentence: Sentence, parsed: Any
) -> tuple[tuple[int, int, Interval], int, float]:
    """The mention of the span's own clause (ties, and sentences without a parse, go to the nearest), with
    its attachment strength and distance."""
    span_tokens = _tokens(parsed, span.char_start, span.char_end)
    centre = (span.char_start + span.char_end) / 2
    scored = []
    for mention in sentence.mentions:
        start, end, _ = mention
        distance = 0.0 if start <= centre <= end else min(abs(centre - start), abs(centre - end))
        between = doc_text(parsed)[min(span.char_end, end) : max(span.char_start, start)]
        # A semicolon or dash separates clauses whatever the parse says ("In 1889 it was named after X;
        # in 1892 it was renamed Y").
        apart = 1 if _CLAUSE_BREAK.search(between) else 0
        attachment = 0 if apart else _attachment(span_tokens, _tokens(parsed, start, end))
        scored.append((apart, -attachment, distance, mention))
    apart, attachment, distance, mention = min(scored, key=lambda item: item[:3])
    return mention, -attachment, distance


def _tokens(parsed: Any, start: int, end: int) -> list[Any]:
    found = parsed.char_span(start, end, alignment_mode="expand")
    return list(found) if found is not None else []


def _closing_mention(
    parsed: Any, sentence: Sentence, start: int, end: int
) -> tuple[int, int, Interval] | None:
    """A later "until/till/to DATE" of the same or a coordinated verb, which ends what `start` began."""
    if not parsed.has_annotation("DEP"):
        return None
    opening = _tokens(parsed, start, end)
    opening_verb = _verb_of(opening[0]) if opening else None
    if opening_verb is None:
        return None
    for later in sentence.mentions:
        if later[0] <= end or not _END_CUES.search(doc_text(parsed)[max(0, later[0] - 25) : later[0]]):
            continue
        tokens = _tokens(parsed, later[0], later[1])
        verb = _verb_of(tokens[0]) if tokens else None
        if verb is not None and (verb.i == opening_verb.i or verb.head.i == opening_verb.i):
            return later
    return None


def _attachment(span_tokens: list[Any], mention_tokens: list[Any]) -> int:
    """How closely a time mention belongs to a span: 3 when it modifies the span itself ("Tom Hale, who
    served since 2016"; "coach of X from 2004"), 2 when both hang on one verb, 0 otherwise."""
    if not span_tokens or not mention_tokens or not span_tokens[0].doc.has_annotation("DEP"):
        return 0
    span_ids = {token.i for token in span_tokens}
    mention_root = min(mention_tokens, key=lambda token: _depth(token))
    mention_verb = _verb_of(mention_root)
    if mention_verb is not None and mention_verb.dep_ in ("relcl", "acl") and mention_verb.head.i in span_ids:
        return 3
    for ancestor in mention_root.ancestors:
        if ancestor.i in span_ids:
            return 3
        if ancestor.pos_ in ("VERB", "AUX"):
            break
    span_root = min(span_tokens, key=lambda token: _depth(token))
    span_verb = _verb_of(span_root)
    if span_verb is not None and mention_verb is not None and span_verb.i == mention_verb.i:
        return 2
    if span_verb is not None and mention_verb is not None and mention_verb.head.i == span_verb.i:
        # "X joined Y in 2004 as coach": the mention hangs on a clause of the span's verb.
        return 1
    return 0


# A clause that states an intention, not a fact: "would acquire", "will join", "agreed to buy".
_MODALS = {"will", "shall", "could", "might", "may", "should", "would", "'ll", "wo"}
_PLAN_VERBS = {
    "plan", "expect", "intend", "agree", "propose", "seek", "hope", "aim", "try", "attempt", "offer",
}  # fmt: skip
# "would later join": English tells realised history in the future-in-the-past; these words mark it.
_REALISED = {"later", "eventually", "subsequently", "soon", "go", "then", "ultimately"}


def planned(span: Span, parsed: Any) -> bool:
    """
    True when the span's clause states a plan or a possibility rather than what happened ("Polish
    Aviation Group would acquire Condor", "is expected to join", "agreed to buy"), so the time written
    for it is not a time the span held.

    :param span: the answer span (offsets into the passage).
    :param parsed: the passage's spaCy `Doc` (needs the dependency parse).
    :returns: whether the clause is unrealised.
    """
    if not parsed.has_annotation("DEP"):
        return False
    tokens = _tokens(parsed, span.char_start, span.char_end)
    if not tokens:
        return False
    verb = _verb_of(min(tokens, key=_depth).head)
    if verb is None:
        return False
    if verb.dep_ == "xcomp" and verb.head.lemma_.lower() in _PLAN_VERBS:
        return True
    words = {child.lower_ for child in verb.children} | {child.lemma_.lower() for child in verb.children}
    modal = any(child.dep_ == "aux" and child.lower_ in _MODALS for child in verb.children)
    return modal and not words & _REALISED


def _depth(token: Any) -> int:
    depth = 0
    while token.head.i != token.i and depth < 50:
        token = token.head
        depth += 1
    return depth


def _verb_of(token: Any) -> Any:
    """The nearest verb at or above a token (the clause it belongs to), or `None`."""
    current = token
    for _ in range(50):
        if current.pos_ in ("VERB", "AUX"):
            return current
        if current.head.i == current.i:
            return None
        current = current.head
    return None


def _mention_role(span: Span, parsed: Any, start: int, end: int, interval: Interval) -> str:
    """What a single mention marks for the span: range, start, end or point."""
    if _is_range(doc_text(parsed)[start:end], interval):
        return RANGE
    if span.char_end <= start:
        # "served in the Air Force before joining the Guard in 1982": the span's time ends at the date.
        between = doc_text(parsed)[span.char_end : start]
        if _BEFORE_WORD.search(between) and not _span_governs(parsed, span, start, end):
            return END
        if _AFTER_WORD.search(between) and not _span_governs(parsed, span, start, end):
            return START
    before = doc_text(parsed)[max(0, start - 25) : start]
    if _START_CUES.search(before) or _AFTER_CUE.search(before):
        return START
    if _END_CUES.search(before) or _BEFORE_CUE.search(before):
        return END
    mention_tokens = _tokens(parsed, start, end)
    verb = _verb_of(mention_tokens[0]) if mention_tokens and parsed.has_annotation("DEP") else None
    if verb is None:
        return POINT
    lemma = verb.lemma_.lower()
    span_tokens = {token.i for token in _tokens(parsed, span.char_start, span.char_end)}
    if lemma in TAKEOVER_VERBS:
        objects = {t.i for child in verb.children if child.dep_ in ("dobj", "pobj") for t in child.subtree}
        return END if span_tokens & objects else START
    if lemma in START_VERBS:
        return START
    if lemma in END_VERBS:
        return END
    return POINT


def _span_governs(parsed: Any, span: Span, start: int, end: int) -> bool:
    """True when the mention modifies the span itself (then "before" is the span's own business)."""
    mentions = _tokens(parsed, start, end)
    return bool(mentions) and _attachment(_tokens(parsed, span.char_start, span.char_end), mentions) == 3


def _is_range(text: str, interval: Interval) -> bool:
    """A mention stating a stretch of time ("from 2004 to 2006", "2004–2006"), not one point of it."""
    if re.search(r"\d\s*[-–—]\s*\d|\b(?:to|until|till|through|and)\b", text, re.IGNORECASE):
        return True
    return (
        interval.start is not None and interval.end is not None and interval.start.year != interval.end.year
    )


# --- the held intervals ---------------------------------------------------------------------------------
def resolve_holds(entries: list[TimelineEntry]) -> None:
    """
    Give every entry the interval it holds: a range holds as stated; a start holds until the next
    different answer of the same kind and source starts; an end since the previous one changed; a
    point (a bare year) holds on that point, extended to the next change when the sentence says
    nothing more (marked `extended`). Inherited and publication times hold as they are.

    :param entries: the timeline's entries (changed in place).
    """
    groups: dict[tuple[str, str], list[TimelineEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.source, entry.label), []).append(entry)
    for group in groups.values():
        changes = sorted(
            (
                (entry.stated.start_day, entry.stated, entry.answer)
                for entry in group
                if entry.role in (RANGE, START, POINT) and entry.stated is not None and entry.stated.start
            ),
            key=lambda item: item[0],
        )
        endings = sorted(
            (
                (entry.stated.end_day, entry.stated, entry.answer)
                for entry in group
                if entry.role in (RANGE, END) and entry.stated is not None and entry.stated.end
            ),
            key=lambda item: item[0],
        )
        for entry in group:
            entry.holds = _held(entry, changes, endings)


def _held(
    entry: TimelineEntry,
    changes: list[tuple[int, Interval, str]],
    endings: list[tuple[int, Interval, str]],
) -> Interval | None:
    stated = entry.stated
    if stated is None:
        return None
    if entry.role in (RANGE, INHERITED, PUBLISHED):
        return stated
    if entry.role == END:
        previous = [item for item in endings if item[0] < stated.start_day and item[2] != entry.answer]
        previous += [item for item in changes if item[0] < stated.start_day and item[2] != entry.answer]
        begin = max(previous, key=lambda item: item[0])[1].start if previous else None
        return Interval(begin, stated.end, stated.granularity)
    following = [
        item
        for item in changes
        if item[0] > stated.start_day and item[2] != entry.answer and item[1].start != stated.start
    ]
    # The change year itself counts for both: "joined X in 2004, moved to Y in 2006" -> X held in 2006.
    until = min(following, key=lambda item: item[0])[1].end if following else None
    own_end = [item[1].end for item in endings if item[2] == entry.answer and item[0] >= stated.end_day]
    if own_end and (until is None or min(own_end) < until):
        until = min(own_end)  # "returned in 2013 and stayed until 2015"
    if entry.role == START:
        return Interval(stated.start, until, stated.granularity)
    entry.extended = True
    return Interval(stated.start, until if until is not None else stated.end, stated.granularity)


# --- fitting the constraint -----------------------------------------------------------------------------
def time_fit(
    entry: TimelineEntry, constraint: TemporalConstraint | None, others: list[TimelineEntry]
) -> float:
    """
    How well the interval an entry holds answers the constraint, in [0, 1].

    :param entry: the entry (with `holds` resolved).
    :param constraint: the question's decomposition; `None` or no time asked gives 0.5 to dated and
        undated entries alike.
    :param others: every entry of the timeline (ordinals compare starts among them).
    :returns: the fit.
    """
    if constraint is None:
        return 0.5
    holds = entry.holds
    ordinal = constraint.ordinal
    if ordinal in (Ordinal.FIRST, Ordinal.EARLIEST, Ordinal.LAST, Ordinal.LATEST, Ordinal.NTH):
        ordinal_fit = _ordinal_fit(entry, constraint, others)
        if constraint.interval is None or ordinal_fit == 0.0:
            return ordinal_fit
    asked = constraint.interval
    relation = constraint.relation
    reference = constraint.reference_time
    if asked is None:
        if relation == Relation.AS_OF:
            return _at_day(holds, reference, entry.role)
        # No time asked: what holds now counts a little more than what held once.
        return 0.4 + 0.2 * _at_day(holds, reference, entry.role)
    if holds is None:
        return 0.0
    holds = _capped(holds, reference)
    if relation == Relation.BEFORE:
        return _before_fit(holds, asked)
    if relation == Relation.AFTER:
        return _after_fit(holds, asked)
    if relation == Relation.AS_OF and asked.end is not None:
        return _at_day(holds, asked.end, entry.role)
    if entry.role in (POINT, INHERITED, PUBLISHED) and entry.stated is not None:
        # A dated event inside the asked time answers it; its extension to the next change is a guess.
        return max(
            _event_fit(entry.stated, asked), 0.9 * _overlap_fit(holds, asked) if entry.extended else 0.0
        )
    return _overlap_fit(holds, asked)


def _capped(holds: Interval, reference: date) -> Interval:
    """An open end stops at the reference time: nothing is known of what holds after "now"."""
    if holds.end is None and holds.start is not None and holds.start <= reference:
        return Interval(holds.start, reference, holds.granularity)
    return holds


def _overlap_fit(holds: Interval, asked: Interval) -> float:
    """The share of the asked interval the answer covers, lowered a little when it held far longer."""
    if not holds.overlaps(asked):
        return 0.0
    asked_start, asked_end = asked.start_day, min(asked.end_day, MAX_DAY)
    start, end = max(holds.start_day, asked_start), min(holds.end_day, asked_end)
    covered = (end - start + 1) / max(1, asked_end - asked_start + 1)
    if holds.start_day == MIN_DAY or holds.end_day == MAX_DAY:
        return min(1.0, covered)
    precision = (end - start + 1) / max(1, holds.end_day - holds.start_day + 1)
    return min(1.0, covered) * (0.85 + 0.15 * precision)


def _event_fit(stated: Interval, asked: Interval) -> float:
    """A dated event against the asked interval: 1 inside it (0.95 on the first year of a several-year
    question, 0.6 on its last, which in biographies usually starts the next period), else the share of
    the event inside it."""
    if stated.contains(asked):
        return 1.0
    if asked.contains(stated):
        # On the asked period's first year an event usually starts it; on its last, it starts the next.
        edge = _at_edge(stated, asked)
        return 1.0 if not edge else 0.95 if stated.start == asked.start else 0.6
    if not stated.overlaps(asked):
        return 0.0
    shared = min(asked.end_day, stated.end_day) - max(asked.start_day, stated.start_day) + 1
    return min(0.9, shared / max(1, stated.end_day - stated.start_day + 1))


def _at_edge(stated: Interval, asked: Interval) -> bool:
    if asked.start is None or asked.end is None or asked.start.year == asked.end.year:
        return False
    if stated.start is None or stated.end is None or stated.start.year != stated.end.year:
        return False
    return stated.start.year in (asked.start.year, asked.end.year)


def _before_fit(holds: Interval, asked: Interval) -> float:
    """Before: it must have held before the boundary; the closer it ended to it, the better."""
    boundary = asked.end_day
    if holds.start_day > boundary:
        return 0.0
    gap_years = max(0, boundary - min(holds.end_day, boundary)) / 365.25
    return max(0.5, 1.0 - 0.05 * gap_years)


def _after_fit(holds: Interval, asked: Interval) -> float:
    """After: it must hold after the boundary; the sooner it started after it, the better."""
    boundary = asked.start_day
    if holds.end_day < boundary:
        return 0.0
    gap_years = max(0, max(holds.start_day, boundary) - boundary) / 365.25
    return max(0.5, 1.0 - 0.05 * gap_years)


def _at_day(holds: Interval | None, day: date, role: str) -> float:
    """As of a day: what held on it; else what held last before it (the most recent news)."""
    if holds is None:
        return 0.3
    if holds.contains_day(day):
        return 1.0
    if holds.start_day > day.toordinal():
        return 0.0
    years = (day.toordinal() - holds.end_day) / 365.25
    return max(0.2, (0.95 if role == PUBLISHED else 0.8) - 0.1 * years)


def _ordinal_fit(entry: TimelineEntry, constraint: TemporalConstraint, others: list[TimelineEntry]) -> float:
    """First/earliest: the earliest start among the candidates; last/latest: the latest start up to now."""
    starts = sorted(
        {
            other.holds.start
            for other in others
            if other.holds is not None
            and other.holds.start
            and other.holds.start <= constraint.reference_time
        }
    )
    if entry.holds is None or entry.holds.start is None or not starts:
        return 0.3
    if entry.holds.start > constraint.reference_time:
        return 0.0
    position = starts.index(entry.holds.start)
    if constraint.ordinal in (Ordinal.FIRST, Ordinal.EARLIEST):
        wanted = 0
    elif constraint.ordinal == Ordinal.NTH and constraint.nth:
        wanted = min(constraint.nth - 1, len(starts) - 1)
    else:
        wanted = len(starts) - 1
    return max(0.1, 1.0 - 0.3 * abs(position - wanted))


# --- relevance --------------------------------------------------------------------------------------------
def sentence_relevance(asked: set[str], sentence: str, title: str) -> float:
    """The share of the question's content words the sentence (or its passage's title) writes, matching
    words by their first five letters ("chaired" / "chair")."""
    if not asked:
        return 0.0
    found = {word[:5] for word in content_words(f"{title} {sentence}")}
    return sum(1 for word in asked if word[:5] in found) / len(asked)


def asks_time(constraint: TemporalConstraint | None) -> bool:
    """True when the question asks about a time: an interval, an ordinal or "as of"."""
    if constraint is None:
        return False
    return (
        constraint.interval is not None
        or constraint.ordinal is not None
        or constraint.relation == Relation.AS_OF
    )
