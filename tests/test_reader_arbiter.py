"""ReaderArbiter: the LLM's own reading is accepted only when the timeline finds it holds for the asked time;
the read-mode prompt; the pipeline wiring of answer_mode="read"."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document

from chronorag.pipeline.answer_builder import ChronoAnswerBuilder
from chronorag.pipeline.answer_timeline import AnswerTimeline
from chronorag.pipeline.evidence import answer_overlap
from chronorag.pipeline.prompt_builder import TemporalPromptBuilder
from chronorag.pipeline.reader_arbiter import ReaderArbiter, short_answer, span_is_more_precise
from chronorag.temporal import decompose

QUESTION = "Who was mayor of Riverton in 2019?"
CONSTRAINT = decompose(QUESTION, as_of=date(2024, 1, 1))
PASSAGES = [
    Document(
        id="riverton#1",
        content="Jane Okafor was elected mayor of Riverton on 8 November 2022, defeating the incumbent "
        "Tom Hale, who had served as mayor of Riverton since 2016.",
        meta={"title": "Riverton election", "date": "2022-11-09"},
    ),
    Document(
        id="riverton#2",
        content="The Riverton city council approved the new stadium budget in 2019.",
        meta={"title": "Riverton stadium", "date": "2019-05-02"},
    ),
]


@pytest.fixture(scope="module")
def extracted() -> dict:
    return AnswerTimeline(abstain=False).run(query=QUESTION, documents=PASSAGES, constraint=CONSTRAINT)


def _answer_of(extracted: dict, reply: str | None, margin: float = 0.3) -> dict:
    verdict = ReaderArbiter(time_margin=margin).run(
        replies=None if reply is None else [reply],
        candidates=extracted["candidates"],
        abstention=extracted["abstention"],
    )
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=PASSAGES,
        replies=verdict["replies"],
        constraint=CONSTRAINT,
        candidates=verdict["candidates"],
        abstention=extracted["abstention"],
        arbitration=verdict["arbitration"],
    )["answer"]
    return answer


def test_to_dict():
    data = ReaderArbiter(
        time_margin=0.2, min_overlap=0.6, reader_words=False, undated_stands=False, same_kind=False
    ).to_dict()
    assert data["type"] == "chronorag.pipeline.reader_arbiter.ReaderArbiter"
    assert data["init_parameters"] == {
        "time_margin": 0.2,
        "min_overlap": 0.6,
        "reader_words": False,
        "undated_stands": False,
        "same_kind": False,
    }


def test_from_dict():
    arbiter = ReaderArbiter.from_dict(ReaderArbiter(time_margin=0.1).to_dict())
    assert (arbiter.time_margin, arbiter.min_overlap, arbiter.reader_words) == (0.1, 0.5, True)
    assert arbiter.undated_stands is True and arbiter.same_kind is True


@pytest.mark.parametrize("margin", [-0.1, 1.5])
def test_init_rejects_a_margin_outside_zero_to_one(margin: float):
    with pytest.raises(ValueError, match="time_margin"):
        ReaderArbiter(time_margin=margin)


def test_run_the_timeline_holds_tom_hale_for_2019(extracted: dict):
    names = [item["answer"] for item in extracted["candidates"]]
    assert "Tom Hale" in names and "Jane Okafor" in names
    fits = {item["answer"]: item["fit"] for item in extracted["candidates"]}
    assert fits["Tom Hale"] > fits["Jane Okafor"]


def test_run_a_reading_that_holds_for_the_asked_time_is_accepted(extracted: dict):
    answer = _answer_of(extracted, "Tom Hale [1].")
    assert answer["short_answer"] == "Tom Hale"
    assert answer["reader"]["accepted"] is True
    assert answer["answer"].startswith("Tom Hale [1]") and answer["cited"][0]["id"] == "riverton#1"


def test_run_a_reading_that_fits_the_asked_time_worse_is_overruled(extracted: dict):
    answer = _answer_of(extracted, "Jane Okafor", margin=0.0)
    assert answer["short_answer"] == "Tom Hale"
    assert answer["reader"] == {
        "reader_answer": "Jane Okafor",
        "matched": "Jane Okafor",
        "accepted": False,
        "reason": answer["reader"]["reason"],
    }
    assert "fits the asked time worse" in answer["reader"]["reason"]


def test_run_an_undated_reading_stands_where_no_time_contradicts_it():
    # "Sovremennik originated as a private enterprise of Alexander Pushkin": nothing dates the sentence, so
    # its fit of 0 says nothing against it; a dated candidate that fits worse is still overruled.
    candidates = [
        {"answer": "Russian literary magazine", "fit": 0.86, "role": "range", "passage": 1},
        {"answer": "Alexander Pushkin", "fit": 0.0, "role": "undated", "passage": 1},
        {"answer": "Nikolay Nekrasov", "fit": 0.1, "role": "point", "passage": 2},
    ]
    verdict = ReaderArbiter().run(replies=["Alexander Pushkin"], candidates=candidates)
    assert verdict["candidates"][0]["answer"] == "Alexander Pushkin"
    assert verdict["arbitration"]["accepted"] is True and "undated" in verdict["arbitration"]["reason"]
    dated = ReaderArbiter().run(replies=["Nikolay Nekrasov"], candidates=candidates)
    assert dated["candidates"][0]["answer"] == "Russian literary magazine"
    assert dated["arbitration"]["accepted"] is False
    strict = ReaderArbiter(undated_stands=False).run(replies=["Alexander Pushkin"], candidates=candidates)
    assert strict["candidates"][0]["answer"] == "Russian literary magazine"


# "What racing sport did Sergio Perez play from 2005 to 2006?" (TimeQA train): the timeline's choice is a
# region its sentence dates well; the reader names the series, which its own sentence dates less closely.
KINDS = [
    {"answer": "Europe", "label": "LOC", "fit": 0.9, "role": "point", "passage": 1},
    {"answer": "Formula BMW", "label": "ORG", "fit": 0.3, "role": "point", "passage": 1},
    {"answer": "A1 Grand Prix", "label": "ORG", "fit": 0.95, "role": "range", "passage": 2},
]


def test_run_a_reading_of_another_kind_than_the_timelines_choice_stands():
    verdict = ReaderArbiter(time_margin=0.5).run(replies=["Formula BMW"], candidates=KINDS)
    assert verdict["candidates"][0]["answer"] == "Formula BMW"
    assert verdict["arbitration"]["accepted"] is True
    assert "another kind" in verdict["arbitration"]["reason"]
    ruled = ReaderArbiter(time_margin=0.5, same_kind=False).run(replies=["Formula BMW"], candidates=KINDS)
    assert ruled["candidates"][0]["answer"] == "Europe" and ruled["arbitration"]["accepted"] is False


def test_run_a_reading_of_the_timelines_kind_is_still_ruled_on_time():
    ordered = [KINDS[2], KINDS[1], KINDS[0]]  # the timeline's choice is a series too
    verdict = ReaderArbiter(time_margin=0.5).run(replies=["Formula BMW"], candidates=ordered)
    assert verdict["candidates"][0]["answer"] == "A1 Grand Prix"
    assert "fits the asked time worse" in verdict["arbitration"]["reason"]


@pytest.mark.parametrize(
    ("reader", "span", "expected"),
    [
        ("Senegal", "Dakar , Senegal", True),  # the region of the place the passage names
        ("Centrale and Duomo", "Centrale", True),  # a list: each name is a candidate of its own
        ("Zara, Maciachini", "Zara", True),
        ("Bend", "Bend , Oregon", False),  # the place itself, without its region
        ("UN High Commissioner for Refugees", "High Commissioner for Refugees", False),
        ("Trinidad and Tobago", "Trinidad and Tobago", False),
        ("Andersen", "Andersen", False),
    ],
)
def test_span_is_more_precise(reader: str, span: str, expected: bool):
    assert span_is_more_precise(reader, span) is expected


def test_run_the_span_is_answered_where_the_reader_named_its_region():
    candidates = [{"answer": "Dakar , Senegal", "label": "GPE", "fit": 0.9, "passage": 1}]
    verdict = ReaderArbiter().run(replies=["Senegal"], candidates=candidates)
    assert verdict["candidates"][0]["answer"] == "Dakar , Senegal" and verdict["arbitration"]["accepted"]


def test_run_a_reading_that_is_no_candidate_is_overruled(extracted: dict):
    answer = _answer_of(extracted, "Mickey Mouse")
    assert answer["short_answer"] == extracted["candidates"][0]["answer"]
    assert answer["reader"]["accepted"] is False and answer["reader"]["matched"] is None


@pytest.mark.parametrize("reply", [None, "", "Unknown.", "The passages do not say."])
def test_run_no_reading_leaves_the_timeline_choice(extracted: dict, reply: str | None):
    answer = _answer_of(extracted, reply)
    assert answer["short_answer"] == extracted["candidates"][0]["answer"]
    assert answer["abstained"] is False


def test_run_the_readers_fuller_name_is_kept_when_it_names_the_candidate():
    candidates = [
        {"answer": "United Nations", "fit": 0.9, "passage": 1, "time": "2001 to 2005"},
        {"answer": "High Commissioner for Refugees", "fit": 0.9, "passage": 1, "time": "2001 to 2005"},
    ]
    verdict = ReaderArbiter().run(replies=["UN High Commissioner for Refugees"], candidates=candidates)
    assert verdict["candidates"][0]["answer"] == "UN High Commissioner for Refugees"
    assert verdict["candidates"][1]["answer"] == "United Nations"
    kept = ReaderArbiter(reader_words=False).run(
        replies=["UN High Commissioner for Refugees"], candidates=candidates
    )
    assert kept["candidates"][0]["answer"] == "High Commissioner for Refugees"


def test_run_an_abstention_stands_whatever_the_reader_says(extracted: dict):
    abstention = {"abstained": True, "reason": "no passage holds an answer for 1990"}
    verdict = ReaderArbiter().run(
        replies=["Tom Hale"], candidates=extracted["candidates"], abstention=abstention
    )
    assert verdict["arbitration"] == {} and verdict["replies"] == []
    assert verdict["candidates"] == extracted["candidates"] and verdict["abstention"] == abstention


RIVALS = [
    Document(
        id="rams#1",
        content="Maria Lopez coached the Riverton Rams from 2018 to 2020.",
        meta={"title": "Riverton Rams", "date": "2021-01-05"},
    ),
    Document(
        id="rams#2",
        content="Peter Brandt coached the Riverton Rams from 2018 to 2020.",
        meta={"title": "Rams history", "date": "2021-02-11"},
    ),
]
RIVALS_QUESTION = "Who coached the Riverton Rams in 2019?"


@pytest.fixture(scope="module")
def disputed() -> dict:
    constraint = decompose(RIVALS_QUESTION, as_of=date(2024, 1, 1))
    return AnswerTimeline().run(query=RIVALS_QUESTION, documents=RIVALS, constraint=constraint)


def test_run_a_reading_naming_one_of_two_disputed_answers_settles_the_dispute(disputed: dict):
    assert disputed["abstention"]["abstained"] is True
    verdict = ReaderArbiter().run(
        replies=["Peter Brandt [2]"], candidates=disputed["candidates"], abstention=disputed["abstention"]
    )
    assert verdict["candidates"][0]["answer"] == "Peter Brandt" and verdict["arbitration"]["accepted"]
    assert "disagree" in verdict["arbitration"]["reason"]
    assert verdict["abstention"] == {
        "abstained": False,
        "reason": None,
        "settled": disputed["abstention"]["reason"],
    }
    answer = ChronoAnswerBuilder().run(
        query=RIVALS_QUESTION,
        documents=RIVALS,
        constraint=decompose(RIVALS_QUESTION, as_of=date(2024, 1, 1)),
        **verdict,
    )["answer"]
    assert answer["abstained"] is False and answer["short_answer"] == "Peter Brandt"
    assert "disagree" in answer["reader"]["reason"]


@pytest.mark.parametrize("reply", ["Tom Hale", "Not mentioned in the passages.", None])
def test_run_a_reading_naming_neither_disputed_answer_leaves_the_abstention(
    disputed: dict, reply: str | None
):
    verdict = ReaderArbiter().run(
        replies=None if reply is None else [reply],
        candidates=disputed["candidates"],
        abstention=disputed["abstention"],
    )
    assert verdict["abstention"] == disputed["abstention"] and verdict["arbitration"] == {}


def test_run_read_mode_asks_the_llm_to_read_a_dispute_and_phrase_mode_does_not(disputed: dict):
    constraint = decompose(RIVALS_QUESTION, as_of=date(2024, 1, 1))
    inputs = {
        "query": RIVALS_QUESTION,
        "documents": RIVALS,
        "constraint": constraint,
        "candidates": disputed["candidates"],
        "abstention": disputed["abstention"],
    }
    assert "Give only the answer" in TemporalPromptBuilder(mode="read").run(**inputs)["prompt"]
    assert TemporalPromptBuilder(mode="phrase").run(**inputs) == {}
    undisputed = {"abstained": True, "reason": "no passage covers the asked time"}
    assert TemporalPromptBuilder(mode="read").run(**{**inputs, "abstention": undisputed}) == {}


def test_run_without_candidates_accepts_nothing():
    verdict = ReaderArbiter().run(replies=["Tom Hale"], candidates=[])
    assert verdict == {
        "candidates": [],
        "replies": [],
        "arbitration": {
            "reader_answer": "Tom Hale",
            "matched": None,
            "accepted": False,
            "reason": "no candidate answer in the passages",
        },
        "abstention": {"abstained": False, "reason": None},
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Answer: Tom Hale [1].", "Tom Hale"),
        ('"Thomas Cook AG"\nExplanation: passage 2 says so.', "Thomas Cook AG"),
        ("  the answer is Carlo Ancelotti [1][2]", "Carlo Ancelotti"),
        ("Not mentioned in the passages.", ""),
        ("- Deputy Prime Minister", "Deputy Prime Minister"),
        ("* Answer: Thomas Cook AG", "Thomas Cook AG"),
        ("-5 degrees", "-5 degrees"),
        ("", ""),
    ],
)
def test_short_answer_reads_the_named_answer(reply: str, expected: str):
    assert short_answer(reply) == expected


def test_answer_overlap_is_token_f1():
    assert answer_overlap(
        "UN High Commissioner for Refugees", "High Commissioner for Refugees"
    ) == pytest.approx(2 * 1.0 * 0.8 / 1.8)
    assert answer_overlap("Tom Hale", "the Tom Hale") == 1.0
    assert answer_overlap("Tom Hale", "Jane Okafor") == 0.0
    assert answer_overlap("", "Jane") == 0.0


def test_run_read_mode_prompt_shows_no_choice_and_asks_for_a_short_answer(extracted: dict):
    builder = TemporalPromptBuilder(mode="read", prefill_answer=True)
    built = builder.run(
        query=QUESTION, documents=PASSAGES, constraint=CONSTRAINT, candidates=extracted["candidates"]
    )
    assert built["reply_prefix"] == ""
    assert "the answer is" not in built["prompt"]
    assert "Give only the answer" in built["prompt"]
    assert "[1] Riverton election (published 2022-11-09)" in built["prompt"]
    assert "Question: Who was mayor of Riverton in 2019?\nAsked time: in 2019." in built["prompt"]
    assert TemporalPromptBuilder.from_dict(builder.to_dict()).mode == "read"
    with pytest.raises(ValueError, match="mode"):
        TemporalPromptBuilder(mode="guess")


def test_run_a_reply_naming_an_option_passes_even_after_an_abstention(extracted: dict):
    # With options the reply names a letter, not a candidate: it reaches the answer builder unruled, so the
    # graph answers as the stream and the eval (which read the letter directly) do.
    abstention = {"abstained": True, "reason": "no passage holds an answer for 1990"}
    choices = ["Tom Hale", "Jane Okafor"]
    verdict = ReaderArbiter().run(
        replies=["B"], candidates=extracted["candidates"], abstention=abstention, choices=choices
    )
    assert verdict == {
        "candidates": extracted["candidates"],
        "replies": ["B"],
        "arbitration": {},
        "abstention": abstention,
    }
    answer = ChronoAnswerBuilder().run(
        query="Who was mayor of Riverton in 1990?",
        documents=[Document(id="d#0", content="Riverton held a mayoral election.")],
        choices=choices,
        **verdict,
    )["answer"]
    assert answer["choice"]["option"] == "Jane Okafor" and answer["choice"]["by"] == "reader"
    assert answer["reader"] is None
