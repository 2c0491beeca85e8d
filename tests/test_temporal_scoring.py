"""Temporal scores for every relation, month resolution, ordinals, recency and as-of evidence."""

from __future__ import annotations

from datetime import date

import pytest

from chronorag.rankers.temporal_scoring import NO_EVIDENCE, OVERLAP_FLOOR, apply_ordinal, score_passage
from chronorag.temporal.model import Granularity, Interval, Ordinal, Relation, TemporalConstraint, TimeMention

REF = date(2024, 1, 1)


def mention(text: str, start: date | None, end: date | None, granularity: Granularity = Granularity.YEAR):
    return TimeMention(text, 0, len(text), Interval(start, end, granularity))


def years(first: int, last: int | None = None) -> TimeMention:
    last = first if last is None else last
    return mention(f"{first}-{last}", date(first, 1, 1), date(last, 12, 31))


def constraint(
    relation: Relation, interval: Interval | None, ordinal: Ordinal | None = None, reference: date = REF
) -> TemporalConstraint:
    return TemporalConstraint("q", "q", relation, interval, ordinal, reference)


def test_in_overlap_beats_neighbour_and_decays_with_distance():
    c = constraint(Relation.IN, Interval.year(1999))
    clinton = score_passage([years(1993, 2001)], None, c).score
    bush = score_passage([years(2001, 2009)], None, c).score
    far = score_passage([years(2015, 2017)], None, c).score
    assert clinton > bush > far
    assert 0.0 <= far < bush < OVERLAP_FLOOR <= clinton <= 1.0


def test_month_resolution_june_is_not_december():
    c = constraint(Relation.IN, Interval.month(2010, 6))
    june = score_passage(
        [mention("June 2010", date(2010, 6, 1), date(2010, 6, 30), Granularity.MONTH)], None, c
    )
    december = score_passage(
        [mention("December 2010", date(2010, 12, 1), date(2010, 12, 31), Granularity.MONTH)], None, c
    )
    whole_year = score_passage([years(2010)], None, c)
    assert june.score == pytest.approx(1.0)
    assert june.score > whole_year.score > december.score
    assert "month" in december.reason


def test_an_open_span_holds_after_its_start_and_marks_a_range_start():
    since_2012 = mention("since 2012", date(2012, 1, 1), None)
    after = score_passage([since_2012], None, constraint(Relation.AFTER, Interval(date(2016, 1, 1), None)))
    assert after.score == pytest.approx(0.9) and "holds at" in after.reason
    # "since 1952" marks where "from 1952 to 2014" begins, however long it ran: a boundary fit, not a vague
    # overlap; an open span starting elsewhere only overlaps.
    asked = constraint(Relation.BETWEEN, Interval.years(1952, 2014))
    marks = score_passage([mention("since 1952", date(1952, 1, 1), None)], None, asked).score
    vague = score_passage([mention("since 1930", date(1930, 1, 1), None)], None, asked).score
    assert marks > vague >= OVERLAP_FLOOR


def test_between_prefers_tighter_overlap():
    c = constraint(Relation.BETWEEN, Interval.years(2004, 2005))
    exact = score_passage([years(2004, 2005)], None, c).score
    vague = score_passage([years(1990, 2020)], None, c).score
    outside = score_passage([years(2007)], None, c).score
    assert exact > vague > outside


@pytest.mark.parametrize("relation", [Relation.BEFORE, Relation.UNTIL, Relation.AS_OF])
def test_before_like_prefers_spans_ending_close_to_the_boundary(relation):
    c = constraint(relation, Interval(None, date(2010, 12, 31)))
    close = score_passage([years(2009)], None, c).score
    older = score_passage([years(1990)], None, c).score
    violating = score_passage([years(2015)], None, c).score
    assert close > older > violating
    assert older >= 0.5 > violating


def test_as_of_rewards_a_state_still_holding_at_the_boundary():
    c = constraint(Relation.AS_OF, Interval(None, date(2010, 12, 31)))
    holding = score_passage([years(2008, 2012)], None, c)
    assert holding.score == pytest.approx(1.0)
    assert "holds" in holding.reason


@pytest.mark.parametrize("relation", [Relation.AFTER, Relation.SINCE])
def test_after_like_mirrors_before(relation):
    c = constraint(relation, Interval(date(2006, 1, 1), None))
    close = score_passage([years(2006)], None, c).score
    later = score_passage([years(2020)], None, c).score
    violating = score_passage([years(1999)], None, c).score
    assert close > later > violating


def test_on_and_around_behave_like_in():
    day = Interval.day(date(2020, 3, 5))
    for relation in (Relation.ON, Relation.AROUND):
        c = constraint(relation, day)
        same = score_passage(
            [mention("5 March 2020", date(2020, 3, 5), date(2020, 3, 5), Granularity.DAY)], None, c
        )
        later = score_passage(
            [mention("9 March 2020", date(2020, 3, 9), date(2020, 3, 9), Granularity.DAY)], None, c
        )
        assert same.score > later.score


def test_no_evidence_gets_the_documented_constant_and_publication_date_counts():
    c = constraint(Relation.IN, Interval.year(2021))
    assert score_passage([], None, c).score == NO_EVIDENCE
    published = score_passage([], date(2021, 5, 1), c)
    assert published.score >= OVERLAP_FLOOR
    assert published.span is not None and "published" in published.span.text


def test_spans_starting_after_the_reference_time_are_not_evidence():
    c = constraint(Relation.IN, Interval.year(2030), reference=date(2024, 1, 1))
    assert score_passage([years(2030)], None, c).score == NO_EVIDENCE


def test_first_and_last_prefer_the_earliest_and_latest_satisfying_span():
    window = Interval.years(2000, 2010)
    early = [
        score_passage([years(2001)], None, constraint(Relation.BETWEEN, window, Ordinal.FIRST)),
        score_passage([years(2008)], None, constraint(Relation.BETWEEN, window, Ordinal.FIRST)),
    ]
    first = apply_ordinal(early, constraint(Relation.BETWEEN, window, Ordinal.FIRST))
    assert first[0].score > first[1].score
    late = [
        score_passage([years(2001)], None, constraint(Relation.BETWEEN, window, Ordinal.LAST)),
        score_passage([years(2008)], None, constraint(Relation.BETWEEN, window, Ordinal.LAST)),
    ]
    last = apply_ordinal(late, constraint(Relation.BETWEEN, window, Ordinal.LAST))
    assert last[1].score > last[0].score
    assert all(0.0 <= item.score <= 1.0 for item in first + last)


def test_no_constraint_prefers_the_latest_evidence_as_of_reference():
    c = constraint(Relation.NONE, None, reference=date(2022, 6, 16))
    scores = [
        score_passage([], date(2022, 6, 1), c),
        score_passage([], date(2022, 6, 15), c),
        score_passage([], None, c),
    ]
    adjusted = apply_ordinal(scores, c)
    assert adjusted[1].score > adjusted[0].score > adjusted[2].score
    assert apply_ordinal([score_passage([], date(2020, 1, 1), None)], None)[0].score == pytest.approx(1.0)


def test_ordinal_picks_the_extreme_span_within_a_passage():
    window = Interval.years(2000, 2010)
    spans = [years(2008), years(2001)]
    first = score_passage(spans, None, constraint(Relation.BETWEEN, window, Ordinal.FIRST))
    last = score_passage(spans, None, constraint(Relation.BETWEEN, window, Ordinal.LAST))
    assert first.span.text == "2001-2001" and last.span.text == "2008-2008"
    earliest = score_passage(spans, None, constraint(Relation.NONE, None, Ordinal.EARLIEST))
    assert earliest.span.text == "2001-2001"


def test_between_a_span_marking_the_start_beats_a_lifespan_containing_the_range():
    # "Which country did Imich hold citizenship in from 1952 to 2014?": "In 1952, he emigrated to the
    # United States" is the evidence; his lifespan 1903-2014 merely contains (and ends with) the range.
    c = constraint(Relation.BETWEEN, Interval.years(1952, 2014))
    exact = score_passage([years(1952, 2014)], None, c)
    start = score_passage([years(1952)], None, c)
    end = score_passage([years(2014)], None, c)
    lifespan = score_passage([years(1903, 2014)], None, c)
    middle = score_passage([years(1980)], None, c)
    assert exact.score == pytest.approx(1.0)
    assert exact.score > start.score > end.score > lifespan.score
    assert start.score > middle.score >= OVERLAP_FLOOR
    assert "starts or ends with" in start.reason


def test_boundary_at_the_coarser_granularity_and_not_for_one_unit_targets():
    # "from Jul 1930 to Jul 1944": the year "1930" marks its start.
    c = constraint(Relation.BETWEEN, Interval(date(1930, 7, 1), date(1944, 7, 31), Granularity.MONTH))
    assert score_passage([years(1930)], None, c).score > score_passage([years(1937)], None, c).score
    # "in June 2010" has no separate start and end: the year 2010 is only a vague overlap.
    june = constraint(Relation.IN, Interval.month(2010, 6))
    whole_year = score_passage([years(2010)], None, june).score
    assert OVERLAP_FLOOR <= whole_year < 0.7


def test_spans_marking_start_and_end_fit_like_the_range():
    # "Who was Schröder married to from 1972 to 1984?": "married 1972, divorced 1984" is the range;
    # "married 1968, divorced 1972" only touches its start.
    c = constraint(Relation.BETWEEN, Interval.years(1972, 1984))
    anne = score_passage([years(1972), years(1984)], None, c)
    eva = score_passage([years(1968), years(1972)], None, c)
    assert anne.score == pytest.approx(1.0)
    assert "mark the start and end" in anne.reason
    assert anne.score > eva.score


def test_a_state_that_began_before_the_window_may_still_hold():
    # "Which league did the Dukes play for between 1965 and 1968?": "In 1962 the team moved to the Texas
    # League" is the evidence; "In 1972 it moved up to the Pacific Coast League" tells what came next.
    c = constraint(Relation.BETWEEN, Interval.years(1965, 1968))
    earlier = score_passage([years(1962)], None, c)
    later = score_passage([years(1972)], None, c)
    inside = score_passage([years(1966)], None, c)
    assert inside.score >= OVERLAP_FLOOR > earlier.score > later.score
    assert "may still hold" in earlier.reason and "after" in later.reason
    # The credit fades with distance: a state from decades before is weak evidence.
    assert score_passage([years(1900)], None, c).score < earlier.score / 2
