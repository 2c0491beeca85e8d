"""TemporalPromptBuilder and ChronoAnswerBuilder: prompts with the timeline's choice, the ask answer object,
citations, the guard that replaces unfaithful replies, abstention and conflicts."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document

from chronorag.pipeline.answer_builder import ChronoAnswerBuilder
from chronorag.pipeline.answer_timeline import AnswerTimeline
from chronorag.pipeline.prompt_builder import TemporalPromptBuilder, reply_needed
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


def _extracted(question: str = QUESTION, constraint=CONSTRAINT) -> dict:
    return AnswerTimeline().run(query=question, documents=_ranked(), constraint=constraint)


def _candidates() -> list[dict]:
    return _extracted()["candidates"]


def test_prompt_builder_to_dict_and_from_dict():
    builder = TemporalPromptBuilder(max_passages=2, prefill_answer=False, focus="answer")
    data = builder.to_dict()
    assert data["type"] == "chronorag.pipeline.prompt_builder.TemporalPromptBuilder"
    assert data["init_parameters"]["focus"] == "answer"
    assert data["init_parameters"]["template"] is None  # the default template is not frozen into YAML
    restored = TemporalPromptBuilder.from_dict(data)
    assert restored.to_dict() == data


def test_prompt_has_reference_time_constraint_dated_passages_and_candidate():
    result = TemporalPromptBuilder().run(
        query=QUESTION, documents=_ranked(), constraint=CONSTRAINT, candidates=_candidates()
    )
    prompt = result["prompt"]
    assert "Today is 2024-01-01" in prompt
    assert "[1] Chelsea F.C. (published 2012-03-01): Carlo Ancelotti" in prompt
    assert "José Mourinho" not in prompt  # phrasing the choice needs its passage alone
    stated = "Asked time: in 2010.\nChecked against the dates of passage [1], the answer is Carlo Ancelotti"
    assert f"{stated} (2009 to 2011)." in prompt
    assert prompt.rstrip().endswith('starts with "Carlo Ancelotti" and cites [1].')
    assert result["reply_prefix"] == "Carlo Ancelotti [1]"


def test_run_an_abstention_builds_no_prompt():
    # The answer states an abstention whatever an LLM would reply: nothing is asked, so the generator
    # after the builder does not run.
    extracted = _extracted(
        "Who managed Chelsea in 1990?", decompose("Who managed Chelsea in 1990?", as_of=date(2024, 1, 1))
    )
    assert extracted["abstention"]["abstained"]
    result = TemporalPromptBuilder().run(
        query="Who managed Chelsea in 1990?",
        documents=_ranked(),
        constraint=CONSTRAINT,
        candidates=extracted["candidates"],
        abstention=extracted["abstention"],
    )
    assert result == {}
    assert not reply_needed("Who managed Chelsea in 1990?", _ranked(), extracted["abstention"])
    assert reply_needed("Who managed Chelsea in 1990?", _ranked(), {"abstained": False, "reason": None})


def test_prompt_without_candidates_or_prefill():
    result = TemporalPromptBuilder(use_candidates=False).run(
        query=QUESTION, documents=_ranked(), constraint=CONSTRAINT
    )
    assert "the answer is" not in result["prompt"] and result["reply_prefix"] == ""
    assert "[2] Chelsea F.C.: José Mourinho" in result["prompt"]  # no choice: the top passages are shown


def test_prompt_shows_the_chosen_answers_passage_by_its_number():
    chosen = {"passage": 2, "answer": "José Mourinho", "sentence": "José Mourinho managed", "time": ""}
    candidates = [{**_candidates()[0], **chosen}]
    prompt = TemporalPromptBuilder(max_passages=1).run(
        query=QUESTION, documents=_ranked(), constraint=CONSTRAINT, candidates=candidates
    )["prompt"]
    assert "[2] Chelsea F.C.: José Mourinho" in prompt and "Carlo Ancelotti" not in prompt


def test_prompt_cuts_long_passages_around_the_matched_sentence():
    filler = "The club played many matches that season. " * 30
    doc = Document(
        content=filler + "Ancelotti won the title in 2010. " + filler,
        meta={"title": "T", "matched_sentence": "Ancelotti won the title in 2010."},
    )
    prompt = TemporalPromptBuilder(max_passage_chars=200).run(query=QUESTION, documents=[doc])["prompt"]
    assert "Ancelotti won the title in 2010." in prompt and len(prompt) < 700


def test_read_prompt_focused_on_the_answer_cuts_around_the_best_fitting_candidate():
    # The date matched early ("until 2004"); the answer for 2004-2005 is in a later sentence.
    first = (
        "Hossenfelder remained in Germany until 2004 as a postdoctoral researcher at the GSI Helmholtz "
        "Centre for Heavy Ion Research in Darmstadt , Germany ."
    )
    later = (
        "She moved to North America and completed research fellowships at the University of Arizona , "
        "Tucson , and Perimeter Institute , Canada ."
    )
    content = f"{first} {later} She joined Nordita in 2009 as an Assistant Professor ."
    doc = Document(
        content=content,
        meta={
            "title": "Sabine Hossenfelder",
            "matched_sentence": content,
            "matched_span": {"text": "2004", "start": "2004-01-01", "end": "2004-12-31"},
        },
    )
    candidates = [
        {"answer": "Germany", "passage": 1, "fit": 0.4, "sentence": first},
        {"answer": "University of Arizona , Tucson", "passage": 1, "fit": 0.9, "sentence": later},
    ]
    question = "Which American institution did Hossenfelder work at from 2004 to 2005?"
    inputs = {"query": question, "documents": [doc], "candidates": candidates}
    by_match = TemporalPromptBuilder(mode="read", max_passage_chars=150).run(**inputs)["prompt"]
    by_answer = TemporalPromptBuilder(mode="read", max_passage_chars=150, focus="answer").run(**inputs)[
        "prompt"
    ]
    assert "University of Arizona" not in by_match
    assert "University of Arizona" in by_answer
    with pytest.raises(ValueError, match="focus"):
        TemporalPromptBuilder(focus="middle")


def test_prompt_cuts_a_whole_passage_match_around_its_time_span():
    # A passage-level ranker matches the whole passage: the cut must still hold the budget (it bounds the
    # LLM's prefill) and keep the span the ranker matched, not drop the passage's start for nothing.
    filler = "The club played many matches that season. " * 12
    content = filler + "Ancelotti won the title in 2010. " + filler
    doc = Document(
        content=content,
        meta={
            "title": "T",
            "matched_sentence": f"T. {content.strip()}",
            "matched_span": {"text": "2010", "start": "2010-01-01", "end": "2010-12-31"},
        },
    )
    prompt = TemporalPromptBuilder(max_passage_chars=120).run(query=QUESTION, documents=[doc])["prompt"]
    passage = next(line for line in prompt.splitlines() if line.startswith("[1] T: "))
    assert "Ancelotti won the title in 2010." in passage
    assert len(passage) <= len("[1] T: ... ") + 120 + len(" ...")
    unfocused = Document(content=content, meta={"title": "T", "matched_sentence": content})
    prompt = TemporalPromptBuilder(max_passage_chars=120).run(query=QUESTION, documents=[unfocused])["prompt"]
    passage = next(line for line in prompt.splitlines() if line.startswith("[1] T: "))
    assert passage.startswith("[1] T: The club played many matches") and "Ancelotti" not in passage


def test_prompt_cuts_the_chosen_answers_passage_around_the_answers_sentence():
    # Phrase mode shows the chosen answer's passage alone: cut around the sentence the answer comes from,
    # not the ranker's matched sentence far from it.
    filler = "The club played many matches that season. " * 12
    content = "Mourinho arrived in 2004. " + filler + "Ancelotti won the title in 2010. " + filler
    doc = Document(content=content, meta={"title": "T", "matched_sentence": "Mourinho arrived in 2004."})
    chosen = {**_candidates()[0], "passage": 1, "answer": "Carlo Ancelotti"}
    chosen["sentence"] = "Ancelotti won the title in 2010."
    prompt = TemporalPromptBuilder(max_passage_chars=120).run(
        query=QUESTION, documents=[doc], constraint=CONSTRAINT, candidates=[chosen]
    )["prompt"]
    passage = next(line for line in prompt.splitlines() if line.startswith("[1] T: "))
    assert "Ancelotti won the title in 2010." in passage and "Mourinho arrived" not in passage


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
        replies=["Answer: Carlo Ancelotti managed Chelsea in 2010 [1].\nExplanation"],
        constraint=CONSTRAINT,
        candidates=_candidates(),
        abstention={"abstained": False, "reason": None},
        timeline=_extracted()["timeline"],
    )["answer"]
    assert set(answer) == {
        "answer",
        "short_answer",
        "abstained",
        "abstention_reason",
        "cited",
        "reply_replaced",
        "replacement_reason",
        "reader",
        "timeline",
        "citations",
        "constraint",
        "choice",
    }
    assert answer["choice"] is None  # no options were given
    assert answer["reader"] is None  # no ReaderArbiter ruled (answer_mode "phrase")
    assert answer["answer"] == "Carlo Ancelotti managed Chelsea in 2010 [1]."
    assert answer["short_answer"] == "Carlo Ancelotti"
    assert answer["abstained"] is False and answer["reply_replaced"] is False
    assert answer["cited"] == [{"n": 1, "id": "chelsea#1", "title": "Chelsea F.C.", "date": "2012-03-01"}]
    assert {"answer": "Carlo Ancelotti", "holds": {"start": "2009-01-01", "end": "2011-12-31"}}.items() <= (
        answer["timeline"][0].items()
    )
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
        "answer_rerank": None,
    }
    assert answer["citations"][1]["date"] is None
    assert answer["citations"][1]["matched_span"] is None


def test_answer_explains_which_passage_holds_for_the_asked_time():
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        replies=["Carlo Ancelotti managed Chelsea in 2010 [1]."],
        constraint=CONSTRAINT,
        candidates=_candidates(),
    )["answer"]["answer"]
    assert answer == (
        "Carlo Ancelotti managed Chelsea in 2010 [1]. (passage [1]: Carlo Ancelotti, 2009 to 2011, asked: "
        "2010; passage [2]: José Mourinho, 2013 to 2015)"
    )


def test_the_extractive_answer_is_the_choice_with_its_passage_and_time():
    answer = ChronoAnswerBuilder(explain_conflicts=False).run(
        query=QUESTION, documents=_ranked(), replies=None, constraint=CONSTRAINT, candidates=_candidates()
    )["answer"]
    assert answer["answer"] == "Carlo Ancelotti [1] (2009 to 2011)"
    assert answer["reply_replaced"] is False and answer["cited"][0]["id"] == "chelsea#1"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "empty reply"),
        ("José Mourinho managed Chelsea in 2010 [2].", "does not state the answer"),
        ("Carlo Ancelotti managed Chelsea in 2010.", "cites no passage"),
        ("Carlo Ancelotti [1] and José Mourinho managed Chelsea in 2010.", "also names José Mourinho"),
        ("Carlo Ancelotti managed Chelsea in 2010 [7].", "does not exist"),
        ("Carlo Ancelotti was a famous Italian painter who founded a Venetian art academy [1].", "do not"),
    ],
)
def test_an_unfaithful_reply_is_replaced_and_says_why(reply, why):
    answer = ChronoAnswerBuilder(explain_conflicts=False).run(
        query=QUESTION, documents=_ranked(), replies=[reply], constraint=CONSTRAINT, candidates=_candidates()
    )["answer"]
    assert answer["answer"] == "Carlo Ancelotti [1] (2009 to 2011)"
    assert answer["reply_replaced"] is True and why in answer["replacement_reason"]


def test_a_reply_naming_the_chosen_answer_with_the_questions_words_stands():
    reply = "Carlo Ancelotti [1] managed Chelsea in 2010."
    answer = ChronoAnswerBuilder(explain_conflicts=False).run(
        query=QUESTION, documents=_ranked(), replies=[reply], constraint=CONSTRAINT, candidates=_candidates()
    )["answer"]
    assert answer["answer"] == reply and answer["reply_replaced"] is False


def test_the_grounding_check_can_be_turned_off():
    invented = "Carlo Ancelotti was a famous Italian painter who founded a Venetian art academy [1]."
    answer = ChronoAnswerBuilder(explain_conflicts=False, max_unsupported=1.0).run(
        query=QUESTION,
        documents=_ranked(),
        replies=[invented],
        constraint=CONSTRAINT,
        candidates=_candidates(),
    )["answer"]
    assert answer["answer"] == invented and answer["reply_replaced"] is False


def test_an_abstention_is_stated_whatever_the_reply():
    question = "Who managed Chelsea in 1990?"
    constraint = decompose(question, as_of=date(2024, 1, 1))
    extracted = _extracted(question, constraint)
    answer = ChronoAnswerBuilder().run(
        query=question,
        documents=_ranked(),
        replies=["Carlo Ancelotti managed Chelsea in 1990 [1]."],
        constraint=constraint,
        candidates=extracted["candidates"],
        abstention=extracted["abstention"],
    )["answer"]
    assert answer["abstained"] is True and answer["short_answer"] is None
    assert answer["answer"].startswith("No answer: no passage covers the asked time (in 1990)")
    assert answer["abstention_reason"] == extracted["abstention"]["reason"]


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


OPTIONS = ["José Mourinho", "Carlo Ancelotti", "Claudio Ranieri"]
UNWRITTEN = ["Roman Abramovich", "Ken Bates", "Claudio Ranieri"]  # options no passage writes


def test_prompt_with_options_lists_them_with_letters_and_the_top_passages():
    result = TemporalPromptBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        constraint=CONSTRAINT,
        candidates=_candidates(),
        choices=UNWRITTEN,
    )
    prompt = result["prompt"]
    assert "Options:\nA. Roman Abramovich\nB. Ken Bates\nC. Claudio Ranieri\n" in prompt
    assert "[1] Chelsea F.C." in prompt and "[2] Chelsea F.C." in prompt
    assert prompt.endswith("Answer with the letter of the option the passages support.")
    assert result["reply_prefix"] == ""  # the LLM names a letter, not the timeline's choice


def test_prompt_keeps_an_empty_options_letter_in_place():
    prompt = TemporalPromptBuilder().run(query=QUESTION, documents=_ranked(), choices=["x", "", "y"])[
        "prompt"
    ]
    assert "A. x\nB. (empty)\nC. y\n" in prompt


def test_run_options_the_passages_write_build_no_prompt():
    # The passages decide first (ChronoAnswerBuilder): a letter from the LLM would not be used.
    result = TemporalPromptBuilder().run(
        query=QUESTION, documents=_ranked(), constraint=CONSTRAINT, candidates=_candidates(), choices=OPTIONS
    )
    assert result == {}
    assert reply_needed(QUESTION, _ranked(), None, UNWRITTEN)
    # With options a silent passage set asks the LLM even when the timeline abstained.
    assert reply_needed(QUESTION, _ranked(), {"abstained": True, "reason": "none fits"}, UNWRITTEN)


def test_prompt_refuses_more_than_eight_options():
    with pytest.raises(ValueError, match="at most 8 options"):
        TemporalPromptBuilder().run(query=QUESTION, documents=_ranked(), choices=[f"o{i}" for i in range(9)])


def test_the_passages_decide_a_multiple_choice_answer_first():
    answer = ChronoAnswerBuilder().run(
        query=QUESTION, documents=_ranked(), replies=["A"], constraint=CONSTRAINT, choices=OPTIONS
    )["answer"]
    # Both passages write an option; the first, about the asked question's words, speaks loudest.
    assert answer["choice"] == {"index": 1, "letter": "B", "option": "Carlo Ancelotti", "by": "evidence"}
    assert answer["answer"] == "B. Carlo Ancelotti [1]" and answer["cited"][0]["id"] == "chelsea#1"
    assert answer["short_answer"] == "Carlo Ancelotti" and answer["abstained"] is False


@pytest.mark.parametrize(("reply", "index"), [("C", 2), ("(C) Claudio Ranieri", 2), ("Claudio Ranieri", 2)])
def test_the_readers_letter_decides_where_no_passage_writes_an_option(reply, index):
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        replies=[reply],
        choices=["Roman Abramovich", "Ken Bates", "Claudio Ranieri"],
    )["answer"]
    assert answer["choice"]["index"] == index and answer["choice"]["by"] == "reader"


def test_the_timelines_choice_breaks_the_silence_of_passages_and_reader():
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        replies=["I cannot tell"],
        candidates=[{"answer": "Ken Bates", "passage": 1}],
        abstention={"abstained": False, "reason": None},
        choices=["Roman Abramovich", "Ken Bates"],
    )["answer"]
    assert answer["choice"]["option"] == "Ken Bates" and answer["choice"]["by"] == "timeline"


def test_no_option_decided_is_an_abstention():
    answer = ChronoAnswerBuilder().run(
        query=QUESTION,
        documents=_ranked(),
        replies=["I cannot tell"],
        choices=["Roman Abramovich", "Ken Bates"],
    )["answer"]
    assert answer["abstained"] is True and answer["choice"] is None
    assert answer["answer"].startswith("No answer: neither the passages, the reader nor the timeline")


def test_read_prompt_comes_with_worked_examples_in_its_own_template():
    builder = TemporalPromptBuilder(mode="read", examples=2)
    result = builder.run(query=QUESTION, documents=_ranked(), constraint=CONSTRAINT)
    examples = result["examples"]
    assert [example["reply"] for example in examples] == ["Maria Silva", "University of Toronto"]
    first = examples[0]["prompt"]
    # Each example reads as the question's own prompt: date, numbered passages, question, asked time.
    assert first.startswith("Today is 2024-03-01.\n\nPassages:\n[1] Lakeside School Board: Maria Silva")
    assert "Question: Who chaired the Lakeside School Board in 2018?\nAsked time: in 2018." in first
    last_line = result["prompt"].splitlines()[-1]
    assert first.endswith(last_line) and "Lakeside" not in result["prompt"]
    assert TemporalPromptBuilder(mode="read").run(query=QUESTION, documents=_ranked())["examples"] == []
    # Phrasing the timeline's choice needs no reading lesson.
    assert TemporalPromptBuilder(examples=2).run(query=QUESTION, documents=_ranked())["examples"] == []
    restored = TemporalPromptBuilder.from_dict(builder.to_dict())
    assert restored.examples == 2
    assert restored.run(query=QUESTION, documents=_ranked())["examples"] == examples
    with pytest.raises(ValueError, match="examples"):
        TemporalPromptBuilder(mode="read", examples=99)


def test_prompt_gives_the_first_passage_its_own_budget():
    # The top passage holds the answer most often: `first_passage_chars` lets it show more than the others.
    filler = "The club played many matches that season. " * 12
    content = filler + "Ancelotti won the title in 2010. " + filler
    docs = [
        Document(
            content=content,
            meta={
                "title": f"T{number}",
                "matched_sentence": content,
                "matched_span": {"text": "2010", "start": "2010-01-01", "end": "2010-12-31"},
            },
        )
        for number in (1, 2)
    ]
    builder = TemporalPromptBuilder(max_passage_chars=100, first_passage_chars=300)
    prompt = builder.run(query=QUESTION, documents=docs)["prompt"]
    first = next(line for line in prompt.splitlines() if line.startswith("[1] T1: "))
    second = next(line for line in prompt.splitlines() if line.startswith("[2] T2: "))
    assert len("[1] T1: ") + 250 < len(first) <= len("[1] T1: ... ") + 300 + len(" ...")
    assert len(second) <= len("[2] T2: ... ") + 100 + len(" ...")
    assert TemporalPromptBuilder.from_dict(builder.to_dict()).first_passage_chars == 300
    same = TemporalPromptBuilder(max_passage_chars=100).run(query=QUESTION, documents=docs)["prompt"]
    assert len(next(line for line in same.splitlines() if line.startswith("[1] T1: "))) < 130
    with pytest.raises(ValueError, match="budget"):
        TemporalPromptBuilder(first_passage_chars=0)
