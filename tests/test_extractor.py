"""Time expression extraction: the fast regex path, relative expressions, the full spaCy path."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronorag.temporal import Granularity, Interval, TimeMention, extract_mentions

REF = date(2022, 6, 15)  # a Wednesday

# text, expected (mention text, start, end, granularity) in order
FAST_CASES = [
    ("He was born in 1995.", [("1995", "1995-01-01", "1995-12-31", "year")]),
    ("It opened in March 2022 downtown.", [("March 2022", "2022-03-01", "2022-03-31", "month")]),
    ("Music of the 1990s", [("the 1990s", "1990-01-01", "1999-12-31", "decade")]),
    ("Results for Q3 2023 beat estimates", [("Q3 2023", "2023-07-01", "2023-09-30", "quarter")]),
    ("They toured in summer 2019.", [("summer 2019", "2019-06-01", "2019-08-31", "season")]),
    ("He served 1990-93 as mayor", [("1990-93", "1990-01-01", "1993-12-31", "year")]),
    ("He served from 1990 to 1993.", [("from 1990 to 1993", "1990-01-01", "1993-12-31", "year")]),
    ("He served between 2019 and 2021.", [("between 2019 and 2021", "2019-01-01", "2021-12-31", "year")]),
    ("He served 1990–1993.", [("1990–1993", "1990-01-01", "1993-12-31", "year")]),
    ("Published 2022-06-16 in print", [("2022-06-16", "2022-06-16", "2022-06-16", "day")]),
    ("On 5 May 2019 it rained", [("5 May 2019", "2019-05-05", "2019-05-05", "day")]),
    ("Born December 11 , 1895 in Ohio", [("December 11 , 1895", "1895-12-11", "1895-12-11", "day")]),
    ("the early 2000s", [("the early 2000s", "2000-01-01", "2003-12-31", "decade")]),
    ("in the 19th century", [("the 19th century", "1800-01-01", "1899-12-31", "century")]),
    ("Jan-Mar 2020 sales", [("Jan-Mar 2020", "2020-01-01", "2020-03-31", "month")]),
    ("on 16.06.2022 at noon", [("16.06.2022", "2022-06-16", "2022-06-16", "day")]),
    ("the 1999/00 season", [("1999/00", "1999-01-01", "2000-12-31", "year")]),
    ("In 1066 the Normans came", [("1066", "1066-01-01", "1066-12-31", "year")]),
    ("in 2019 people voted", [("2019", "2019-01-01", "2019-12-31", "year")]),
    ("31 February 2019", [("31 February 2019", "2019-02-01", "2019-02-28", "month")]),
    ("We met at Christmas 2019.", [("Christmas 2019", "2019-12-25", "2019-12-25", "day")]),
    ("Easter 2021 was quiet", [("Easter 2021", "2021-04-04", "2021-04-04", "day")]),
    ("Thanksgiving 2022 sales", [("Thanksgiving 2022", "2022-11-24", "2022-11-24", "day")]),
    ("He ruled 2001-2005.", [("2001-2005", "2001-01-01", "2005-12-31", "year")]),
    ("It fell in 1066 AD.", [("1066 AD", "1066-01-01", "1066-12-31", "year")]),
]

NOT_DATES = [
    "A Boeing 747 landed.",
    "He sent 4000 troops and 2000 soldiers.",
    "See page 1995 of volume 3.",
    "The meeting is at 10:30 tomorrow morning.",
    "They won the match 2-1 win.",
    "Call 555-1995 or (212) 555-2019 now.",
    "They may 2 have left; you may come.",
    "Theresa May said so.",
    "It weighs 1850 kg and costs $2000.",
    "She is in her 90s.",
    "It was built in 1200 BC.",
    "More than 1500 people came.",
]


@pytest.mark.parametrize(("text", "expected"), FAST_CASES)
def test_fast_extraction(text, expected):
    mentions = extract_mentions(text)
    got = [(m.text, m.interval.to_dict()["start"], m.interval.to_dict()["end"], m.interval.granularity.value)
           for m in mentions]  # fmt: skip
    assert got == expected
    for mention in mentions:
        assert text[mention.char_start : mention.char_end] == mention.text


# A date that opens a state still holding ("since", "to present", "onwards") gives an interval open at its
# end; the mention's text stays the date itself.
OPEN_CASES = [
    ("He has been a FIDE Senior Trainer since 2012.", ("2012", "2012-01-01", None, "year")),
    ("He has served as mayor since March 2016.", ("March 2016", "2016-03-01", None, "month")),
    ("- 2015–present : Mona Pedersen ( LL )", ("2015", "2015-01-01", None, "year")),
    ("The chairmen ( 1966 to present )", ("1966", "1966-01-01", None, "year")),
    ("From 2000 onwards , the shares were acquired.", ("2000", "2000-01-01", None, "year")),
    ("From 2001 on, he taught law.", ("2001", "2001-01-01", None, "year")),
    ("From 2001 on the board, he taught law.", ("2001", "2001-01-01", "2001-12-31", "year")),
    ("In 2004, she graduated from high school.", ("2004", "2004-01-01", "2004-12-31", "year")),
]


@pytest.mark.parametrize(("text", "expected"), OPEN_CASES)
def test_fast_extraction_opens_a_state_that_still_holds(text, expected):
    (mention,) = extract_mentions(text)
    interval = mention.interval.to_dict()
    assert (mention.text, interval["start"], interval["end"], mention.interval.granularity.value) == expected


@pytest.mark.parametrize("text", NOT_DATES)
def test_false_friends_are_not_dates(text):
    assert extract_mentions(text) == []


RELATIVE_CASES = [
    ("It happened last year.", "last year", "2021-01-01", "2021-12-31"),
    ("It happened three weeks ago.", "three weeks ago", "2022-05-23", "2022-05-29"),
    ("It happened yesterday.", "yesterday", "2022-06-14", "2022-06-14"),
    ("It opens next month.", "next month", "2022-07-01", "2022-07-31"),
    ("It happened recently.", "recently", "2022-03-17", "2022-06-15"),
    ("It happened on Monday.", "on Monday", "2022-06-13", "2022-06-13"),
    ("It happened on March 3.", "March 3", "2022-03-03", "2022-03-03"),
    ("Prices rose in May.", "May", "2022-05-01", "2022-05-31"),
    ("It happened 2 days ago.", "2 days ago", "2022-06-13", "2022-06-13"),
    ("Over the past year prices rose.", "past year", "2021-06-15", "2022-06-15"),
]


@pytest.mark.parametrize(("text", "span", "start", "end"), RELATIVE_CASES)
def test_relative_expressions_need_a_reference(text, span, start, end):
    mentions = extract_mentions(text, reference=REF)
    assert [(m.text, m.interval.to_dict()["start"], m.interval.to_dict()["end"]) for m in mentions] == [
        (span, start, end)
    ]
    assert extract_mentions(text) == []  # without a reference their dates are unknown


def test_datetime_reference_gives_days():
    from datetime import datetime

    [mention] = extract_mentions("It happened yesterday.", reference=datetime(2022, 6, 15, 18, 30))
    assert mention.interval.to_dict()["start"] == "2022-06-14"


def test_mentions_serialise():
    mention = extract_mentions("In March 2022 it opened.")[0]
    assert mention.to_dict() == {"text": "March 2022", "char_start": 3, "char_end": 13, "start": "2022-03-01",
                                 "end": "2022-03-31", "granularity": "month"}  # fmt: skip
    assert TimeMention.from_dict(mention.to_dict()) == mention


def test_bad_mode_and_empty_text():
    with pytest.raises(ValueError, match="mode"):
        extract_mentions("1995", mode="slow")
    assert extract_mentions("") == []


@pytest.mark.parametrize("phrase", ["55", "5-6 days", "five-year", "three years", "annual", "the age of 12"])
def test_dateparser_rejects_durations_and_numbers(phrase):
    from chronorag.temporal.extractor import normalise_with_dateparser

    assert normalise_with_dateparser(phrase, REF) is None


def test_dateparser_normalises_what_rules_miss():
    from chronorag.temporal.extractor import normalise_with_dateparser

    assert normalise_with_dateparser("the previous Friday", REF) == Interval.day(date(2022, 6, 10))
    assert normalise_with_dateparser("the previous Friday") is None  # no reference: unknown


def test_full_mode_adds_entities_and_keeps_rules():
    text = "The treaty was signed on the 4th of July 2019. Talks began two years ago. It lasted three years."
    fast = extract_mentions(text, reference=REF)
    full = extract_mentions(text, reference=REF, mode="full")
    assert [m.text for m in fast] == [m.text for m in full if m in fast]
    assert any(m.interval.start == date(2019, 7, 4) for m in full)
    assert not any("three years" in m.text for m in full)  # a duration, not a date
    for mention in full:
        assert text[mention.char_start : mention.char_end] == mention.text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_well_formed_mentions(text):
    for mention in extract_mentions(text, reference=REF):
        assert 0 <= mention.char_start < mention.char_end <= len(text)
        assert text[mention.char_start : mention.char_end] == mention.text
        interval = mention.interval
        assert interval.start is not None and interval.end is not None and interval.start <= interval.end
        assert isinstance(interval.granularity, Granularity)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1800, max_value=2100), st.integers(min_value=1, max_value=12))
def test_written_month_years_round_trip(year, month):
    name = date(2000, month, 1).strftime("%B")
    [mention] = extract_mentions(f"It opened in {name} {year}.")
    assert mention.interval.start == date(year, month, 1)
    assert mention.interval.granularity is Granularity.MONTH


def test_mentions_do_not_overlap_and_are_ordered():
    text = "From May 2007 to Mar 2011 he led it; in 2015, in the 1990s and on 2019-01-02 too."
    mentions = extract_mentions(text)
    assert [m.text for m in mentions] == ["From May 2007 to Mar 2011", "2015", "the 1990s", "2019-01-02"]
    for first, second in zip(mentions, mentions[1:], strict=False):
        assert first.char_end <= second.char_start
