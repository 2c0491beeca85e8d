"""Expander training on a tiny real RealTimeQA slice (two weeks): positives never from the future, the
week split, a few steps reduce the training loss, and the weights load into an EventExpander."""

from __future__ import annotations

import json
from datetime import date

import pytest

from chronorag.rankers.cross_attention import CrossAttentionFusion
from chronorag.rankers.event_expander import EventExpander
from chronorag.rankers.train_expander import (
    TrainConfig,
    build_examples,
    contains_answer,
    dev_weeks,
    prepare,
    read_questions,
    train,
)
from chronorag.temporal.model import Relation, TemporalConstraint

WEEKS = ("20220617", "20220624")
# Embedding the two-week slice (~800 short texts) takes 10-20 s on an idle 2-core CPU, more when shared.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(shared_data, embedder, tmp_path_factory):
    if not (shared_data / "realtimeqa").is_dir():
        pytest.skip("realtimeqa is absent from the shared data")
    return prepare(
        shared_data,
        embedder,
        tmp_path_factory.mktemp("cache"),
        passages_per_article=1,
        weeks=WEEKS,
        max_words=40,
    )


def test_contains_answer_is_a_token_sequence_match():
    assert contains_answer("Squid Game", "Netflix said “Squid Game” returns.")
    assert not contains_answer("Squid", "Squidward is a character")
    assert not contains_answer("", "anything")


def test_dev_weeks_are_the_latest():
    assert dev_weeks(["20220701", "20220617", "20220624", "20220708"], 0.25) == ["20220708"]
    assert dev_weeks(["20220617"], 0.25) == ["20220617"]


def test_read_questions_slice(shared_data):
    questions = read_questions(shared_data, WEEKS)
    assert questions and {q.week for q in questions} == set(WEEKS)
    assert all(isinstance(q.as_of, date) and q.answer for q in questions)


def test_examples_never_use_the_future(prepared):
    examples = build_examples(prepared, range(len(prepared.questions)), top_events=4, hard=4)
    assert len(examples.index) > 10
    for position, row in enumerate(examples.index):
        question = prepared.questions[row]
        ages = examples.ages[position][examples.mask[position]]
        assert (ages >= 0).all()
        assert question.as_of.toordinal() >= 0


def test_train_reduces_loss_and_weights_round_trip(prepared, tmp_path):
    config = TrainConfig(epochs=20, batch_size=8, lr=3e-3, top_events=4, hard_negatives=4, dev_fraction=0.5)
    metrics = train(prepared, tmp_path, config, device="cpu", max_steps=6)
    assert metrics["steps"] == 6
    assert metrics["train_loss_after"] < metrics["train_loss_before"]
    assert metrics["dev_weeks"] == ["20220624"]
    assert metrics["dev_leak@5_trained"] == 0.0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["train_questions"] == metrics["train_questions"]
    loaded = CrossAttentionFusion.load(tmp_path / "expander.pt")
    assert loaded.gate.item() == pytest.approx(metrics["gate"])
    expander = EventExpander(weights_path=str(tmp_path / "expander.pt"), top_events=4, device="cpu")
    expander.warm_up()
    expander.use_table(prepared.events)
    question = prepared.questions[0]
    constraint = TemporalConstraint(question.text, question.text, Relation.NONE, None, None, question.as_of)
    result = expander.run(query_embedding=prepared.query_vectors[0].tolist(), constraint=constraint)
    assert result["events"] and all(
        event.meta["date"] <= question.as_of.isoformat() for event in result["events"]
    )
    assert expander.to_dict()["init_parameters"]["weights_path"] == str(tmp_path / "expander.pt")
