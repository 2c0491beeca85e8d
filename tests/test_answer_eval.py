"""Answer evaluation: the pipeline's answer object scored (EM/F1, abstention, replaced replies, choices)."""

from __future__ import annotations

from haystack import Document

from chronorag.evals.generation import choice_from_evidence, choose_option, score_answer
from chronorag.evals.types import EvalQuestion

QUESTION = EvalQuestion(qid="q", question="Who was mayor of Riverton in 2019?", answers=["Tom Hale"])
CHOICE = EvalQuestion(
    qid="c",
    question="Which show was recently renewed for a second season?",
    answers=["Squid Game"],
    choices=["“Game of Thrones”", "“Squid Game”", "“Breaking Bad”", "“Friends”"],
    answer_index=1,
)
PASSAGES = [
    Document(content="Netflix said its hit South Korean show Squid Game is coming back for a second season."),
    Document(content="Game of Thrones ended in 2019; Friends ended in 2004."),
]


def _answer(short: str | None, text: str, abstained: bool = False, replaced: bool = False) -> dict:
    return {"short_answer": short, "answer": text, "abstained": abstained, "reply_replaced": replaced}


def test_score_answer_uses_the_short_answer_and_reports_what_the_user_reads():
    metrics = score_answer(QUESTION, _answer("Tom Hale", "Tom Hale was mayor in 2019 [1]."), [])
    assert metrics == {"abstained": 0.0, "replaced": 0.0, "EM": 1.0, "F1": 1.0, "contains": 1.0}


def test_score_answer_counts_an_abstention_as_no_answer():
    metrics = score_answer(QUESTION, _answer(None, "No answer: no passage covers 2019.", abstained=True), [])
    assert metrics["abstained"] == 1.0 and metrics["EM"] == 0.0 and metrics["contains"] == 0.0


def test_score_answer_counts_replaced_replies():
    metrics = score_answer(QUESTION, _answer("Jane Okafor", "Jane Okafor [1] (from 2022)", replaced=True), [])
    assert metrics["replaced"] == 1.0 and metrics["EM"] == 0.0


def test_unanswerable_questions_score_the_abstention():
    unanswerable = EvalQuestion(qid="u", question="Who was mayor of Riverton in 1990?", answers=[])
    assert score_answer(unanswerable, _answer(None, "No answer: ...", abstained=True), []) == {
        "abstained_right": 1.0,
        "replaced": 0.0,
    }


def test_choose_option_maps_a_reply_and_refuses_ties():
    assert choose_option("Squid Game [1]", CHOICE.choices) == 1
    assert choose_option("nothing in common", CHOICE.choices) is None
    assert choose_option("Game", ["Squid Game", "Game Show"]) is None


def test_choice_from_evidence_votes_with_the_passages_that_write_an_option():
    assert choice_from_evidence(CHOICE.question, CHOICE.choices, PASSAGES) == 1
    assert choice_from_evidence(CHOICE.question, CHOICE.choices, []) is None


def test_multiple_choice_scores_the_option_the_pipeline_chose():
    chose = {**_answer("Squid Game", "B. Squid Game [1]"), "choice": {"index": 1, "by": "evidence"}}
    assert score_answer(CHOICE, chose, [])["accuracy"] == 1.0
    chose_wrong = {**_answer("Friends", "D. Friends"), "choice": {"index": 3, "by": "reader"}}
    assert score_answer(CHOICE, chose_wrong, PASSAGES)["accuracy"] == 0.0  # the pipeline's choice is scored
    undecided = {**_answer(None, "No answer: ...", abstained=True), "choice": None}
    assert score_answer(CHOICE, undecided, PASSAGES)["accuracy"] == 0.0


def test_an_answer_without_a_choice_is_mapped_by_the_evidence_then_its_words():
    abstained = _answer(None, "No answer: the passages name no show.", abstained=True)
    assert score_answer(CHOICE, abstained, PASSAGES)["accuracy"] == 1.0
    # The passages name Squid Game where the question's words are: the free answer does not overrule them.
    assert score_answer(CHOICE, _answer("Friends", "Friends [2]"), PASSAGES)["accuracy"] == 1.0
    # Without evidence for any option, the answer's option counts.
    assert score_answer(CHOICE, _answer("Squid Game", "Squid Game [1]"), [])["accuracy"] == 1.0
    assert score_answer(CHOICE, _answer("Friends", "Friends [1]"), [])["accuracy"] == 0.0
