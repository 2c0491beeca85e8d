"""Temporal relevance of a passage's time evidence to a question's time constraint.

The score is in [0, 1] and explainable: besides the number, the best matching span and a short
reason are returned. Evidence is the passage's mentioned spans (``meta["time_spans"]``) plus its
publication date (``meta["date"]``). Distances are measured in units of the constraint's
granularity, so "June 2010" and "December 2010" are five units apart for a month question but
the same year for a year question.

Per relation (X is the constraint's interval):

- in / on / around / during: a span overlapping X scores ``OVERLAP_FLOOR`` plus a bonus for how
  well it fits X: its tightness (shared days over the longer of the two), or ``BOUNDARY_FIT`` when it
  marks X's start (``END_BOUNDARY_FIT`` its end; not for spans much longer than X); a passage whose
  spans mark both the start and the end fits like an exact range (``PAIR_FIT``); a span before X may
  still hold in X (a state that began earlier) and decays slowly from ``PERSIST_CEILING``, a span after X
  decays fast, ``NEAR_CEILING / (1 + units)``; an overlap always beats both. Distances are counted in the
  coarser of the two granularities.
- between: as for in, the tightness measured against the whole range; "from 1952 to 2014" is best
  evidenced by "1952-2014" or "married 1952, divorced 2014", then by "in 1952, he emigrated" (the
  start), then by "in 2014 ..." (the end), far less by a lifespan "1903-2014" that merely contains it.
- before / until / as-of: spans ending at or before X's end score by closeness of their end to X
  (``0.5 + 0.5 * decay``); spans that began before X and still run at X hold *at* X (1.0 for
  as-of/until, 0.9 for before); spans starting after X violate the relation (``VIOLATION`` x decay).
- after / since: the mirror image on X's start.
- first/earliest and last/latest: the per-passage relation score is kept, and
  :func:`apply_ordinal` then rewards passages whose satisfying span is the earliest/latest of the
  candidate set.
- no constraint: recency; :func:`apply_ordinal` with "latest" prefers the latest evidence as of
  the reference time.

Evidence published after the reference time is never used (the caller drops such passages).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from chronorag.temporal.model import (
    MAX_DAY,
    MIN_DAY,
    Granularity,
    Interval,
    Ordinal,
    Relation,
    TemporalConstraint,
    TimeMention,
)

# A span overlapping the asked interval always beats one that only comes close.
# Tuned on TimeQA *train* questions over train + dev pages under the relevance-gated fusion (a grid,
# benchmarks/results/fusion.json "temporal"): a low floor lets a tight fit (an exact or boundary span)
# clearly beat a vague overlap (a lifespan); near misses stay well below any overlap.
OVERLAP_FLOOR = 0.5
NEAR_CEILING = 0.3
# A span marking the start of the asked interval fits it this well ("In 1952 he emigrated" for "from
# 1952 to 2014"); one marking its end less so (the passage often tells what came next: "since 2009 the
# president is ..."); one span doing both, or a passage with one span marking the start and another
# the end ("married 1972, divorced 1984"), fits it as an exact range does.
# A state that began before the asked interval may persist into it (in/on/between questions): its credit
# starts just below OVERLAP_FLOOR and halves after PERSIST_UNITS units; evidence after the interval only
# tells what came next (NEAR_CEILING, decaying per unit). Chosen on TimeQA train with the other constants.
PERSIST_CEILING = 0.49
PERSIST_UNITS = 10.0
BOUNDARY_FIT = 0.8
END_BOUNDARY_FIT = 0.6
BOTH_ENDS_FIT = 1.0
PAIR_FIT = 1.0
# Spans on the wrong side of a before/after boundary keep a little credit: extraction can be off.
VIOLATION = 0.15
# A score from this up means the evidence satisfies the relation (apply_ordinal orders only those).
SATISFIES = 0.5
# Passages with no usable time evidence under a constraint: below any overlap, above violations.
NO_EVIDENCE = 0.2
# Open-ended spans ("since 2007") are measured as if they ran this many granularity units.
_OPEN_SPAN_UNITS = 50

_BEFORE_LIKE = {Relation.BEFORE, Relation.UNTIL, Relation.AS_OF}
_AFTER_LIKE = {Relation.AFTER, Relation.SINCE}
_DURING_LIKE = {Relation.IN, Relation.ON, Relation.AROUND, Relation.BETWEEN}
_EARLY_ORDINALS = {Ordinal.FIRST, Ordinal.EARLIEST}
_LATE_ORDINALS = {Ordinal.LAST, Ordinal.LATEST}


@dataclass
class TemporalScore:
    """The temporal score of one passage.

    :param score: relevance in [0, 1].
    :param span: the span that gave the score (``None`` when there was no evidence).
    :param reason: a short human-readable explanation.
    :param anchor_day: the day ordinal an ordinal preference compares (earliest/latest evidence).
    """

    score: float
    span: TimeMention | None
    reason: str
    anchor_day: int | None = None

    def span_dict(self) -> dict | None:
        """The matched span in the ``meta["time_spans"]`` form, or ``None``."""
        return self.span.to_dict() if self.span else None


def evidence(spans: Iterable[TimeMention], published: date | None) -> list[TimeMention]:
    """The passage's time evidence: its mentioned spans, then its publication day as a span.

    :param spans: the spans mentioned in the passage.
    :param published: the publication date, if known.
    :returns: the evidence list.
    """
    items = list(spans)
    if published is not None:
        items.append(TimeMention(f"published {published.isoformat()}", -1, -1, Interval.day(published)))
    return items


def score_passage(
    spans: Sequence[TimeMention], published: date | None, constraint: TemporalConstraint | None
) -> TemporalScore:
    """Score one passage's time evidence against the constraint (before any ordinal adjustment).

    :param spans: spans mentioned in the passage.
    :param published: its publication date, or ``None``.
    :param constraint: the question's constraint; ``None`` means no constraint (recency).
    :returns: the best score over the evidence, with its span and reason.
    """
    reference = constraint.reference_time if constraint else None
    items = evidence(spans, published)
    if reference is not None:
        # A span that only starts after "now" is a plan or a prediction, not evidence as of now.
        items = [item for item in items if item.interval.start_day <= reference.toordinal()]
    relation = constraint.relation if constraint else Relation.NONE
    interval = constraint.interval if constraint else None
    if relation == Relation.NONE or interval is None:
        return _score_recency(
            items, reference, early=constraint is not None and constraint.ordinal in _EARLY_ORDINALS
        )
    if not items:
        return TemporalScore(NO_EVIDENCE, None, "no time evidence in the passage")
    unit = max(interval.granularity.days, 1)
    candidates = [_score_span(item, relation, interval, unit) for item in items]
    best = max(candidates, key=lambda candidate: candidate.score)
    if PAIR_FIT > 0 and relation in _DURING_LIKE:
        best = _paired(items, candidates, best, interval, unit)
    ordinal = constraint.ordinal if constraint else None
    if ordinal in _EARLY_ORDINALS or ordinal in _LATE_ORDINALS:
        # Among the spans that fit about as well as the best, an ordinal question wants the extreme one.
        close = [c for c in candidates if c.score >= best.score - 0.05 and c.anchor_day is not None]
        pick = min if ordinal in _EARLY_ORDINALS else max
        best = pick(close, key=lambda candidate: candidate.anchor_day) if close else best
    return best


def _score_span(item: TimeMention, relation: Relation, target: Interval, unit: int) -> TemporalScore:
    span = item.interval
    if relation in _BEFORE_LIKE:
        return _score_before(item, relation, target, unit)
    if relation in _AFTER_LIKE:
        return _score_after(item, relation, target, unit)
    if relation not in _DURING_LIKE:
        relation = Relation.IN
    if span.overlaps(target):
        fit = _tightness(span, target, unit)
        boundary = _boundary_fit(span, target, unit)
        score = OVERLAP_FLOOR + (1.0 - OVERLAP_FLOOR) * max(fit, boundary)
        why = "starts or ends with" if boundary > fit else "overlaps"
        return TemporalScore(score, item, f"'{item.text}' {why} {target} ({relation.value})", span.end_day)
    # Distance in the coarser of the two granularities: "1917" is 13 years from "12 December 1930", not
    # 5,000 days (which would leave no near miss any credit).
    coarse = max(unit, span.granularity.days)
    units = span.gap_days(target) / coarse
    name = _unit_name(target) if coarse == unit else f"{span.granularity.value}s"
    if span.end_day < target.start_day:
        # What began before the asked time may still hold then ("In 1962 the team moved to the Texas
        # League" for "between 1965 and 1968"): credit decays slowly, always below an overlap.
        score = PERSIST_CEILING / (1.0 + units / PERSIST_UNITS)
        reason = f"'{item.text}' is {units:.1f} {name} before {target} and may still hold then"
        return TemporalScore(score, item, reason, span.end_day)
    score = NEAR_CEILING / (1.0 + units)
    return TemporalScore(score, item, f"'{item.text}' is {units:.1f} {name} after {target}", span.end_day)


def _paired(
    items: list[TimeMention],
    candidates: list[TemporalScore],
    best: TemporalScore,
    target: Interval,
    unit: int,
) -> TemporalScore:
    """A passage whose spans mark both the start and the end of the target fits it as a range does."""
    marks = [_boundary_marks(item.interval, target, unit) for item in items]
    pair = next(
        (
            (i, j)
            for i, (start, _) in enumerate(marks)
            if start
            for j, (_, end) in enumerate(marks)
            if end and j != i
        ),
        None,
    )
    score = OVERLAP_FLOOR + (1.0 - OVERLAP_FLOOR) * PAIR_FIT
    if pair is None or score <= best.score:
        return best
    first, last = items[pair[0]], items[pair[1]]
    return TemporalScore(
        score,
        first,
        f"'{first.text}' and '{last.text}' mark the start and end of {target}",
        candidates[pair[0]].anchor_day,
    )


def _score_before(item: TimeMention, relation: Relation, target: Interval, unit: int) -> TemporalScore:
    span = item.interval
    # "before 2011" arrives as (open, 2010-12-31); a closed interval means "before its start".
    boundary = (
        target.start_day - 1 if relation == Relation.BEFORE and target.start is not None else target.end_day
    )
    if span.end_day <= boundary:
        units = (boundary - span.end_day) / unit
        score = 0.5 + 0.5 / (1.0 + units)
        return TemporalScore(
            score,
            item,
            f"'{item.text}' ends {units:.1f} {_unit_name(target)} before the {relation.value} boundary",
            span.end_day,
        )
    if span.start_day <= boundary:
        score = 0.9 if relation == Relation.BEFORE else 1.0
        return TemporalScore(
            score, item, f"'{item.text}' holds at the {relation.value} boundary", min(span.end_day, boundary)
        )
    units = (span.start_day - boundary) / unit
    return TemporalScore(
        VIOLATION / (1.0 + units),
        item,
        f"'{item.text}' starts after the {relation.value} boundary",
        span.start_day,
    )


def _score_after(item: TimeMention, relation: Relation, target: Interval, unit: int) -> TemporalScore:
    span = item.interval
    # "after 2005" arrives as (2006-01-01, open); a closed interval means "after its end".
    boundary = (
        target.end_day + 1 if relation == Relation.AFTER and target.end is not None else target.start_day
    )
    if span.start_day >= boundary:
        units = (span.start_day - boundary) / unit
        score = 0.5 + 0.5 / (1.0 + units)
        return TemporalScore(
            score,
            item,
            f"'{item.text}' starts {units:.1f} {_unit_name(target)} after the {relation.value} boundary",
            span.start_day,
        )
    if span.end_day >= boundary:
        score = 0.9 if relation == Relation.AFTER else 1.0
        return TemporalScore(
            score,
            item,
            f"'{item.text}' holds at the {relation.value} boundary",
            max(span.start_day, boundary),
        )
    units = (boundary - span.end_day) / unit
    return TemporalScore(
        VIOLATION / (1.0 + units),
        item,
        f"'{item.text}' ends before the {relation.value} boundary",
        span.end_day,
    )


def _score_recency(items: list[TimeMention], reference: date | None, early: bool = False) -> TemporalScore:
    """No constraint: every dated passage is acceptable; the latest (or, for "first", earliest) evidence
    is marked for ordering."""
    if not items:
        return TemporalScore(0.5, None, "no time evidence; no constraint")
    if early:
        best = min(items, key=lambda item: item.interval.start_day)
        return TemporalScore(0.5, best, f"earliest evidence '{best.text}'", best.interval.start_day)
    limit = reference.toordinal() if reference else MAX_DAY
    best = max(items, key=lambda item: min(item.interval.end_day, limit))
    anchor = min(best.interval.end_day, limit)
    return TemporalScore(0.5, best, f"latest evidence '{best.text}' (no constraint)", anchor)


def _tightness(span: Interval, target: Interval, unit: int) -> float:
    """Shared days over the larger of the two lengths: 1 for the same interval, small for a vague span."""
    start = max(span.start_day, target.start_day)
    end = min(span.end_day, target.end_day)
    shared = max(end - start + 1, 1)
    longest = max(_length(span, unit, target), _length(target, unit))
    return min(shared / longest, 1.0)


def _boundary_marks(span: Interval, target: Interval, unit: int) -> tuple[bool, bool]:
    """Whether a span marks where the asked interval begins (its start lies within one unit of the
    target's start) and where it ends (same for the ends). Never for a span much longer than the target
    (a lifespan that happens to end with it) nor for a target of about one unit. A unit is the coarser
    of the two granularities ("1930" marks the start of "Jul 1930 to Jul 1944")."""
    if target.start is None or target.end is None:
        return False, False
    tolerance = max(unit, span.granularity.days)
    if _length(target, unit) < 2 * tolerance:
        # A target of about one unit has no separate start and end ("in June 2010" and a "2010" span).
        return False, False
    if span.start is not None and span.end is None:
        # "since 1952" marks where a state began, however long it has run since.
        return abs(span.start_day - target.start_day) < tolerance, False
    if _length(span, unit) > _length(target, unit) + 2 * tolerance:
        return False, False
    starts = span.start is not None and abs(span.start_day - target.start_day) < tolerance
    ends = span.end is not None and abs(span.end_day - target.end_day) < tolerance
    return starts, ends


def _boundary_fit(span: Interval, target: Interval, unit: int) -> float:
    """How well a span marks the asked interval's start ("In 1952 he emigrated" for "from 1952 to 2014":
    ``BOUNDARY_FIT``) or end (``END_BOUNDARY_FIT``); 0 when it marks neither."""
    starts, ends = _boundary_marks(span, target, unit)
    if starts and ends and BOTH_ENDS_FIT > 0:
        return BOTH_ENDS_FIT
    return max(BOUNDARY_FIT if starts else 0.0, END_BOUNDARY_FIT if ends else 0.0)


def _length(interval: Interval, unit: int, target: Interval | None = None) -> int:
    """Days an interval runs; an open one runs ``_OPEN_SPAN_UNITS`` units, and at least across ``target``
    ("since 1930" measured against 1952-2014 runs 1930 to 2014 at least)."""
    open_start, open_end = interval.start_day == MIN_DAY, interval.end_day == MAX_DAY
    if not (open_start or open_end):
        return interval.end_day - interval.start_day + 1
    if open_start and open_end:
        return _OPEN_SPAN_UNITS * unit
    length = _OPEN_SPAN_UNITS * unit
    if target is not None and not target.is_open:
        reach = target.end_day - interval.start_day if open_end else interval.end_day - target.start_day
        length = max(length, reach + 1)
    return length


def _unit_name(target: Interval) -> str:
    return f"{target.granularity.value}s" if target.granularity != Granularity.DAY else "days"


def apply_ordinal(scores: list[TemporalScore], constraint: TemporalConstraint | None) -> list[TemporalScore]:
    """Reward the candidates whose satisfying evidence is the earliest/latest of the set.

    With first/earliest (last/latest/current, or no constraint: recency) the passages that satisfy
    the relation are ordered by their evidence day and the score is scaled into
    ``[0.5 * score, score]`` by that order, so the preference never beats a better relation match
    by more than half.

    :param scores: one score per candidate passage, from :func:`score_passage`.
    :param constraint: the constraint; its ``ordinal`` picks the direction.
    :returns: new scores (the inputs are left unchanged).
    """
    ordinal = constraint.ordinal if constraint else None
    no_relation = constraint is None or constraint.relation == Relation.NONE or constraint.interval is None
    if ordinal in _EARLY_ORDINALS:
        direction = -1
    elif ordinal in _LATE_ORDINALS or no_relation:
        direction = 1
    else:
        return list(scores)
    # Only evidence that satisfies the relation competes on order (0.5 is "not violated").
    eligible = [s.anchor_day for s in scores if s.anchor_day is not None and s.score >= SATISFIES]
    if not eligible:
        return list(scores)
    low, high = min(eligible), max(eligible)
    adjusted = []
    for item in scores:
        if item.anchor_day is None or item.score < SATISFIES:
            adjusted.append(TemporalScore(item.score * 0.5, item.span, item.reason, item.anchor_day))
            continue
        position = 1.0 if high == low else (item.anchor_day - low) / (high - low)
        if direction < 0:
            position = 1.0 - position
        # No constraint: a neutral 0.5 becomes 0.5..1.0 with recency; with a relation, scale 0.5..1.
        factor = 0.5 + 0.5 * position
        score = factor if no_relation else item.score * factor
        word = "earliest" if direction < 0 else "latest"
        adjusted.append(
            TemporalScore(
                score, item.span, f"{item.reason}; {word} preference {position:.2f}", item.anchor_day
            )
        )
    return adjusted
