"""Question decomposition: a table of tricky questions, bad input, and properties on arbitrary text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronorag.temporal import (
    EmptyQuestionError,
    Ordinal,
    QuestionTooLongError,
    Relation,
    TemporalConstraint,
    decompose,
)

REF = date(2022, 6, 15)  # a Wednesday

# question, content, relation, start, end, granularity, ordinal
CASES = [
    # relations with explicit years
    ("Who coached Chelsea before 2011?", "Who coached Chelsea?", "before", None, "2010-12-31", "year", None),
    (
        "Who coached Chelsea prior to 2011?",
        "Who coached Chelsea?",
        "before",
        None,
        "2010-12-31",
        "year",
        None,
    ),
    ("Who coached Chelsea after 2011?", "Who coached Chelsea?", "after", "2012-01-01", None, "year", None),
    ("Who coached Chelsea in 2011?", "Who coached Chelsea?", "in", "2011-01-01", "2011-12-31", "year", None),
    (
        "Who coached Chelsea during 2011?",
        "Who coached Chelsea?",
        "in",
        "2011-01-01",
        "2011-12-31",
        "year",
        None,
    ),
    ("Who coached Chelsea since 2011?", "Who coached Chelsea?", "since", "2011-01-01", None, "year", None),
    ("Who coached Chelsea until 2011?", "Who coached Chelsea?", "until", None, "2011-12-31", "year", None),
    ("Who was the CEO by 2010?", "Who was the CEO?", "until", None, "2010-12-31", "year", None),
    ("Who was elected no later than 2010?", "Who was elected?", "until", None, "2010-12-31", "year", None),
    (
        "Who led the party as of 2016?",
        "Who led the party?",
        "as_of",
        "2016-01-01",
        "2016-12-31",
        "year",
        None,
    ),
    (
        "Who led the party around 1990?",
        "Who led the party?",
        "around",
        "1990-01-01",
        "1990-12-31",
        "year",
        None,
    ),
    ("Who ruled Kyiv circa 1450?", "Who ruled Kyiv?", "around", "1450-01-01", "1450-12-31", "year", None),
    ("What happened on 5 May 2019?", "What happened?", "on", "2019-05-05", "2019-05-05", "day", None),
    ("What happened on May 5, 2019?", "What happened?", "on", "2019-05-05", "2019-05-05", "day", None),
    ("Who won from 2010 onwards?", "Who won?", "since", "2010-01-01", None, "year", None),
    (
        "Which league did the Dukes play for from 1962?",
        "Which league did the Dukes play for?",
        "since",
        "1962-01-01",
        None,
        "year",
        None,
    ),
    (
        "Where was she educated right before 2004?",
        "Where was she educated?",
        "before",
        None,
        "2003-12-31",
        "year",
        None,
    ),
    ("Who was mayor later than March 2001?", "Who was mayor?", "after", "2001-04-01", None, "month", None),
    # ranges
    (
        "Who was the spouse of Gene Markey from 1939 to 1941?",
        "Who was the spouse of Gene Markey?",
        "between",
        "1939-01-01",
        "1941-12-31",
        "year",
        None,
    ),
    (
        "Who played for Ajax between 2019 and 2021?",
        "Who played for Ajax?",
        "between",
        "2019-01-01",
        "2021-12-31",
        "year",
        None,
    ),
    ("Who led the club 1990-93?", "Who led the club?", "between", "1990-01-01", "1993-12-31", "year", None),
    (
        "Who led the club in 1990–1993?",
        "Who led the club?",
        "between",
        "1990-01-01",
        "1993-12-31",
        "year",
        None,
    ),
    (
        "Who led the club 1990 – 1993?",
        "Who led the club?",
        "between",
        "1990-01-01",
        "1993-12-31",
        "year",
        None,
    ),
    (
        "What position did he take from May 2007 to Mar 2011?",
        "What position did he take?",
        "between",
        "2007-05-01",
        "2011-03-31",
        "month",
        None,
    ),
    (
        "Which team did he play for between Nov 1998 and Dec 1998?",
        "Which team did he play for?",
        "between",
        "1998-11-01",
        "1998-12-31",
        "month",
        None,
    ),
    (
        "Who ran it from May 1999 until September 2004?",
        "Who ran it?",
        "between",
        "1999-05-01",
        "2004-09-30",
        "month",
        None,
    ),
    (
        "Who was champion between August 21, 1979 and September 16, 1999?",
        "Who was champion?",
        "between",
        "1979-08-21",
        "1999-09-16",
        "day",
        None,
    ),
    (
        "Which teams met in the 1995-96 season final?",
        "Which teams met in the 1995-96 season final?",
        "between",
        "1995-01-01",
        "1996-12-31",
        "year",
        None,
    ),
    (
        "Where did she study in between 2002 and 2003?",
        "Where did she study?",
        "between",
        "2002-01-01",
        "2003-12-31",
        "year",
        None,
    ),
    (
        "Who was the leader of the party from 2001-2005?",
        "Who was the leader of the party?",
        "between",
        "2001-01-01",
        "2005-12-31",
        "year",
        None,
    ),
    (
        "Who coached Chelsea after 2005 and before 2011?",
        "Who coached Chelsea?",
        "between",
        "2006-01-01",
        "2010-12-31",
        "year",
        None,
    ),
    ("Who won the cup in 2010 or later?", "Who won the cup?", "since", "2010-01-01", None, "year", None),
    ("Who was the king in 1066 AD?", "Who was the king?", "in", "1066-01-01", "1066-12-31", "year", None),
    (
        "Which team did he play for in 1999 and 2000?",
        "Which team did he play for?",
        "in",
        "1999-01-01",
        "2000-12-31",
        "year",
        None,
    ),
    (
        "What did he do from 1990 to the present?",
        "What did he do?",
        "since",
        "1990-01-01",
        None,
        "year",
        None,
    ),
    (
        "Which team did he play for before the end of 1990?",
        "Which team did he play for?",
        "until",
        None,
        "1990-12-31",
        "season",
        None,
    ),
    (
        "Who was his spouse from 3 June 1990 to 5 May 1995?",
        "Who was his spouse?",
        "between",
        "1990-06-03",
        "1995-05-05",
        "day",
        None,
    ),
    # decades, centuries, parts of periods
    (
        "What music was popular in the 1990s?",
        "What music was popular?",
        "in",
        "1990-01-01",
        "1999-12-31",
        "decade",
        None,
    ),
    (
        "Who ruled France in the early 2000s?",
        "Who ruled France?",
        "in",
        "2000-01-01",
        "2003-12-31",
        "decade",
        None,
    ),
    (
        "Which team did he play for in late 1980s?",
        "Which team did he play for?",
        "in",
        "1987-01-01",
        "1989-12-31",
        "decade",
        None,
    ),
    ("What was built in the mid-1990s?", "What was built?", "in", "1994-01-01", "1996-12-31", "decade", None),
    (
        "Which league did the Dukes play for in1980s?",
        "Which league did the Dukes play for?",
        "in",
        "1980-01-01",
        "1989-12-31",
        "decade",
        None,
    ),
    (
        "What were cars like in the '60s?",
        "What were cars like?",
        "in",
        "1960-01-01",
        "1969-12-31",
        "decade",
        None,
    ),
    (
        "Who ruled Spain in the 19th century?",
        "Who ruled Spain?",
        "in",
        "1800-01-01",
        "1899-12-31",
        "century",
        None,
    ),
    ("What happened in early 1995?", "What happened?", "in", "1995-01-01", "1995-04-30", "season", None),
    ("What was signed by the end of 2019?", "What was signed?", "until", None, "2019-12-31", "season", None),
    # quarters, seasons, months, days
    (
        "What were Apple's sales in Q3 2023?",
        "What were Apple's sales?",
        "in",
        "2023-07-01",
        "2023-09-30",
        "quarter",
        None,
    ),
    (
        "What were the sales in the third quarter of 2023?",
        "What were the sales?",
        "in",
        "2023-07-01",
        "2023-09-30",
        "quarter",
        None,
    ),
    (
        "Which song topped the charts in summer 2019?",
        "Which song topped the charts?",
        "in",
        "2019-06-01",
        "2019-08-31",
        "season",
        None,
    ),
    (
        "Who was the chair of Fellbach in March 2022?",
        "Who was the chair of Fellbach?",
        "in",
        "2022-03-01",
        "2022-03-31",
        "month",
        None,
    ),
    (
        "Who was prime minister on 12 December 1930?",
        "Who was prime minister?",
        "on",
        "1930-12-12",
        "1930-12-12",
        "day",
        None,
    ),
    (
        "Who was president as of 2019-05-01?",
        "Who was president?",
        "as_of",
        "2019-05-01",
        "2019-05-01",
        "day",
        None,
    ),
    (
        "who is the speaker of the assembly as of October 08, 2020",
        "who is the speaker of the assembly",
        "as_of",
        "2020-10-08",
        "2020-10-08",
        "day",
        None,
    ),
    (
        "In 2019, who won the Super Bowl?",
        "Who won the Super Bowl?",
        "in",
        "2019-01-01",
        "2019-12-31",
        "year",
        None,
    ),
    # relative to the reference time (2022-06-15)
    ("Who won the league last year?", "Who won the league?", "in", "2021-01-01", "2021-12-31", "year", None),
    (
        "Who won the league two years ago?",
        "Who won the league?",
        "in",
        "2020-01-01",
        "2020-12-31",
        "year",
        None,
    ),
    ("What was announced yesterday?", "What was announced?", "in", "2022-06-14", "2022-06-14", "day", None),
    (
        "What is scheduled for next month?",
        "What is scheduled?",
        "in",
        "2022-07-01",
        "2022-07-31",
        "month",
        None,
    ),
    (
        "Which films were released three weeks ago?",
        "Which films were released?",
        "in",
        "2022-05-23",
        "2022-05-29",
        "week",
        None,
    ),
    ("Who has won since last year?", "Who has won?", "since", "2021-01-01", None, "year", None),
    (
        "Who is the coach of Chelsea now?",
        "Who is the coach of Chelsea?",
        "as_of",
        "2022-06-15",
        "2022-06-15",
        "day",
        "latest",
    ),
    (
        "Who currently coaches Chelsea?",
        "Who coaches Chelsea?",
        "as_of",
        "2022-06-15",
        "2022-06-15",
        "day",
        "latest",
    ),
    # ordinals
    (
        "Who was the first coach of Chelsea?",
        "Who was the first coach of Chelsea?",
        "none",
        None,
        None,
        None,
        "first",
    ),
    (
        "Who is the current coach of Chelsea?",
        "Who is the current coach of Chelsea?",
        "none",
        None,
        None,
        None,
        "latest",
    ),
    (
        "Who was the most recent coach of Chelsea before 2011?",
        "Who was the most recent coach of Chelsea?",
        "before",
        None,
        "2010-12-31",
        "year",
        "latest",
    ),
    (
        "When did england last get to the semi final as of 2021",
        "When did england last get to the semi final",
        "as_of",
        "2021-01-01",
        "2021-12-31",
        "year",
        "last",
    ),
    (
        "When was the earliest time he played for the Lakers after 2016?",
        "When was the earliest time he played for the Lakers?",
        "after",
        "2017-01-01",
        None,
        "year",
        "earliest",
    ),
    # no time, false friends
    ("Who coached Chelsea?", "Who coached Chelsea?", "none", None, None, None, None),
    (
        "How many seats does a Boeing 747 have?",
        "How many seats does a Boeing 747 have?",
        "none",
        None,
        None,
        None,
        None,
    ),
    ("Why were 4000 troops sent?", "Why were 4000 troops sent?", "none", None, None, None, None),
    (
        "Who scored in the 2-1 win at 10:30?",
        "Who scored in the 2-1 win at 10:30?",
        "none",
        None,
        None,
        None,
        None,
    ),
    (
        "What is on page 1995 of the report?",
        "What is on page 1995 of the report?",
        "none",
        None,
        None,
        None,
        None,
    ),
    ("Who may have written it?", "Who may have written it?", "none", None, None, None, None),
    (
        "Most home runs by 2 teammates in a season?",
        "Most home runs by 2 teammates in a season?",
        "none",
        None,
        None,
        None,
        None,
    ),
    (
        "Which team did John Williams (footballer, born 1968) play for in 1999?",
        "Which team did John Williams (footballer, born 1968) play for?",
        "in",
        "1999-01-01",
        "1999-12-31",
        "year",
        None,
    ),
    (
        "Who won the 2019 World Series?",
        "Who won the 2019 World Series?",
        "in",
        "2019-01-01",
        "2019-12-31",
        "year",
        None,
    ),
]


@pytest.mark.parametrize(("question", "content", "relation", "start", "end", "granularity", "ordinal"), CASES)
def test_decompose_table(question, content, relation, start, end, granularity, ordinal):
    result = decompose(question, as_of=REF).to_dict()
    got = {k: result[k] for k in ("content", "relation", "start", "end", "granularity", "ordinal")}
    assert got == {"content": content, "relation": relation, "start": start, "end": end,
                   "granularity": granularity, "ordinal": ordinal}  # fmt: skip


def test_table_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize(("question", "nth"), [("Who was the second coach of Chelsea?", 2),
                                               ("Who was the 5th president of France?", 5),
                                               ("Who won the third title of the club?", 3)])  # fmt: skip
def test_nth_ordinal(question, nth):
    result = decompose(question, as_of=REF)
    assert result.ordinal is Ordinal.NTH
    assert result.nth == nth


def test_result_fields():
    result = decompose("Who coached Chelsea before 2011?", as_of=REF)
    assert isinstance(result, TemporalConstraint)
    assert result.question == "Who coached Chelsea before 2011?"
    assert result.reference_time == REF
    assert result.time_text == "before 2011"
    assert result.relation is Relation.BEFORE
    assert TemporalConstraint.from_dict(result.to_dict()).to_dict() == result.to_dict()


def test_reference_defaults_to_today_and_accepts_strings():
    assert decompose("Who won?").reference_time == date.today()
    assert decompose("Who won last year?", as_of="2020-03-01").interval.start == date(2019, 1, 1)
    assert decompose("Who won?", as_of="2020/03/01").reference_time == date(2020, 3, 1)


def test_newlines_in_questions():
    result = decompose("When did they meet between 1979 and\n1999?", as_of=REF)
    assert result.relation is Relation.BETWEEN
    assert result.content == "When did they meet?"


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question(question):
    with pytest.raises(EmptyQuestionError):
        decompose(question)
    assert issubclass(EmptyQuestionError, ValueError)


def test_question_too_long():
    with pytest.raises(QuestionTooLongError):
        decompose("Who won " * 2000)
    assert issubclass(QuestionTooLongError, ValueError)
    assert decompose("x" * 10_000, as_of=REF).relation is Relation.NONE


def test_bad_as_of():
    with pytest.raises(ValueError, match="not a date"):
        decompose("Who won?", as_of="yesterday-ish")


@pytest.mark.parametrize(
    "question",
    [
        "What happened on 31 February 2019?",
        "Who won in year 0?",
        "What happened in 99999?",
        "¿Quién ganó la liga en 2019?",
        "Wer gewann 2019 die Meisterschaft?",
        "谁在2019年赢了？",
        "Who was president as of 2020-05-01T23:00:00-05:00 and 2020-05-02T01:00:00+09:00?",
        "2019",
        "before",
        "between and",
        "from 2019 to",
        "?!?",
        "Who won in 1990s' the the ???",
    ],
)
def test_odd_questions_give_sane_results(question):
    result = decompose(question, as_of=REF)
    assert result.content.strip()
    if result.interval is not None:
        assert (
            result.interval.start is None
            or result.interval.end is None
            or result.interval.start <= (result.interval.end)
        )
    else:
        assert result.relation is Relation.NONE


@pytest.mark.parametrize("reference", [date(1, 1, 1), date(9999, 12, 31)])
@pytest.mark.parametrize(
    "question",
    ["What happened after recently?", "Who won before yesterday?", "What happens in the next 99 decades?"],
)
def test_extreme_reference_times(reference, question):
    result = decompose(question, as_of=reference)
    assert result.reference_time == reference
    if result.interval is not None and result.interval.start and result.interval.end:
        assert result.interval.start <= result.interval.end


def test_invalid_day_falls_back_to_month():
    result = decompose("What happened on 31 February 2019?", as_of=REF)
    assert (result.interval.start, result.interval.end) == (date(2019, 2, 1), date(2019, 2, 28))


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_never_crashes_on_arbitrary_text(text):
    try:
        result = decompose(text, as_of=REF)
    except EmptyQuestionError:
        assert not text.strip()
        return
    assert isinstance(result.content, str) and result.content
    if result.interval is None:
        assert result.relation is Relation.NONE
    elif result.interval.start and result.interval.end:
        assert result.interval.start <= result.interval.end


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["before", "after", "in", "since", "until", "as of", "around", "by"]),
    st.integers(min_value=1000, max_value=2100),
)
def test_year_constraints_are_well_formed(cue, year):
    result = decompose(f"Who led the club {cue} {year}?", as_of=REF)
    assert result.content == "Who led the club?"
    assert result.interval is not None
    day = date(year, 6, 1)
    if result.relation is Relation.BEFORE:
        assert result.interval.end == date(year - 1, 12, 31) and not result.interval.contains_day(day)
    elif result.relation is Relation.AFTER:
        assert result.interval.start == date(year + 1, 1, 1) and not result.interval.contains_day(day)
    else:
        assert result.interval.contains_day(day)
