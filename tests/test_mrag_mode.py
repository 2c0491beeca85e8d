"""MRAG's published scoring, reproduced: year reading, relation types, the 0.6..1 coefficient, 0.5 without
a year, the hybrid formula, and the ranker's ``mode="mrag"``."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document

from chronorag.rankers import mrag
from chronorag.rankers.semantic_temporal_ranker import SemanticTemporalRanker
from chronorag.temporal.model import Interval, Ordinal, Relation, TemporalConstraint

REF = date(2024, 1, 1)


def c(
    relation: Relation,
    interval: Interval | None,
    time_text: str | None = None,
    ordinal: Ordinal | None = None,
):
    return TemporalConstraint("q", "q", relation, interval, ordinal, REF, time_text=time_text)


def test_sentence_years_expands_ranges_like_mrag():
    assert mrag.sentence_years("He played 1990–93 for them") == [1990, 1991, 1992, 1993]
    assert mrag.sentence_years("from 2001-2003 and in the 1980s") == [1980, 2001, 2002, 2003]
    assert mrag.sentence_years("no year here, only 12345 and 99") == []


def test_relation_types():
    assert mrag.relation_type(c(Relation.BEFORE, Interval(None, date(2010, 12, 31)))) == "before"
    assert mrag.relation_type(c(Relation.AS_OF, Interval(None, date(2010, 12, 31)))) == "before"
    assert mrag.relation_type(c(Relation.UNTIL, Interval(None, date(2010, 12, 31)))) == "before"
    assert mrag.relation_type(c(Relation.SINCE, Interval(date(2010, 1, 1), None))) == "after"
    assert mrag.relation_type(c(Relation.BETWEEN, Interval.years(2000, 2005))) == "between"
    assert mrag.relation_type(c(Relation.IN, Interval.year(2000))) == "other"
    assert mrag.relation_type(None) == "other"


def test_question_years_undo_open_interval_shift():
    assert mrag.question_years(c(Relation.BEFORE, Interval(None, date(2010, 12, 31)))) == [2011]
    assert mrag.question_years(c(Relation.AFTER, Interval(date(2006, 1, 1), None))) == [2005]
    assert mrag.question_years(c(Relation.BEFORE, Interval(None, date(2010, 12, 31)), "before 2011")) == [
        2011
    ]
    assert mrag.question_years(c(Relation.BETWEEN, Interval.years(2000, 2005))) == [2000, 2005]


def test_before_coefficient_is_linear_over_fifty_years():
    before = c(Relation.BEFORE, Interval(None, date(2010, 12, 31)), "before 2011")
    assert mrag.coefficient("Title. In 2011 it happened", before) == (pytest.approx(1.0), 2011)
    assert mrag.coefficient("Title. In 1961 it happened", before) == (pytest.approx(0.6), 1961)
    assert mrag.coefficient("Title. In 1986 it happened", before)[0] == pytest.approx(0.8)
    # Outside the window, after the year, or no year at all: 0.5.
    assert mrag.coefficient("Title. In 1900 it happened", before)[0] == 0.5
    assert mrag.coefficient("Title. In 2015 it happened", before) == (0.5, None)
    assert mrag.coefficient("Title. Undated", before) == (0.5, None)


def test_after_and_first_reverse_the_line():
    after = c(Relation.AFTER, Interval(date(2001, 1, 1), None), "after 2000")
    assert mrag.coefficient("2000 and 2050", after)[0] == pytest.approx(1.0)  # latest relevant year: 2050
    first = c(Relation.AFTER, Interval(date(2001, 1, 1), None), "after 2000", Ordinal.FIRST)
    assert mrag.coefficient("2000 and 2050", first) == (pytest.approx(1.0), 2000)
    assert mrag.coefficient("2025", first)[0] == pytest.approx(0.8)


def test_between_uses_the_range_as_window():
    between = c(Relation.BETWEEN, Interval.years(2000, 2010), "from 2000 to 2010")
    assert mrag.coefficient("in 2005", between)[0] == pytest.approx(0.8)
    assert mrag.coefficient("in 2012", between)[0] == 0.5


def test_combine_is_mrag_hybrid_formula():
    assert mrag.combine(0.8, 1.0) == pytest.approx(0.8)
    assert mrag.combine(0.8, 0.6) == pytest.approx(0.64)
    # MRAG's behaviour with a negative semantic score, kept on purpose: a better year lowers it.
    assert mrag.combine(-2.0, 1.0) < mrag.combine(-2.0, 0.6)


@pytest.fixture(scope="module")
def ranker(embedder) -> SemanticTemporalRanker:
    ranker = SemanticTemporalRanker(mode="mrag", cross_encoder=None, device="cpu")
    ranker.warm_up()
    return ranker


def test_run_mrag_mode_uses_years_and_explains(ranker):
    docs = [
        Document(
            id="old",
            content="The mayor of Springfield was Alan Reed in 1965 .",
            meta={"title": "Springfield"},
        ),
        Document(
            id="new",
            content="The mayor of Springfield was Alan Reed in 2009 .",
            meta={"title": "Springfield"},
        ),
    ]
    question = "Who was the mayor of Springfield before 2010?"
    constraint = TemporalConstraint(
        question,
        "Who was the mayor of Springfield?",
        Relation.BEFORE,
        Interval(None, date(2009, 12, 31)),
        None,
        REF,
        time_text="before 2010",
    )
    ranked = ranker.run(question, docs, constraint)["documents"]
    assert ranked[0].id == "new"
    assert ranked[0].meta["score_temporal"] == pytest.approx(0.6 + 0.4 * 49 / 50)
    assert ranked[0].meta["matched_span"]["text"] == "2009"
    assert "mrag (before)" in ranked[0].meta["temporal_reason"]
    expected = mrag.combine(ranked[0].meta["score_semantic"], ranked[0].meta["score_temporal"])
    assert ranked[0].score == pytest.approx(expected)


def test_run_mrag_in_questions_are_semantic_only(ranker):
    docs = [Document(id="a", content="Bush was president from 2001 to 2009.", meta={"title": "Bush"})]
    constraint = TemporalConstraint(
        "Who was president in 1999?", "Who was president?", Relation.IN, Interval.year(1999), None, REF
    )
    ranked = ranker.run("Who was president in 1999?", docs, constraint)["documents"]
    assert ranked[0].meta["score_temporal"] == 1.0
    assert ranked[0].score == pytest.approx(ranked[0].meta["score_semantic"])
