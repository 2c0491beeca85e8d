"""TemporalPromptBuilder and ChronoAnswerBuilder: prompts with dates, the ask answer object, conflicts."""

from __future__ import annotations

from datetime import date

from haystack import Document

from chronorag.pipeline.answer_builder import ChronoAnswerBuilder
from chronorag.pipeline.extractive_answerer import ExtractiveAnswerer
from chronorag.pipeline.prompt_builder import TemporalPromptBuilder
from chronorag.temporal import decompose

QUESTION = "Who managed Chelsea in 2010?"
CONSTRAINT = decompose(QUESTION, as_of=date(2024, 1, 1))


def _ranked() -> list[Document]:
    return [
        Document(
            id="chelsea#1",
            content="Carlo Ancelotti managed Chelsea from 2009 to 2011 and won the double.",
            score=0.91,
            meta={
                "title": "Chelsea F.C.",
                "date": "2012-03-01",
                "score_semantic": 0.8,
                "score_temporal": 1.0,
                "matched_sentence": "Carlo Ancelotti managed Chelsea from 2009 to 2011 and won the double.",
                "matched_span": {
                    "text": "from 2009 to 2011",
                    "char_start": 32,
                    "char_end": 49,
                    "start": "2009-01-01",
                    "end": "2011-12-31",
                    "granularity": "year",
                },
            },
        ),
        Document(
            id="chelsea#2",
            content="José Mourinho managed Chelsea from 2013 to 2015.",
            score=0.55,
            meta={"title": "Chelsea F.C.", "score_semantic": 0.82, "score_temporal": 0.1},
        ),
    ]


def _candidates() -> list[dict]:
    return ExtractiveAnswerer().run(query=QUESTION, documents=_ranked(), constraint=CONSTRAINT)["candidates"]


def test_prompt_builder_to_dict_and_from_dict():
    builder = TemporalPromptBuilder(max_passages=2, prefill_answer=False)
    data = builder.to_dict()
    assert data["type"] == "chronorag.pipeline.prompt_builder.TemporalPromptBuilder"
    assert data["init_parameters"]["template"] is None  # the default template is not frozen into YAML
    restored = TemporalPromptBuilder.from_dict(data)
    assert restored.to_dict() == data


def test_prompt_has_reference_time_constraint_dated_passages_and_candidate():
    result = TemporalPromptBuilder().run(
        query=QUESTION, documents=_ranked(), constraint=CONSTRAINT, candidates=_candidates()
    )
    prompt = result["prompt"]
    assert "Today is 2024-01-01" in prompt
    assert "asks about in 2010" in prompt
    assert "[1] Chelsea F.C. (published 2012-03-01): Carlo Ancelotti" in prompt
    assert "[2] Chelsea F.C.: José Mourinho" in prompt
    assert "The answer is: Carlo Ancelotti" in prompt
    assert prompt.rstrip().endswith('contains "Carlo Ancelotti".')
    assert result["reply_prefix"] == "Carlo Ancelotti"


def test_prompt_without_candidates_or_prefill():
    result = TemporalPromptBuilder(use_candidates=False).run(
        query=QUESTION, documents=_ranked(), constraint=CONSTRAINT
    )
    assert "The answer is" not in result["prompt"] and result["reply_prefix"] == ""


def test_prompt_cuts_long_passages_around_the_matched_sentence():
    filler = "The club played many matches that season. " * 30
    doc = Document(
        content=filler + "Ancelotti won the title in 2010. " + filler,
        meta={"title": "T", "matched_sentence": "Ancelotti won the title in 2010."},
    )
    prompt = TemporalPromptBuilder(max_passage_chars=200).run(query=QUESTION, documents=[doc])["prompt"]
    assert "Ancelotti won the title in 2010." in prompt and len(prompt) < 700


def test_prompt_with_a_custom_template():
    builder = TemporalPromptBuilder(template="{{ question }} @ {{ reference_time }}: {{ passages|length }}")
    assert (
        builder.run(query="Q?", documents=_ranked(), constraint=CONSTRAINT)["prompt"] == "Q? @ 2024-01-01: 2"
    )


def test_answer_builder_to_dict_and_from_dict():
    builder = ChronoAnswerBuilder(snippet_chars=80)
    assert ChronoAnswerBuilder.from_dict(builder.to_dict()).to_dict() == builder.to_dict()


def test_answer_object_has_the_rest_shape():
    answer = ChronoAnswerBuilder(explain_conflicts=False).run(
        query=QUESTION,
        documents=_ranked(),
        replies=["Answer: Carlo Ancelotti managed Chelsea in 2010.\nExplanation"],
        constraint=CONSTRAINT,
    )["answer"]
    assert set(answer) == {"answer", "citations", "constraint"}
    assert answer["answer"] == "Carlo Ancelotti managed Chelsea in 2010."
    assert answer["constraint"] == CONSTRAINT.to_dict()
    first = answer["citations"][0]
    assert first == {
        "id": "chelsea#1",
        "title": "Chelsea F.C.",
        "date": "2012-03-01",
        "snippet": "Carlo Ancelotti managed Chelsea from 2009 to 2011 and won the double.",
        "score": 0.91,
        "semantic_score": 0.8,
        "temporal_score": 1.0,
        "matched_span": {"text": "from 2009 to 2011", "start": "2009-01-01", "end": "2011-12-31"},
    }
    assert answer["citations"][1]["date"] is None
    assert answer["citations"][1]["matched_span"] is None


def test_answer_explains_which_passage_holds_for_the_asked_time():
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        replies=["Carlo Ancelotti."],
        constraint=CONSTRAINT,
        candidates=_candidates(),
    )["answer"]["answer"]
    assert answer == (
        "Carlo Ancelotti. (per passage [1], 2009–2011, which covers 2010; "
        "passage [2] describes 2013–2015: José Mourinho)"
    )


def test_answer_states_the_holding_answer_when_the_reply_names_another():
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        replies=["José Mourinho."],
        constraint=CONSTRAINT,
        candidates=_candidates(),
    )["answer"]["answer"]
    assert answer.splitlines()[1].startswith(
        "Carlo Ancelotti (per passage [1], 2009–2011, which covers 2010;"
    )


def test_answer_falls_back_to_the_candidate_without_a_reply():
    answer = ChronoAnswerBuilder(explain_conflicts=False).run(
        query=QUESTION, documents=_ranked(), replies=[""], constraint=CONSTRAINT, candidates=_candidates()
    )["answer"]
    assert answer["answer"] == "Carlo Ancelotti"


def test_snippet_drops_the_title_prefix_of_the_matched_sentence():
    doc = Document(
        id="cho#3",
        content="She attended Sehwa Girls High School , graduating in 1984 .",
        meta={
            "title": "Cho Yoon-sun",
            "matched_sentence": "Cho Yoon-sun. She attended Sehwa Girls High School .",
        },
    )
    citation = ChronoAnswerBuilder().run(query="Q?", documents=[doc], replies=["A"])["answer"]["citations"][0]
    assert citation["snippet"] == "She attended Sehwa Girls High School ."


def test_an_invented_reply_is_replaced_by_the_extracted_answer():
    # Half of this reply's content words are in neither the question nor the passages: it is embroidery.
    answer = ChronoAnswerBuilder(explain_conflicts=False).run(
        query=QUESTION,
        documents=_ranked(),
        replies=["Carlo Ancelotti was a famous Italian painter who founded a Venetian art academy."],
        constraint=CONSTRAINT,
        candidates=_candidates(),
    )["answer"]["answer"]
    assert answer == "Carlo Ancelotti (passage [1], 2009–2011)"


def test_a_grounded_reply_is_kept_and_the_check_can_be_turned_off():
    grounded = "Carlo Ancelotti managed Chelsea from 2009 to 2011."
    invented = "Carlo Ancelotti was a famous Italian painter who founded a Venetian art academy."
    for builder, reply in (
        (ChronoAnswerBuilder(), grounded),
        (ChronoAnswerBuilder(max_unsupported=1.0), invented),
    ):
        answer = builder.run(
            query=QUESTION,
            documents=_ranked(),
            replies=[reply],
            constraint=CONSTRAINT,
            candidates=_candidates(),
        )["answer"]["answer"]
        assert answer.startswith(reply)
