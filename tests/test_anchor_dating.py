"""Dating an anchored event from sentences (no store, no model): the choices date_event makes and explains."""

from __future__ import annotations

from datetime import date

from chronorag.temporal import Interval, extract_mentions
from chronorag.temporal.anchor_dating import EventEvidence, date_event
from chronorag.temporal.anchors import interval_text, without_dates
from chronorag.temporal.sentences import sentence_bounds

REF = date(2024, 1, 1)


def _evidence(source: str, sentence: str, similarity: float, published: date | None = None) -> EventEvidence:
    mentions = tuple(extract_mentions(sentence, reference=published))
    return EventEvidence(source, sentence, similarity, mentions, published)


def test_the_span_nearest_the_event_words_dates_it() -> None:
    sentence = "Construction began in 2017, and the new stadium opened in May 2019 before a friendly match."
    found, why = date_event("the new stadium opened", [_evidence("stadium#0", sentence, 0.7)], REF)
    assert why == ""
    assert found.interval == Interval.month(2019, 5)
    assert found.source_id == "stadium#0" and found.evidence == sentence
    assert "'May 2019'" in found.how


def test_below_the_relevance_threshold_nothing_is_dated() -> None:
    unrelated = _evidence("bakery#0", "The bakery opened in 1998 on the high street.", 0.2)
    found, why = date_event("the floating market was founded", [unrelated], REF)
    assert found is None
    assert "closely enough" in why and "0.20" in why


def test_the_event_words_lift_a_short_anchor_over_the_threshold() -> None:
    crash = _evidence("news#0", "Share prices crashed on Monday.", 0.41, published=date(2020, 3, 17))
    assert date_event("the crash", [crash], REF, word_weight=0.0)[0] is None
    found, _ = date_event("the crash", [crash], REF)
    assert found.interval == Interval.day(date(2020, 3, 16))  # "on Monday", the day before publication


def test_a_sentence_dating_the_event_after_the_reference_time_dates_nothing() -> None:
    sentence = "The bridge closed for repairs in March 2020 and reopened in September 2022."
    item = _evidence("bridge#0", sentence, 0.8)
    found, why = date_event("the bridge reopened", [item], date(2022, 1, 1))
    assert found is None  # not "March 2020": that span dates the closure
    assert "after the reference time" in why
    found, _ = date_event("the bridge reopened", [item], date(2023, 1, 1))
    assert found.interval == Interval.month(2022, 9)


def test_a_news_lead_without_a_date_is_dated_by_its_given_publication_day() -> None:
    sentence = "Northgate Bank cut its lending rate to a record low."
    lead = _evidence("news-bank#0", sentence, 0.8, date(2020, 4, 2))
    found, _ = date_event("the bank cut its rate", [lead], REF)
    assert found.interval == Interval.day(date(2020, 4, 2))
    assert "publication day 2020-04-02" in found.how
    undated = _evidence("page#0", sentence, 0.8)
    found, why = date_event("the bank cut its rate", [undated], REF)
    assert found is None and "state no date" in why
    published_later = _evidence("news#0", "The bank cut its lending rate.", 0.8, date(2025, 1, 1))
    assert date_event("the bank cut its rate", [published_later], REF)[0] is None


def test_agreement_across_passages_outweighs_one_closer_sentence() -> None:
    evidence = [
        _evidence("a#0", "The merger was completed in 2008.", 0.70),
        _evidence("b#0", "The two banks merged in 2008.", 0.66),
        _evidence("c#0", "The merger was announced in 2006.", 0.72),
    ]
    found, _ = date_event("the merger", evidence, REF)
    assert found.interval == Interval.year(2008)
    assert "1 other passage(s) agree" in found.how


def test_the_date_written_in_the_anchor_bounds_the_candidates() -> None:
    evidence = [_evidence("a#0", "Markets crashed in October 1987.", 0.7)]
    found, why = date_event("the crash", evidence, REF, within=Interval.year(2020))
    assert found is None and "outside 2020" in why
    evidence.append(_evidence("b#0", "Markets crashed in March 2020.", 0.6))
    found, _ = date_event("the crash", evidence, REF, within=Interval.year(2020))
    assert found.interval == Interval.month(2020, 3)


def test_no_evidence_is_explained() -> None:
    found, why = date_event("the merger", [], REF)
    assert found is None and "2024-01-01" in why


def test_without_dates_keeps_the_event_words() -> None:
    assert without_dates("the 2020 crash") == "the crash"
    assert without_dates("the crash in March 2020") == "the crash"
    assert without_dates("the club was relegated in 2015") == "the club was relegated"
    assert without_dates("the new stadium opened") == "the new stadium opened"


def test_interval_text() -> None:
    assert interval_text(Interval.year(2020)) == "2020"
    assert interval_text(Interval.years(2009, 2016)) == "2009-2016"
    assert interval_text(Interval.month(2019, 2)) == "2019-02"
    assert interval_text(Interval.day(date(2020, 3, 16))) == "2020-03-16"


def test_sentence_bounds_keep_offsets() -> None:
    text = "The club was founded in 1901.  The new stadium opened in May 2019. It holds 24,000 people."
    bounds = sentence_bounds(text)
    assert [text[a:b] for a, b in bounds] == [
        "The club was founded in 1901.",
        "The new stadium opened in May 2019.",
        "It holds 24,000 people.",
    ]
    assert sentence_bounds("") == []
    assert sentence_bounds("no end mark") == [(0, 11)]


def test_a_period_is_dated_by_its_range() -> None:
    sentence = "The Great Depression lasted from 1929 to 1939 and began with the crash of October 1929."
    found, _ = date_event("the Great Depression", [_evidence("depression#0", sentence, 0.8)], REF)
    assert found.interval == Interval.years(1929, 1939)
