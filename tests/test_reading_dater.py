"""ReadingDater: a reading the timeline did not list is dated where a passage writes it, then ruled on."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document

from chronorag.pipeline.answer_spans import Span
from chronorag.pipeline.answer_timeline import LOCATED, AnswerTimeline, located_spans
from chronorag.pipeline.reader_arbiter import ReaderArbiter
from chronorag.pipeline.reading_dater import ReadingDater
from chronorag.temporal import decompose

# spaCy tags "Tuesday" a date, so the timeline lists no "Tuesday Weld" (as on TimeQA dev's Pinchas Zukerman).
PASSAGES = [
    Document(
        id="riverton#1",
        content="Tom Hale served as mayor of Riverton from 2016 to 2022 . Before him , the actress "
        "Tuesday Weld was mayor of Riverton from 2008 to 2016 .",
        meta={"title": "Riverton"},
    )
]


def _ruled(question: str, reply: str, abstain: bool = True) -> tuple[dict, dict, dict]:
    constraint = decompose(question, as_of=date(2024, 1, 1))
    timeline = AnswerTimeline(abstain=abstain).run(query=question, documents=PASSAGES, constraint=constraint)
    dated = ReadingDater().run(
        query=question,
        documents=PASSAGES,
        replies=[reply],
        candidates=timeline["candidates"],
        constraint=constraint,
        abstention=timeline["abstention"],
    )
    verdict = ReaderArbiter(time_margin=0.5).run(
        replies=[reply], candidates=dated["candidates"], abstention=timeline["abstention"]
    )
    return timeline, dated, verdict


def test_to_dict():
    data = ReadingDater(max_passages=3, min_overlap=0.6).to_dict()
    assert data["type"] == "chronorag.pipeline.reading_dater.ReadingDater"
    assert data["init_parameters"] == {"max_passages": 3, "spacy_model": "default", "min_overlap": 0.6}


def test_from_dict():
    dater = ReadingDater.from_dict(ReadingDater(max_passages=2).to_dict())
    assert (dater.max_passages, dater.spacy_model, dater.min_overlap) == (2, "default", 0.5)


def test_run_a_reading_the_timeline_missed_is_dated_and_accepted_where_it_holds():
    timeline, dated, verdict = _ruled(
        "Who was the mayor of Riverton in 2010?", "Tuesday Weld [1]", abstain=False
    )
    assert "Tuesday Weld" not in [item["answer"] for item in timeline["candidates"]]
    located = dated["candidates"][-1]
    assert dated["candidates"][: len(timeline["candidates"])] == timeline["candidates"]
    assert located["answer"] == "Tuesday Weld" and located["located"] is True
    assert located["holds"] == {"start": "2008-01-01", "end": "2016-12-31"} and located["fit"] > 0.8
    assert located["sentence"].startswith("Before him , the actress Tuesday Weld")
    assert verdict["candidates"][0]["answer"] == "Tuesday Weld" and verdict["arbitration"]["accepted"]


def test_run_a_located_reading_is_still_ruled_on_time():
    # For 2019 the passage dates Tuesday Weld 2008-2016 and Tom Hale 2016-2022: the reading is overruled,
    # although its label (LOCATED) is no kind of the timeline's.
    _, dated, verdict = _ruled("Who was the mayor of Riverton in 2019?", "Tuesday Weld")
    assert dated["candidates"][-1]["answer"] == "Tuesday Weld"
    assert verdict["candidates"][0]["answer"] == "Tom Hale"
    assert "fits the asked time worse" in verdict["arbitration"]["reason"]


@pytest.mark.parametrize("reply", ["Mickey Mouse", "Tom Hale", "", "Unknown."])
def test_run_adds_nothing_for_a_listed_unwritten_or_empty_reading(reply: str):
    timeline, dated, _ = _ruled("Who was the mayor of Riverton in 2019?", reply)
    assert dated["candidates"] == timeline["candidates"]


def test_run_adds_nothing_after_an_abstention_or_with_options():
    question = "Who was the mayor of Riverton in 2010?"
    constraint = decompose(question, as_of=date(2024, 1, 1))
    timeline = AnswerTimeline().run(query=question, documents=PASSAGES, constraint=constraint)
    assert timeline["abstention"]["abstained"] is True
    inputs = {"query": question, "documents": PASSAGES, "replies": ["Tuesday Weld"], "constraint": constraint}
    dater = ReadingDater()
    assert dater.run(**inputs, candidates=timeline["candidates"], abstention=timeline["abstention"]) == {
        "candidates": timeline["candidates"]
    }
    chosen = dater.run(**inputs, candidates=timeline["candidates"], choices=["Tuesday Weld", "Tom Hale"])
    assert chosen == {"candidates": timeline["candidates"]}


def test_located_spans_find_the_answer_as_the_passage_spaces_it():
    text = "He joined C.D . Montijo in 2009 , then Richardson FC ; montijo won the cup ."
    found = located_spans(text, "C.D. Montijo", [])
    assert [(span.text, span.label) for span in found] == [("C.D . Montijo", LOCATED)]
    assert [span.text for span in located_spans(text, "Montijo", [])] == ["Montijo", "montijo"]
    assert located_spans(text, "Richard", []) == []  # whole words only
    known = [Span("Montijo", "ORG", text.index("Montijo"), text.index("Montijo") + len("Montijo"))]
    assert [span.text for span in located_spans(text, "Montijo", known)] == ["montijo"]
    assert located_spans(text, "...", []) == []
