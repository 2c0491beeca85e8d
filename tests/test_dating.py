"""Document dating: publication dates from metadata, and estimates for undated documents."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronorag.temporal import extract_mentions, infer_document_date, parse_publication_date

JUNE_16 = date(2022, 6, 16)


@pytest.mark.parametrize(
    "value",
    [
        "2022-06-16", "2022/06/16", "2022/6/16", "2022/06/16/16:34", "2022.06.16", "20220616",
        "2022-06-16T16:34:00", "2022-06-16T16:34:00Z", "2022-06-16T16:34:00+02:00", "2022-06-16 16:34:00",
        "Thu, 16 Jun 2022 16:34:00 +0000", "Thu, 16 Jun 2022 16:34:00 GMT", "June 16, 2022", "16 June 2022",
        1655373600, 1655373600.5, "1655373600", 1655373600000, date(2022, 6, 16),
        datetime(2022, 6, 16, 23, 59), datetime(2022, 6, 16, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        "  2022-06-16  ",
    ],
)  # fmt: skip
def test_publication_date_formats(value):
    assert parse_publication_date(value) == JUNE_16


def test_publication_date_partial_values():
    assert parse_publication_date("2022-06") == date(2022, 6, 1)
    assert parse_publication_date("2022") == date(2022, 1, 1)
    assert parse_publication_date(0) == date(1970, 1, 1)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "yesterday", "not a date", "2022-13-45", "2022-02-30", "99999", float("nan"),
     float("inf"), True, [], {}, object(), "0000-00-00", "Thu, 45 Foo 2022", b"2022-06-16", 10**30],
)  # fmt: skip
def test_publication_date_never_raises(value):
    assert parse_publication_date(value) is None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.integers(), st.floats(), st.none()))
def test_publication_date_on_arbitrary_values(value):
    result = parse_publication_date(value)
    assert result is None or isinstance(result, date)


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)))
def test_publication_date_round_trips_epoch_and_iso(moment):
    assert parse_publication_date(moment.isoformat()) == moment.date()
    aware = moment.replace(tzinfo=UTC)
    assert parse_publication_date(aware.timestamp()) == moment.date()


def test_infer_from_specific_days():
    text = ("The company said on March 3, 2022 that sales fell. Analysts met on March 7, 2022. "
            "The firm was founded in 1998 and listed in 2004.")  # fmt: skip
    estimate, confidence = infer_document_date(extract_mentions(text), text)
    assert estimate == date(2022, 3, 7)
    assert 0.0 < confidence <= 1.0


def test_infer_uses_yearless_days_and_present_words():
    text = (
        "Talks resumed on Tuesday. The 2021 deal expired on March 3 and a new one was signed March 9, 2022."
    )
    estimate, confidence = infer_document_date(extract_mentions(text), text)
    assert estimate == date(2022, 3, 9)
    assert confidence > 0.5


def test_infer_ignores_far_outliers():
    text = ("On May 2, 2022 the council voted. On May 4, 2022 the mayor signed. On May 5, 2022 it began. "
            "The plan runs until December 31, 2030.")  # fmt: skip
    estimate, _ = infer_document_date(extract_mentions(text), text)
    assert estimate == date(2022, 5, 5)


def test_infer_falls_back_to_months_and_years():
    month_text = "Sales in February 2021 rose, after January 2021 fell."
    assert infer_document_date(extract_mentions(month_text), month_text)[0] == date(2021, 2, 15)
    year_text = "The law of 2019 was changed in 2020."
    estimate, confidence = infer_document_date(extract_mentions(year_text), year_text)
    assert estimate == date(2020, 7, 1)
    assert confidence < 0.5


def test_infer_reads_the_year_an_open_span_states():
    # "since 2012" runs on without an end: its stated year still dates the text, not the years after it.
    text = "He has been a FIDE Senior Trainer since 2012."
    assert extract_mentions(text)[0].interval.end is None
    assert infer_document_date(extract_mentions(text), text)[0] == date(2012, 7, 1)


def test_infer_reads_the_year_from_weekday_dates():
    # March 8 was a Tuesday in 2022, not in 2020 or 2021: the latest year mentioned is only a lower bound.
    text = "The 2020 law was changed. Lawmakers met on Tuesday, March 8 and voted on Thursday, March 10."
    estimate, _ = infer_document_date(extract_mentions(text), text)
    assert estimate == date(2022, 3, 10)


def test_infer_accepts_mentions_from_other_texts():
    # Ingestion passes the mentions of each passage (passage offsets) with the whole document text.
    passage = "Talks resumed on March 9, 2022 after the deal of 2021."
    document = "Headline. " + passage
    estimate, _ = infer_document_date(extract_mentions(passage), document)
    assert estimate == date(2022, 3, 9)


def test_infer_prefers_a_dateline():
    text = "The vote, Wednesday, November 23, 2022, follows the May 2019 ruling; the 2024 race is next."
    estimate, confidence = infer_document_date(extract_mentions(text), text)
    assert estimate == date(2022, 11, 23)
    assert confidence >= 0.9


def test_infer_holds_bare_future_years_back():
    text = "Sales rose in March 2021 and fell on April 2, 2021. The 2030 target stands."
    estimate, _ = infer_document_date(extract_mentions(text), text)
    assert estimate == date(2021, 4, 2)


def test_infer_without_dates():
    assert infer_document_date([], "Nothing dated here.") == (None, 0.0)
    assert infer_document_date([]) == (None, 0.0)
