"""The time model shared by every stage: intervals, granularities, relations and constraints.

Intervals are inclusive at day resolution. An open end (``None``) means unbounded, so
"before 2011" is ``Interval(None, 2010-12-31)``. Days are also exposed as integer ordinals
(``date.toordinal()``) because the store indexes them as integers and the rankers do
arithmetic on them.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

MIN_DAY = date.min.toordinal()  # 1 (0001-01-01): the ordinal used for an open start
MAX_DAY = date.max.toordinal()  # 9999-12-31: the ordinal used for an open end


class Granularity(str, Enum):  # noqa: UP042 (str() must stay the member name)
    """How precisely an interval was stated; rankers measure distance in this unit."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    SEASON = "season"
    QUARTER = "quarter"
    YEAR = "year"
    DECADE = "decade"
    CENTURY = "century"

    @property
    def days(self) -> int:
        """Approximate length of one unit in days."""
        return _GRANULARITY_DAYS[self]


_GRANULARITY_DAYS = {
    Granularity.DAY: 1,
    Granularity.WEEK: 7,
    Granularity.MONTH: 30,
    Granularity.SEASON: 91,
    Granularity.QUARTER: 91,
    Granularity.YEAR: 365,
    Granularity.DECADE: 3652,
    Granularity.CENTURY: 36524,
}


class Relation(str, Enum):  # noqa: UP042 (str() must stay the member name)
    """The time relation a question asks for."""

    BEFORE = "before"
    AFTER = "after"
    IN = "in"
    BETWEEN = "between"
    AS_OF = "as_of"
    SINCE = "since"
    UNTIL = "until"
    ON = "on"
    AROUND = "around"
    NONE = "none"


class Ordinal(str, Enum):  # noqa: UP042 (str() must stay the member name)
    """Which of several matching spans a question wants."""

    FIRST = "first"
    EARLIEST = "earliest"
    LAST = "last"
    LATEST = "latest"
    NTH = "nth"


class InvalidIntervalError(ValueError):
    """Raised when an interval's start is after its end or a date is out of range."""


@dataclass(frozen=True)
class Interval:
    """An inclusive span of days; ``None`` at either end means open.

    :param start: first day, or ``None`` for an open start.
    :param end: last day, or ``None`` for an open end.
    :param granularity: how precisely the interval was stated.
    """

    start: date | None
    end: date | None
    granularity: Granularity = Granularity.YEAR

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InvalidIntervalError(f"interval start {self.start} is after its end {self.end}")

    # --- constructors -------------------------------------------------------------------
    @classmethod
    def year(cls, year: int) -> Interval:
        """The whole calendar year ``year``."""
        _check_year(year)
        return cls(date(year, 1, 1), date(year, 12, 31), Granularity.YEAR)

    @classmethod
    def years(cls, first: int, last: int, granularity: Granularity = Granularity.YEAR) -> Interval:
        """From 1 January of ``first`` to 31 December of ``last``."""
        _check_year(first)
        _check_year(last)
        return cls(date(first, 1, 1), date(last, 12, 31), granularity)

    @classmethod
    def month(cls, year: int, month: int) -> Interval:
        """The whole month."""
        _check_year(year)
        last_day = calendar.monthrange(year, month)[1]
        return cls(date(year, month, 1), date(year, month, last_day), Granularity.MONTH)

    @classmethod
    def day(cls, day: date) -> Interval:
        """A single day."""
        return cls(day, day, Granularity.DAY)

    # --- day ordinals -----------------------------------------------------------------
    @property
    def start_day(self) -> int:
        """Start as a day ordinal; ``MIN_DAY`` when open."""
        return self.start.toordinal() if self.start else MIN_DAY

    @property
    def end_day(self) -> int:
        """End as a day ordinal; ``MAX_DAY`` when open."""
        return self.end.toordinal() if self.end else MAX_DAY

    @property
    def is_open(self) -> bool:
        """True when either end is unbounded."""
        return self.start is None or self.end is None

    def stated_start(self) -> Interval:
        """An interval open at its end ("since March 2016") as the unit it was stated with (March 2016):
        when the state began, without claiming it still holds; any other interval as it is."""
        if self.start is None or self.end is not None:
            return self
        if self.granularity is Granularity.YEAR:
            return Interval.year(self.start.year)
        if self.granularity is Granularity.MONTH:
            return Interval.month(self.start.year, self.start.month)
        return Interval(self.start, self.start, Granularity.DAY)

    # --- relations ------------------------------------------------------------------------
    def overlaps(self, other: Interval) -> bool:
        """True when the two intervals share at least one day."""
        return self.start_day <= other.end_day and other.start_day <= self.end_day

    def contains(self, other: Interval) -> bool:
        """True when ``other`` lies entirely inside this interval."""
        return self.start_day <= other.start_day and other.end_day <= self.end_day

    def contains_day(self, day: date) -> bool:
        """True when ``day`` lies inside this interval."""
        return self.start_day <= day.toordinal() <= self.end_day

    def gap_days(self, other: Interval) -> int:
        """Days between the two intervals; 0 when they overlap."""
        if self.overlaps(other):
            return 0
        if self.end_day < other.start_day:
            return other.start_day - self.end_day
        return self.start_day - other.end_day

    # --- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """ISO dates (``None`` when open) and the granularity name."""
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "granularity": self.granularity.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interval:
        """Inverse of :meth:`to_dict`."""
        return cls(
            _parse_iso(data.get("start")),
            _parse_iso(data.get("end")),
            Granularity(data.get("granularity") or Granularity.YEAR.value),
        )

    def __str__(self) -> str:
        start = self.start.isoformat() if self.start else "-inf"
        end = self.end.isoformat() if self.end else "+inf"
        return f"[{start} .. {end}]"


@dataclass(frozen=True)
class TimeMention:
    """A time expression found in a text, with its character offsets and normalised interval.

    :param text: the expression as written.
    :param char_start: offset of its first character.
    :param char_end: offset just past its last character.
    :param interval: the normalised interval.
    """

    text: str
    char_start: int
    char_end: int
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        """The span as stored in a passage's ``meta["time_spans"]``."""
        return {
            "text": self.text,
            "char_start": self.char_start,
            "char_end": self.char_end,
            **self.interval.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimeMention:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data.get("text", ""),
            int(data.get("char_start", 0)),
            int(data.get("char_end", 0)),
            Interval.from_dict(data),
        )


@dataclass(frozen=True)
class EventAnchor:
    """An event the question is anchored to instead of a date ("when the new stadium opened").

    The decomposer fills ``text``, ``cue`` and ``fallback``; a store-aware resolver
    (``chronorag.indexers.AnchorResolver``) fills ``resolved``, ``source_id``, ``evidence`` and ``how``.

    :param text: the event as written ("the new stadium opened", "the 2020 crash").
    :param cue: the word(s) that introduced it ("when", "after", "by the time").
    :param fallback: the date written inside the anchor ("the 2020 crash" -> 2020), or ``None``.
    :param resolved: the event's own interval as found in the store, or ``None`` when not resolved.
    :param source_id: the passage (or event) id the resolution was read from.
    :param evidence: the sentence that dates the event.
    :param how: how the interval was obtained, or why it was not, in words.
    """

    text: str
    cue: str
    fallback: Interval | None = None
    resolved: Interval | None = None
    source_id: str | None = None
    evidence: str | None = None
    how: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the ``anchor`` entry of :meth:`TemporalConstraint.to_dict`."""
        return {
            "text": self.text,
            "cue": self.cue,
            "resolved": self.resolved.to_dict() if self.resolved else None,
            "fallback": self.fallback.to_dict() if self.fallback else None,
            "source_id": self.source_id,
            "evidence": self.evidence,
            "how": self.how,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventAnchor:
        """Inverse of :meth:`to_dict`."""
        resolved, fallback = data.get("resolved"), data.get("fallback")
        return cls(
            text=data.get("text", ""),
            cue=data.get("cue", ""),
            fallback=Interval.from_dict(fallback) if fallback else None,
            resolved=Interval.from_dict(resolved) if resolved else None,
            source_id=data.get("source_id"),
            evidence=data.get("evidence"),
            how=data.get("how"),
        )


@dataclass
class TemporalConstraint:
    """A question decomposed into its main content and its time constraint (MRAG's question processing).

    :param question: the question as asked.
    :param content: the question with the time phrase removed, still a fluent question.
    :param relation: the time relation asked for.
    :param interval: the normalised interval of the constraint; ``None`` for relation none.
    :param ordinal: first/earliest/last/latest/nth, or ``None``.
    :param reference_time: "now" for the question: today, or the caller's ``as_of``.
    :param nth: the n of an nth ordinal ("the second coach" -> 2).
    :param time_text: the time phrase that was removed from the question.
    :param extras: anything else a component attaches (not serialised).
    :param notes: what happened to the question on its way through the pipeline that a user should know
        (no content words, no passage fitting the asked time, ...), in plain words.
    :param anchor: the event the question is anchored to ("when the new stadium opened"), or ``None``.
    """

    question: str
    content: str
    relation: Relation
    interval: Interval | None
    ordinal: Ordinal | None
    reference_time: date
    nth: int | None = None
    time_text: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    anchor: EventAnchor | None = None

    @property
    def granularity(self) -> Granularity | None:
        """The interval's granularity, if any."""
        return self.interval.granularity if self.interval else None

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready form, the shape of ``chronorag decompose --json`` and the REST API."""
        return {
            "question": self.question,
            "content": self.content,
            "relation": self.relation.value,
            "start": self.interval.start.isoformat() if self.interval and self.interval.start else None,
            "end": self.interval.end.isoformat() if self.interval and self.interval.end else None,
            "granularity": self.interval.granularity.value if self.interval else None,
            "ordinal": self.ordinal.value if self.ordinal else None,
            "nth": self.nth,
            "reference_time": self.reference_time.isoformat(),
            "time_text": self.time_text,
            "notes": list(self.notes),
            "anchor": self.anchor.to_dict() if self.anchor else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemporalConstraint:
        """Inverse of :meth:`to_dict`."""
        interval = None
        if data.get("granularity") is not None or data.get("start") or data.get("end"):
            interval = Interval.from_dict(data)
        ordinal = data.get("ordinal")
        return cls(
            question=data.get("question", ""),
            content=data.get("content", ""),
            relation=Relation(data.get("relation") or "none"),
            interval=interval,
            ordinal=Ordinal(ordinal) if ordinal else None,
            reference_time=_parse_iso(data["reference_time"]) or date.today(),
            nth=data.get("nth"),
            time_text=data.get("time_text"),
            notes=[str(note) for note in data.get("notes") or []],
            anchor=EventAnchor.from_dict(data["anchor"]) if data.get("anchor") else None,
        )


def _check_year(year: int) -> None:
    if not 1 <= year <= 9999:
        raise InvalidIntervalError(f"year {year} is outside 1..9999")


def _parse_iso(value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
