"""Relevance-gated fusion of semantic relevance and temporal fit.

``score = relevance x time_factor`` where

- ``relevance`` in [0, 1] is a weighted mean of semantic features, each in [0, 1]: the cosine of the
  whole question and the passage (``question``: dense retrieval's own signal, which keeps the entity and
  event words a decomposition may lose), of the question's content and the passage (``passage``), of the
  content and the passage's best sentence (``sentence``, when the ranker scores sentences), the share of
  the content's words the passage holds (``coverage``) and in-pool BM25 (``lexical``);
- ``time_factor = 1 - weight + weight * min(T, gate)`` with ``T`` the temporal score in [0, 1], ``weight``
  the time weight (the recency weight when the question states no time) and ``gate`` the time credit the
  passage's relevance allows: 0 below ``GATE_LOW`` of the best relevance among the candidates, 1 from
  ``GATE_HIGH`` of it, linear between.

So time reorders the relevant passages (one page's paragraphs, one story's articles: the better time fit
wins among them), and a passage less than ``GATE_LOW`` as relevant as the best one earns no time credit at
all: however well its dates fit, an off-topic passage is never lifted by them. The score is monotone in
relevance and in time fit.

The feature weights, the time weight and the gate were chosen on TimeQA *train* questions over a mixed
corpus of train and dev pages (``benchmarks/tune_fusion.py``; ``benchmarks/results/fusion.json`` has the
grid, the alternatives tried and the rule): among gates that give no time credit below 40% of the best
relevance, the best AR@1 on train. A listwise-trained logistic relevance and a band-gated additive rule both
did worse there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

FEATURES = ("question", "passage", "sentence", "coverage", "lexical")

DEFAULT_WEIGHTS: dict[str, float] = {"question": 1.0, "passage": 0.5, "coverage": 0.5}
DEFAULT_TIME_WEIGHT = 0.9
DEFAULT_RECENCY_WEIGHT = 0.2
# Relevance relative to the best candidate's: no time credit below GATE_LOW, full credit from GATE_HIGH.
GATE_LOW = 0.4
GATE_HIGH = 0.7


@dataclass(frozen=True)
class RelevanceModel:
    """Relevance as a weighted mean of the semantic features.

    :param weights: a non-negative weight per name of :data:`FEATURES` (missing ones weigh 0).
    """

    weights: Mapping[str, float]

    @classmethod
    def from_weights(cls, weights: Mapping[str, float] | None) -> RelevanceModel:
        """The model of ``weights`` (``None``: the defaults).

        :param weights: feature weights.
        :returns: the model.
        :raises ValueError: on an unknown feature, a negative or non-finite weight, or all weights 0.
        """
        if weights is None:
            return cls(dict(DEFAULT_WEIGHTS))
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown relevance features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        values = {name: float(weights.get(name, 0.0)) for name in FEATURES}
        if not all(math.isfinite(value) and value >= 0 for value in values.values()):
            raise ValueError("relevance weights must be finite and non-negative")
        if sum(values.values()) <= 0:
            raise ValueError("at least one relevance weight must be positive")
        return cls({name: value for name, value in values.items() if value > 0})

    def relevance(self, features: Mapping[str, float]) -> float:
        """The relevance of one passage.

        :param features: the values of the weighted features, each in [0, 1].
        :returns: the weighted mean, in [0, 1].
        """
        total = sum(self.weights.values())
        return sum(weight * features[name] for name, weight in self.weights.items()) / total


def time_gate(relative_relevance: float, low: float = GATE_LOW, high: float = GATE_HIGH) -> float:
    """The time credit a passage's relevance allows.

    :param relative_relevance: its relevance over the best candidate's, in [0, 1].
    :param low: no credit at or below this.
    :param high: full credit from this.
    :returns: a gate in [0, 1].
    """
    if relative_relevance >= high:
        return 1.0
    if relative_relevance <= low:
        return 0.0
    return (relative_relevance - low) / (high - low)


def time_factor(temporal: float, weight: float, gate: float = 1.0) -> float:
    """The bounded multiplier of time fit: ``1 - weight + weight * min(temporal, gate)``.

    :param temporal: the temporal score in [0, 1].
    :param weight: the time weight in [0, 1).
    :param gate: the time credit the passage's relevance allows (:func:`time_gate`).
    :returns: a factor in ``[1 - weight, 1]``.
    """
    return 1.0 - weight + weight * min(max(temporal, 0.0), 1.0, max(gate, 0.0))


def explain(
    relevance: float, features: Mapping[str, float], temporal: float, weight: float, gate: float = 1.0
) -> str:
    """A one-line explanation of a fused score.

    :param relevance: the relevance.
    :param features: the semantic features it came from.
    :param temporal: the temporal score.
    :param weight: the time weight applied.
    :param gate: the time credit the relevance allowed.
    :returns: e.g. ``"relevance 0.61 (question 0.58, passage 0.62, coverage 0.67) x time 0.96 (fit 0.95,
        gate 1.00, weight 0.90)"``.
    """
    parts = ", ".join(f"{name} {value:.2f}" for name, value in features.items())
    factor = time_factor(temporal, weight, gate)
    return (
        f"relevance {relevance:.2f} ({parts}) x time {factor:.2f} "
        f"(fit {temporal:.2f}, gate {gate:.2f}, weight {weight:.2f})"
    )
