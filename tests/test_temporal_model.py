"""The shared time model: intervals, mentions, constraints."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chronorag.temporal as temporal
from chronorag.temporal import Granularity, Interval, Ordinal, Relation, TemporalConstraint, TimeMention
from chronorag.temporal.model import MAX_DAY, MIN_DAY, InvalidIntervalError


def test_constructors():
    assert Interval.year(1995) == Interval(date(1995, 1, 1), date(1995, 12, 31), Granularity.YEAR)
    assert Interval.month(2024, 2).end == date(2024, 2, 29)
    assert Interval.years(1990, 1999, Granularity.DECADE).granularity is Granularity.DECADE
    assert Interval.day(date(2019, 5, 5)).granularity is Granularity.DAY
    with pytest.raises(InvalidIntervalError):
        Interval(date(2020, 1, 2), date(2020, 1, 1))
    with pytest.raises(InvalidIntervalError):
        Interval.year(0)


def test_open_intervals_and_relations():
    before = Interval(None, date(2010, 12, 31))
    assert (
        before.is_open and before.start_day == MIN_DAY and Interval(date(2011, 1, 1), None).end_day == MAX_DAY
    )
    assert before.overlaps(Interval.year(2010)) and not before.overlaps(Interval.year(2011))
    assert Interval.years(1990, 1999).contains(Interval.year(1995))
    assert Interval.year(2000).gap_days(Interval.year(2002)) == 366
    assert Interval.year(2000).gap_days(Interval.year(2000)) == 0


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 5000))
def test_interval_round_trip(start, length):
    end = date.fromordinal(min(start.toordinal() + length, date(2100, 12, 31).toordinal()))
    interval = Interval(start, end, Granularity.DAY)
    assert Interval.from_dict(interval.to_dict()) == interval
    assert interval.contains_day(start) and interval.contains_day(end)


def test_mention_and_constraint_round_trip():
    mention = TimeMention("1995", 3, 7, Interval.year(1995))
    assert TimeMention.from_dict(mention.to_dict()) == mention
    constraint = TemporalConstraint("Q?", "Q?", Relation.BEFORE, Interval(None, date(2010, 12, 31)),
                                    Ordinal.NTH, date(2022, 1, 1), nth=2,
                                    time_text="before 2011")  # fmt: skip
    again = TemporalConstraint.from_dict(constraint.to_dict())
    assert again.to_dict() == constraint.to_dict()
    assert constraint.granularity is Granularity.YEAR


def test_enums_keep_their_values():
    assert Relation("as_of") is Relation.AS_OF and Relation.NONE.value == "none"
    assert Ordinal("latest") is Ordinal.LATEST
    assert Granularity.DECADE.days == 3652


def test_public_api_is_exported_and_light():
    for name in ("Interval", "Granularity", "Relation", "Ordinal", "TimeMention", "TemporalConstraint",
                 "extract_mentions", "parse_publication_date", "infer_document_date", "decompose",
                 "EmptyQuestionError", "QuestionTooLongError", "QueryDecomposer"):  # fmt: skip
        assert getattr(temporal, name) is not None
        assert name in temporal.__all__
    with pytest.raises(AttributeError):
        temporal.NoSuchThing  # noqa: B018


def test_import_does_not_load_heavy_libraries():
    import subprocess
    import sys

    code = ("import sys, chronorag.temporal; "
            "print(any(m in sys.modules for m in ('spacy', 'dateparser', 'haystack', 'torch')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
