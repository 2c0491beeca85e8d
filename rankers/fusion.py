"""Relevance-gated fusion of semantic relevance and temporal fit.

``score = relevance x time_factor`` where

- ``relevance = sigmoid(bias + w . features)`` is a calibrated probability that the passage is evidence
  for the question's content, from four semantic features in [0, 1]: the cosine of the question's content
  and the passage (``passage``), of the whole question and the passage (``question``: dense retrieval's
  own signal, which keeps entity and event words the content may lose), of the content and the passage's
  best sentence (``sentence``), and in-pool BM25 of the content (``lexical``);
- ``time_factor = 1 - weight + weight * T`` with ``T`` the temporal score in [0, 1] and ``weight`` the
  time weight (the recency weight when the question states no time).

Time can therefore change a score by at most the factor ``1 / (1 - weight)``: a passage whose relevance is
less than ``1 - weight`` times another's can never be lifted above it, however well its dates fit, while
among passages of similar relevance the better time fit wins. The sigmoid saturates: among clearly
relevant passages (one page's paragraphs, one story's articles) relevance differences shrink and time
decides; among weakly relevant ones relevance differences stay large and time cannot reorder them.

The weights were fitted once, listwise (softmax cross-entropy over each question's candidate pool, gold
passages as targets), on TimeQA *train* questions over a mixed corpus of train and dev pages
(``benchmarks/tune_fusion.py``; ``benchmarks/results/fusion_fit.json``), and are fixed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

FEATURES = ("passage", "question", "sentence", "lexical")

# Fitted on TimeQA train (see the module docstring); the bias sets where the sigmoid saturates.
DEFAULT_WEIGHTS: dict[str, float] = {
    "passage": 5.04,
    "question": 6.88,
    "sentence": 1.76,
    "lexical": 2.67,
    "bias": -9.6,
}
DEFAULT_TIME_WEIGHT = 0.9
DEFAULT_RECENCY_WEIGHT = 0.3


@dataclass(frozen=True)
class RelevanceModel:
    """Logistic relevance over the semantic features.

    :param weights: one weight per name of :data:`FEATURES`, plus ``"bias"``.
    """

    weights: Mapping[str, float]

    @classmethod
    def from_weights(cls, weights: Mapping[str, float] | None) -> RelevanceModel:
        """The model of ``weights`` (``None``: the fitted defaults).

        :param weights: feature weights and ``"bias"``; missing features weigh 0.
        :returns: the model.
        :raises ValueError: on an unknown feature name or a non-finite weight.
        """
        if weights is None:
            return cls(dict(DEFAULT_WEIGHTS))
        unknown = set(weights) - set(FEATURES) - {"bias"}
        if unknown:
            raise ValueError(f"unknown relevance features {sorted(unknown)}; known: {FEATURES} and 'bias'")
        if not all(math.isfinite(float(value)) for value in weights.values()):
            raise ValueError("relevance weights must be finite numbers")
        return cls({name: float(weights.get(name, 0.0)) for name in (*FEATURES, "bias")})

    def probability(self, features: Mapping[str, float]) -> float:
        """The relevance probability of one passage.

        :param features: the values of :data:`FEATURES`, each in [0, 1].
        :returns: a probability in (0, 1).
        """
        z = self.weights.get("bias", 0.0) + sum(self.weights.get(n, 0.0) * features[n] for n in FEATURES)
        return 1.0 / (1.0 + math.exp(-z)) if z >= -700 else 0.0


def time_factor(temporal: float, weight: float) -> float:
    """The bounded multiplier of time fit: ``1 - weight + weight * temporal``.

    :param temporal: the temporal score in [0, 1].
    :param weight: the time weight in [0, 1).
    :returns: a factor in ``[1 - weight, 1]``.
    """
    return 1.0 - weight + weight * min(max(temporal, 0.0), 1.0)


def explain(relevance: float, features: Mapping[str, float], temporal: float, weight: float) -> str:
    """A one-line explanation of a fused score.

    :param relevance: the relevance probability.
    :param features: the semantic features it came from.
    :param temporal: the temporal score.
    :param weight: the time weight applied.
    :returns: e.g. ``"relevance 0.81 (passage 0.62, question 0.58, sentence 0.62, lexical 1.00) x time 0.96
        (fit 0.95, weight 0.90)"``.
    """
    parts = ", ".join(f"{name} {features[name]:.2f}" for name in FEATURES)
    factor = time_factor(temporal, weight)
    return (
        f"relevance {relevance:.2f} ({parts}) x time {factor:.2f} (fit {temporal:.2f}, weight {weight:.2f})"
    )
