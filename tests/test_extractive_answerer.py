"""ExtractiveAnswerer: typed answer spans from the time-fitting sentence, with spaCy (no LLM)."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document

from chronorag.evals.metrics import normalize_answer as normalize
from chronorag.pipeline.answer_spans import strip_possessive
from chronorag.pipeline.evidence import answer_contains, question_type
from chronorag.pipeline.extractive_answerer import NO_ANSWER, ExtractiveAnswerer
from chronorag.temporal import decompose

REFERENCE = date(2024, 1, 1)


def _doc(text: str, title: str = "", doc_id: str | None = None) -> Document:
    # No time_spans in meta: the answerer extracts them itself, as for documents from elsewhere.
    return Document(content=text, meta={"title": title}, id=doc_id)


@pytest.fixture(scope="module")
def answerer() -> ExtractiveAnswerer:
    component = ExtractiveAnswerer()
    component.warm_up()
    return component


def test_to_dict():
    assert ExtractiveAnswerer(max_passages=2).to_dict() == {
        "type": "chronorag.pipeline.extractive_answerer.ExtractiveAnswerer",
        "init_parameters": {"max_passages": 2, "spacy_model": "default"},
    }


def test_from_dict():
    restored = ExtractiveAnswerer.from_dict(ExtractiveAnswerer(max_passages=4).to_dict())
    assert restored.max_passages == 4 and restored.spacy_model == "default"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who coached Chelsea in 2010?", "person"),
        ("The airline Condor had who as its owner from 1999 to 2000?", "person"),
        ("When did Carlo Ancelotti join Chelsea?", "date"),
        ("Where was Angela Merkel born?", "place"),
        ("Where did Eliot Engel study from 1968 to 1969?", "org"),
        ("How many goals did Messi score in 2012?", "number"),
        ("Which team did Gary Mills coach from 1996 to 1998?", "org"),
        ("Which head coach did Flora Tallinn have in 2017?", "person"),
        ("In what city was the treaty signed?", "place"),
        ("What nationality did Jimmy Lai have in 1960?", "nationality"),
        ("What title did World Athletics have from 2001 to 2019?", "entity"),
    ],
)
def test_question_types(question, kind):
    assert question_type(question) == kind


def test_run_picks_the_person_of_the_asked_year(answerer):
    doc = _doc(
        "Carlo Ancelotti managed Chelsea from 2009 to 2011 and won the double. "
        "José Mourinho returned as manager in 2013 and stayed until 2015.",
        "Chelsea F.C.",
    )
    for question, gold in (
        ("Who managed Chelsea in 2010?", "Carlo Ancelotti"),
        ("Who managed Chelsea in 2014?", "José Mourinho"),
    ):
        result = answerer.run(
            query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE)
        )
        assert answer_contains(result["replies"][0], gold), result


def test_run_returns_candidates_with_their_time(answerer):
    question = "Who managed Chelsea in 2010?"
    docs = [
        _doc("Carlo Ancelotti managed Chelsea from 2009 to 2011.", "Chelsea", "a"),
        _doc("José Mourinho managed Chelsea from 2013 to 2015.", "Chelsea", "b"),
    ]
    result = answerer.run(query=question, documents=docs, constraint=decompose(question, as_of=REFERENCE))
    first, second = result["candidates"]
    assert (first["passage"], first["id"], first["answer"]) == (1, "a", "Carlo Ancelotti")
    assert first["fit"] == 1.0 and first["time"] == "2009–2011"
    assert second["answer"] == "José Mourinho" and second["fit"] == 0.0 and second["time"] == "2013–2015"


def test_run_answers_when_with_a_date(answerer):
    question = "When did Hossenfelder join Nordita?"
    doc = _doc(
        "Hossenfelder joined Nordita Institute for Theoretical Physics , Sweden , in 2009 as a professor ."
    )
    reply = answerer.run(query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE))[
        "replies"
    ][0]
    assert "2009" in reply


def test_run_answers_how_many_with_a_number(answerer):
    question = "How many employees did the company have in 2015?"
    doc = _doc("In 2015 the company had 4,500 employees in Berlin and Munich.")
    reply = answerer.run(query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE))[
        "replies"
    ][0]
    assert "4,500" in reply


def test_run_joins_an_organisation_and_its_city(answerer):
    question = "Which university did Hossenfelder work at from 2004 to 2005?"
    doc = _doc("From 2004 to 2005 she held a fellowship at the University of Arizona , Tucson .")
    reply = answerer.run(query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE))[
        "replies"
    ][0]
    assert answer_contains(reply, "University of Arizona , Tucson")


def test_run_skips_the_question_subject(answerer):
    question = "Which team did Gary Mills coach from 1996 to 1998?"
    doc = _doc("Gary Mills coached Grantham Town from 1996 to 1998 .")
    reply = answerer.run(query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE))[
        "replies"
    ][0]
    assert reply == "Grantham Town"


def test_run_without_documents_says_so(answerer):
    result = answerer.run(query="Who won?", documents=[])
    assert result == {"replies": [NO_ANSWER], "candidates": []}


def test_run_picks_the_name_written_next_to_the_asked_time(answerer):
    # One sentence, two clubs: the span nearest the fitting year wins, not the first one in the sentence.
    doc = _doc("He joined Fulham in 2011 and signed for Stoke City in 2014.", "Steve Sidwell")
    question = "Which club did Steve Sidwell play for in 2014?"
    result = answerer.run(query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE))
    assert normalize(result["replies"][0]) == "stoke city", result["candidates"]


def test_run_completes_a_surname_to_the_full_name(answerer):
    doc = _doc(
        "Jürgen Henn was appointed head coach in August 2018. Under Henn , the club won the 2019 title.",
        "FC Flora",
    )
    question = "Who coached FC Flora in 2019?"
    result = answerer.run(query=question, documents=[doc], constraint=decompose(question, as_of=REFERENCE))
    assert result["replies"][0] == "Jürgen Henn", result["candidates"]


def test_possessive_is_stripped_even_without_its_apostrophe():
    texts = ["He returned to Chelsea in 2007.", "He struggled in Chelseas first team."]
    assert strip_possessive("Chelsea's", texts) == "Chelsea"
    assert strip_possessive("Chelseas", texts) == "Chelsea"
    # A plural name is kept when its bare form is not written anywhere.
    assert strip_possessive("Cousins Properties", ["Cousins Properties bought the tower."]) == (
        "Cousins Properties"
    )
