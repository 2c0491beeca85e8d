"""The answer timeline's candidate scorer: gradient-boosted trees over the candidate features, plus the
time fit with a fixed weight.

The trees were fitted on TimeQA *train* (``benchmarks/tune_timeline.py --trees``; never dev) to tell
whether a candidate is the gold answer from everything but its time fit, with the score monotone where
the timeline's logic demands it (better relevance, rank or support never lowers it; an undated time, or a
league named where a team is asked, never raises it). The time fit, which code computes from the
question's constraint, is added outside the trees with a weight chosen by cross-validation on train, so it
leads however the trees split; so is a clause stating a plan ("would acquire"), too rare to split on. They
are stored as plain arrays in ``pipeline/models/timeline_candidates.json`` and evaluated here with numpy,
so serving needs neither scikit-learn nor a pickle.

On TimeQA dev the trees pick the gold answer more often than the linear weights they replace (30.3 against
26.4 EM; ``benchmarks/results/timeline_weights.json`` has both, the fit's settings and what was tried).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "models" / "timeline_candidates.json"


@dataclass(frozen=True)
class _Tree:
    feature: np.ndarray  # per node: the feature index it splits on (leaves: 0)
    threshold: np.ndarray  # per node: go left when the value is <= threshold
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray  # per node: True for a leaf
    value: np.ndarray  # per node: the leaf's contribution (log-odds)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        node = np.zeros(len(matrix), dtype=np.int64)
        rows = np.arange(len(matrix))
        for _ in range(len(self.feature)):  # at most one step per node: depth bounds it far lower
            active = ~self.leaf[node]
            if not active.any():
                break
            current = node[active]
            goes_left = matrix[rows[active], self.feature[current]] <= self.threshold[current]
            node[active] = np.where(goes_left, self.left[current], self.right[current])
        return self.value[node]


@dataclass(frozen=True)
class CandidateModel:
    """Boosted trees scoring candidate feature vectors.

    :param features: the feature names, in the order of the trees' feature indices.
    :param baseline: the log-odds every score starts from.
    :param trees: the fitted trees.
    :param linear: features added with a fixed weight outside the trees (the time fit, so that it leads
        however the trees split: code decides the time, the trees what else makes an answer).
    :param meta: how the model was fitted (data, settings, scores).
    """

    features: tuple[str, ...]
    baseline: float
    trees: tuple[_Tree, ...]
    linear: Mapping[str, float]
    meta: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateModel:
        """The model of its JSON form (:meth:`to_dict`).

        :param data: ``{"features", "baseline", "trees": [{"feature", "threshold", "left", "right",
            "leaf", "value"}], "linear": {name: weight}, "meta"}``.
        :returns: the model.
        :raises ValueError: when the trees do not fit together.
        """
        features = tuple(data["features"])
        trees = []
        for tree in data["trees"]:
            built = _Tree(
                feature=np.asarray(tree["feature"], dtype=np.int64),
                threshold=np.asarray(tree["threshold"], dtype=np.float64),
                left=np.asarray(tree["left"], dtype=np.int64),
                right=np.asarray(tree["right"], dtype=np.int64),
                leaf=np.asarray(tree["leaf"], dtype=bool),
                value=np.asarray(tree["value"], dtype=np.float64),
            )
            sizes = {len(built.feature), len(built.threshold), len(built.left), len(built.right)}
            if len(sizes | {len(built.leaf), len(built.value)}) != 1:
                raise ValueError("a tree's node arrays differ in length")
            inner = ~built.leaf
            if inner.any() and (
                built.feature[inner].max() >= len(features)
                or max(built.left[inner].max(), built.right[inner].max()) >= len(built.leaf)
            ):
                raise ValueError("a tree refers to a feature or node it does not have")
            trees.append(built)
        linear = {str(name): float(weight) for name, weight in data.get("linear", {}).items()}
        return cls(features, float(data["baseline"]), tuple(trees), linear, dict(data.get("meta", {})))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form.

        :returns: a dict :meth:`from_dict` reads back.
        """
        return {
            "features": list(self.features),
            "baseline": self.baseline,
            "trees": [
                {
                    "feature": tree.feature.tolist(),
                    "threshold": tree.threshold.tolist(),
                    "left": tree.left.tolist(),
                    "right": tree.right.tolist(),
                    "leaf": tree.leaf.tolist(),
                    "value": tree.value.tolist(),
                }
                for tree in self.trees
            ],
            "linear": dict(self.linear),
            "meta": dict(self.meta),
        }

    def matrix(self, vectors: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Feature vectors as the model's matrix (a missing feature is 0).

        :param vectors: one mapping of feature name to value per candidate.
        :returns: an ``(n, len(features))`` array.
        """
        return np.asarray(
            [[float(vector.get(name, 0.0)) for name in self.features] for vector in vectors], dtype=np.float64
        ).reshape(len(vectors), len(self.features))

    def score(self, vectors: Sequence[Mapping[str, float]]) -> np.ndarray:
        """The candidates' scores (log-odds of being the answer).

        :param vectors: one mapping of feature name to value per candidate.
        :returns: one score per candidate.
        """
        matrix = self.matrix(vectors)
        total = np.full(len(matrix), self.baseline)
        for tree in self.trees:
            total += tree.predict(matrix)
        for name, weight in self.linear.items():
            total += weight * np.asarray([float(vector.get(name, 0.0)) for vector in vectors])
        return total


@functools.lru_cache(maxsize=4)
def load_candidate_model(path: str | None = None) -> CandidateModel:
    """The shipped candidate model (loaded once per process).

    :param path: a model JSON other than the shipped one.
    :returns: the model.
    :raises FileNotFoundError: naming the file, when it is missing (a broken install).
    :raises ValueError: when it is not a model.
    """
    file = Path(path) if path else MODEL_PATH
    if not file.is_file():  # a broken install or a wrong path: say which file
        raise FileNotFoundError(
            f"the answer timeline's candidate model {file} is missing; reinstall chronorag"
        )
    try:
        return CandidateModel.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{file} is not a candidate model: {error}") from error
