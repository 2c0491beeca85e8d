"""The relevance-gated fusion's guarantees, checked over a grid of values (no model needed)."""

from __future__ import annotations

import itertools

import pytest

from chronorag.rankers.fusion import (
    DEFAULT_WEIGHTS,
    GATE_HIGH,
    GATE_LOW,
    RelevanceModel,
    explain,
    time_factor,
    time_gate,
)

STEPS = [i / 10 for i in range(11)]


def _score(relevance: float, best: float, temporal: float, weight: float = 0.9) -> float:
    return relevance * time_factor(temporal, weight, time_gate(relevance / best))


def test_an_off_topic_passage_is_never_lifted_by_time() -> None:
    # Below GATE_LOW of the best relevance, a perfect time fit earns nothing over a violation.
    best = 0.8
    for low in (0.05, 0.2, GATE_LOW * best):
        assert _score(low, best, 1.0) == pytest.approx(_score(low, best, 0.0))
        # ... so the best passage, however badly dated, stays above it.
        assert _score(best, best, 0.0) > _score(low, best, 1.0)


def test_time_reorders_relevant_passages() -> None:
    # Two passages within GATE_HIGH of each other: the one whose dates fit wins.
    assert _score(0.75, 0.8, 0.9) > _score(0.8, 0.8, 0.2)


def test_the_score_is_monotone_in_relevance_and_time() -> None:
    best = 1.0
    for temporal, relevance in itertools.product(STEPS, STEPS):
        higher_relevance = min(relevance + 0.1, best)
        assert _score(higher_relevance, best, temporal) >= _score(relevance, best, temporal) - 1e-12
        assert _score(relevance, best, min(temporal + 0.1, 1.0)) >= _score(relevance, best, temporal) - 1e-12


def test_time_factor_and_gate_bounds() -> None:
    for temporal, gate in itertools.product(STEPS, STEPS):
        assert 0.1 - 1e-12 <= time_factor(temporal, 0.9, gate) <= 1.0
    assert time_gate(GATE_LOW) == 0.0 and time_gate(GATE_HIGH) == 1.0
    assert time_gate((GATE_LOW + GATE_HIGH) / 2) == pytest.approx(0.5)
    assert time_factor(1.0, 0.0) == 1.0 and time_factor(0.0, 0.0) == 1.0  # weight 0: time is off


def test_relevance_model() -> None:
    model = RelevanceModel.from_weights(None)
    assert dict(model.weights) == DEFAULT_WEIGHTS
    features = {"question": 0.6, "passage": 0.4, "coverage": 1.0}
    assert model.relevance(features) == pytest.approx((0.6 + 0.2 + 0.5) / 2.0)
    assert RelevanceModel.from_weights({"lexical": 2.0, "question": 0.0}).weights == {"lexical": 2.0}
    for bad in ({"title": 1.0}, {"question": -1.0}, {"question": 0.0}, {"passage": float("nan")}):
        with pytest.raises(ValueError):
            RelevanceModel.from_weights(bad)


def test_explain_names_every_part() -> None:
    text = explain(0.61, {"question": 0.58, "passage": 0.62}, 0.95, 0.9, 0.5)
    assert text.startswith("relevance 0.61 (question 0.58, passage 0.62) x time 0.55")
    assert "fit 0.95, gate 0.50, weight 0.90" in text
