"""AnswerTimeline: candidate answers with the intervals they hold, the one valid for the asked time."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document

from chronorag.pipeline.answer_timeline import AnswerTimeline
from chronorag.temporal import decompose

RIVERTON = (
    "Jane Okafor defeated the incumbent Tom Hale, who had served since 2016, in the November 8 election. "
    "Okafor, a former teacher, takes office in January."
)
CENTRAL_BANK = (
    "The central bank cut interest rates by half a point on Wednesday, its first reduction in four years. "
    "Officials said inflation had eased."
)
CHELSEA = (
    "Carlo Ancelotti managed Chelsea from 2009 to 2011 and won the double. "
    "José Mourinho returned as manager in 2013 and stayed until 2015."
)


@pytest.fixture(scope="module")
def timeline() -> AnswerTimeline:
    component = AnswerTimeline()
    component.warm_up()
    return component


def _ask(timeline: AnswerTimeline, question: str, texts: list[tuple[str, str | None]], as_of: date) -> dict:
    documents = [
        Document(
            id=f"doc#{number}", content=text, meta={"title": "", "date": published, "doc_id": f"doc{number}"}
        )
        for number, (text, published) in enumerate(texts, start=1)
    ]
    return timeline.run(query=question, documents=documents, constraint=decompose(question, as_of=as_of))


def test_to_dict():
    assert AnswerTimeline(max_passages=4, abstain=False).to_dict() == {
        "type": "chronorag.pipeline.answer_timeline.AnswerTimeline",
        "init_parameters": {"max_passages": 4, "spacy_model": "default", "abstain": False},
    }


def test_from_dict():
    restored = AnswerTimeline.from_dict(AnswerTimeline(max_passages=2).to_dict())
    assert (restored.max_passages, restored.spacy_model, restored.abstain) == (2, "default", True)


def test_run_mayor_in_2019_is_the_incumbent_the_winner_defeated(timeline):
    result = _ask(
        timeline, "Who was mayor of Riverton in 2019?", [(RIVERTON, "2022-11-09")], date(2024, 9, 24)
    )
    assert result["replies"] == ["Tom Hale"]
    assert result["abstention"] == {"abstained": False, "reason": None}
    holds = {(item["answer"], item["holds"]["start"], item["holds"]["end"]) for item in result["timeline"]}
    # Tom Hale: 2016 until the election; Jane Okafor: from the election (the year comes from the
    # publication), and from January 2023, when she takes office.
    assert ("Tom Hale", "2016-01-01", "2022-11-08") in holds
    assert ("Jane Okafor", "2022-11-08", None) in holds
    assert ("Jane Okafor", "2023-01-01", None) in holds
    assert result["candidates"][0]["passage"] == 1 and result["candidates"][0]["time"] == "2016 to 2022-11-08"


def test_run_current_mayor_is_the_winner(timeline):
    result = _ask(
        timeline, "Who is the mayor of Riverton now?", [(RIVERTON, "2022-11-09")], date(2024, 9, 24)
    )
    assert result["replies"] == ["Jane Okafor"]


def test_run_what_the_central_bank_did_last_week_is_the_action(timeline):
    result = _ask(
        timeline, "What did the central bank do last week?", [(CENTRAL_BANK, "2024-09-19")], date(2024, 9, 24)
    )
    assert result["replies"] == ["cut interest rates by half a point"]
    assert result["candidates"][0]["holds"] == {"start": "2024-09-18", "end": "2024-09-18"}


@pytest.mark.parametrize(
    ("question", "gold"),
    [
        ("Who managed Chelsea in 2010?", "Carlo Ancelotti"),
        ("Who managed Chelsea in 2014?", "José Mourinho"),
        ("Who managed Chelsea before 2012?", "Carlo Ancelotti"),
        ("Who managed Chelsea after 2012?", "José Mourinho"),
        ("Who was the first manager of Chelsea?", "Carlo Ancelotti"),
        ("Who was the latest manager of Chelsea?", "José Mourinho"),
    ],
)
def test_run_relations_and_ordinals(timeline, question, gold):
    result = _ask(timeline, question, [(CHELSEA, None)], date(2024, 1, 1))
    assert result["replies"] == [gold], result["candidates"][:3]


def test_run_before_joining_ends_the_earlier_service(timeline):
    text = "Enyart served in the U.S. Air Force before joining the Illinois Army National Guard in 1982."
    result = _ask(
        timeline,
        "Which military branch did Enyart belong to from 1969 to 1973?",
        [(text, None)],
        date(2024, 1, 1),
    )
    assert result["replies"] == ["U.S. Air Force"] or result["replies"] == ["Air Force"]
    result = _ask(
        timeline,
        "Which military branch did Enyart belong to from 1985 to 1990?",
        [(text, None)],
        date(2024, 1, 1),
    )
    assert result["replies"] == ["Illinois Army National Guard"]


def test_run_abstains_without_evidence(timeline):
    result = timeline.run(query="Who was mayor of Riverton in 2019?", documents=[], constraint=None)
    assert result["abstention"]["abstained"] is True
    assert "no passage was retrieved" in result["abstention"]["reason"]
    assert result["replies"][0].startswith("No answer:")


def test_run_abstains_when_the_evidence_has_no_dates(timeline):
    text = "Carlo Ancelotti managed Chelsea and won the double."
    result = _ask(timeline, "Who managed Chelsea in 2010?", [(text, None)], date(2024, 1, 1))
    assert result["abstention"]["abstained"] is True
    assert "no dates" in result["abstention"]["reason"]


def test_run_abstains_when_no_passage_covers_the_asked_time(timeline):
    result = _ask(timeline, "Who managed Chelsea in 1990?", [(CHELSEA, None)], date(2024, 1, 1))
    assert result["abstention"]["abstained"] is True
    assert (
        "1990" in result["abstention"]["reason"]
        and "Carlo Ancelotti: 2009 to 2011" in result["abstention"]["reason"]
    )


def test_run_abstains_on_contradictory_sources(timeline):
    result = _ask(
        timeline,
        "Who coached the Riverton Rams in 2019?",
        [
            ("Maria Lopez coached the Riverton Rams from 2018 to 2020.", "2021-01-05"),
            ("Peter Brandt coached the Riverton Rams from 2018 to 2020.", "2021-02-11"),
        ],
        date(2024, 1, 1),
    )
    assert result["abstention"]["abstained"] is True
    assert "disagree" in result["abstention"]["reason"]
    assert {item["answer"] for item in result["candidates"][:2]} == {"Maria Lopez", "Peter Brandt"}
    assert set(result["abstention"]["disputed"]) == {"Maria Lopez", "Peter Brandt"}


def test_run_without_a_time_answers_and_never_abstains_for_time(timeline):
    result = _ask(
        timeline, "Who managed Chelsea?", [("Carlo Ancelotti managed Chelsea.", None)], date(2024, 1, 1)
    )
    assert result["replies"] == ["Carlo Ancelotti"]
    assert result["abstention"]["abstained"] is False


def test_run_a_dateless_sentence_after_since_is_dated_by_its_start_not_forever(timeline):
    # "Since 1979" opens a state that still holds; the next sentence happened after 1979, it is not
    # dated "from 1979 on", so it does not fit every later year.
    text = (
        "Since 3 August 1979 the show has been broadcast by Sveriges Television. "
        "When Lasse Berghagen took over as host, the ratings increased."
    )
    result = _ask(timeline, "Who hosted the show in 2014?", [(text, None)], date(2024, 9, 24))
    inherited = [entry for entry in result["timeline"] if entry["answer"] == "Lasse Berghagen"]
    assert inherited and inherited[0]["role"] == "inherited"
    assert inherited[0]["holds"] == {"start": "1979-08-03", "end": "1979-08-03"}


@pytest.mark.parametrize(
    ("sentence", "name", "expected"),
    [
        ("In 2020 it was announced that the Polish Aviation Group would acquire Condor.", "Polish", True),
        ("He will join Arsenal in 2021.", "Arsenal", True),
        ("The club is expected to sign Ortega in 2022.", "Ortega", True),
        ("In 2021 he joined Arsenal.", "Arsenal", False),
        ("In 2005 he would later join Chelsea as coach.", "Chelsea", False),  # told history, not a plan
        ("From 2000 onwards the shares were acquired by Thomas Cook AG.", "Thomas", False),
    ],
)
def test_planned_tells_a_plan_from_what_happened(timeline, sentence, name, expected):
    from chronorag.pipeline.answer_spans import Span
    from chronorag.pipeline.timeline import planned

    parsed = timeline._nlp(sentence)
    start = sentence.index(name)
    word_end = start + len(sentence[start:].split(" ")[0].rstrip("."))
    assert planned(Span(name, "ORG", start, word_end), parsed) is expected


def test_run_a_planned_acquisition_scores_lower_than_a_done_one(timeline):
    question = "Who was the owner of Condor in 2020?"
    as_of = date(2024, 1, 1)
    done = _ask(timeline, question, [("In 2020 Polish Aviation Group acquired Condor.", None)], as_of)
    plan = _ask(timeline, question, [("In 2020 Polish Aviation Group would acquire Condor.", None)], as_of)

    def score(result: dict) -> float:
        return max(e["score"] for e in result["timeline"] if e["answer"] == "Polish Aviation Group")

    assert score(plan) < score(done)


def test_a_league_named_where_a_team_is_asked_counts_against_it(timeline):
    from chronorag.pipeline.answer_timeline import feature_vector
    from chronorag.pipeline.candidate_model import load_candidate_model

    text = "Gary Mills managed Tamworth in the Southern League Premier Division from 2001 to 2002."
    question = "What team was coached by Gary Mills from 2001 to 2002?"
    entries = timeline.candidates_of(question, [Document(id="d#1", content=text)], decompose(question))
    by_answer = {entry.answer: entry for entry in entries}
    league, team = by_answer["Southern League Premier Division"], by_answer["Tamworth"]
    assert league.features["competition"] == 1.0 and team.features["competition"] == 0.0
    unmarked = load_candidate_model().score([{**feature_vector(league), "competition": 0.0}])[0]
    assert league.score < unmarked - 0.3
    # Asked for an award, an award's name is no mark against it.
    award = timeline.candidates_of(
        "Which award did Gary Mills win in 2002?",
        [Document(id="d#2", content="Mills won the FA Trophy in 2002.")],
        decompose("Which award did Gary Mills win in 2002?"),
    )
    assert all(entry.features["competition"] == 0.0 for entry in award)


def test_run_candidates_are_tidy_names_without_list_dashes_or_unclosed_brackets(timeline):
    # A TimeQA list item and a name whose code's closing bracket the tagger leaves outside the entity.
    question = "Which position did Jan Peterson hold from 2003 to 2007?"
    text = (
        "- Deputy Prime Minister and Minister of Justice ( July 2003 – December 2007 ) . "
        "He commanded Patrol Squadron 52 ( VP-52 ) from 2003 to 2007 ."
    )
    result = _ask(timeline, question, [(text, None)], date(2024, 1, 1))
    answers = [entry["answer"] for entry in result["timeline"]]
    assert answers, "no candidates"
    assert not any(answer.startswith(("-", "–")) for answer in answers)
    assert all(answer.count("(") <= answer.count(")") for answer in answers)
