"""MRAG's published temporal scoring (Zhang et al., siyue-zhang/MRAG ``metriever.py``), re-implemented.

Used by ``SemanticTemporalRanker(mode="mrag")`` so the evaluation can compare it with the hybrid
score side by side. What MRAG does, and what is reproduced here:

- Relations collapse to four types: before (before, as of, by, until), after (after, since, and
  "from" with one year), between (between, "from" with two years), other (in, on, around, during).
  "other" questions get no temporal coefficient: the semantic model scores the *full* question.
- Years only: a sentence's years are its four-digit numbers (optionally followed by "s"), after
  expanding ranges written "1990-93" or "1990-1995" into every year between.
- A linear coefficient from 0.6 to 1 over a 50-year window: before X runs from X-50 (0.6) to X (1);
  after X from X (0.6) to X+50 (1); between A and B from A to B. With first/earliest the line is
  reversed (1 at the window's start). Each sentence uses its relevant year (inside the window side
  of the relation; the earliest with "first", else the latest); a sentence with no such year, or a
  year outside the window, gets 0.5.
- The sentence score is ``base * semantic + (1 - base) * semantic * coefficient`` with base 0.5
  (MRAG's ``hybrid_base``); a passage's score is that of its best sentence. The semantic score is
  used raw, as MRAG does with cross-encoder logits (which inverts the coefficient for negative
  logits: that is MRAG's behaviour, kept here on purpose).
"""

from __future__ import annotations

import re
from datetime import timedelta

from chronorag.temporal.model import Ordinal, Relation, TemporalConstraint

LOW = 0.6
WINDOW_YEARS = 50
NO_YEAR = 0.5
HYBRID_BASE = 0.5

_SHORT_RANGE = re.compile(r"(\b\d{4})[–-](\d{2}\b)")
_LONG_RANGE = re.compile(r"(\d{4})[–-](\d{4})")
_YEAR = re.compile(r"\b(\d{4})(?:s)?\b")


def sentence_years(text: str) -> list[int]:
    """MRAG's year reading: expand "1990-93" and "1990-1995" ranges, then every 4-digit number.

    :param text: a sentence (MRAG prefixes the title).
    :returns: sorted distinct years.
    """
    text = _SHORT_RANGE.sub(
        lambda m: " ".join(str(y) for y in range(int(m[1]), int(m[1][:2] + m[2]) + 1)), text
    )
    text = _LONG_RANGE.sub(lambda m: " ".join(str(y) for y in range(int(m[1]), int(m[2]) + 1)), text)
    return sorted({int(year) for year in _YEAR.findall(text)})


def relation_type(constraint: TemporalConstraint | None) -> str:
    """MRAG's four relation types: ``before``, ``after``, ``between`` or ``other``.

    :param constraint: the question's constraint.
    :returns: the type name.
    """
    if constraint is None or constraint.interval is None:
        return "other"
    relation = constraint.relation
    if relation in (Relation.BEFORE, Relation.AS_OF, Relation.UNTIL):
        return "before"
    if relation in (Relation.AFTER, Relation.SINCE):
        return "after"
    if relation == Relation.BETWEEN:
        return "between"
    return "other"


def question_years(constraint: TemporalConstraint) -> list[int]:
    """The years MRAG reads from the question's date phrase.

    MRAG takes the years written after the time specifier; the removed phrase (``time_text``) is
    that text. Without it, the years come from the interval, undoing the open-interval shift
    ("before 2011" is stored as ending 2010-12-31, "after 2005" as starting 2006-01-01).

    :param constraint: a constraint with an interval.
    :returns: one year (before/after) or two (between).
    """
    if constraint.time_text:
        years = sentence_years(constraint.time_text)
        if years:
            return [years[0], years[-1]] if relation_type(constraint) == "between" else [years[0]]
    interval = constraint.interval
    kind = relation_type(constraint)
    if kind == "between" and interval is not None and interval.start and interval.end:
        return [interval.start.year, interval.end.year]
    if kind == "before" and interval is not None and interval.end:
        shifted = interval.start is None and constraint.relation == Relation.BEFORE
        return [(interval.end + timedelta(days=1)).year if shifted else interval.end.year]
    if interval is not None and interval.start:
        shifted = interval.end is None and constraint.relation == Relation.AFTER
        return [(interval.start - timedelta(days=1)).year if shifted else interval.start.year]
    return []


def _implicit_condition(constraint: TemporalConstraint) -> str | None:
    if constraint.ordinal in (Ordinal.FIRST, Ordinal.EARLIEST):
        return "first"
    if constraint.ordinal in (Ordinal.LAST, Ordinal.LATEST):
        return "last"
    return None


def coefficient(text: str, constraint: TemporalConstraint) -> tuple[float, int | None]:
    """MRAG's temporal coefficient of one sentence.

    :param text: the sentence (title-prefixed, as MRAG does).
    :param constraint: a constraint whose :func:`relation_type` is not ``other``.
    :returns: the coefficient in {0.5} U [0.6, 1] and the year it was read from (or ``None``).
    """
    years = question_years(constraint)
    kind = relation_type(constraint)
    first = _implicit_condition(constraint) == "first"
    if not years:
        return NO_YEAR, None
    if kind == "between":
        start, end = min(years), max(years)
        relevant = [y for y in sentence_years(text) if start <= y <= end]
    elif kind == "before":
        end = years[0]
        start = end - WINDOW_YEARS
        relevant = [y for y in sentence_years(text) if y <= end]
    else:
        start = years[0]
        end = start + WINDOW_YEARS
        relevant = [y for y in sentence_years(text) if y >= start]
    if not relevant:
        return NO_YEAR, None
    year = min(relevant) if first else max(relevant)
    if not start <= year <= end:
        return NO_YEAR, year
    if start == end:
        return 1.0, year
    position = (year - start) / (end - start)
    value = 1.0 - (1.0 - LOW) * position if first else LOW + (1.0 - LOW) * position
    return value, year


def combine(semantic: float, coeff: float, base: float = HYBRID_BASE) -> float:
    """MRAG's hybrid sentence score: ``base * s + (1 - base) * s * coefficient``.

    :param semantic: the raw semantic score.
    :param coeff: the temporal coefficient.
    :param base: MRAG's ``hybrid_base``.
    :returns: the combined score.
    """
    return base * semantic + (1.0 - base) * semantic * coeff
