"""The answer timeline's candidate model: the shipped trees load, score as scikit-learn does, and let the
time fit lead; broken model files give clear errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from chronorag.pipeline.candidate_model import MODEL_PATH, CandidateModel, load_candidate_model

REPO_ROOT = Path(__file__).resolve().parent.parent


def _tune_timeline():
    spec = importlib.util.spec_from_file_location(
        "tune_timeline", REPO_ROOT / "benchmarks" / "tune_timeline.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["tune_timeline"] = module
    spec.loader.exec_module(module)
    return module


def test_the_shipped_model_loads_with_the_time_fit_outside_the_trees():
    model = load_candidate_model()
    assert model.trees and "time" not in model.features and "relevance" in model.features
    assert model.linear["time"] > 0 and model.linear["planned"] < 0
    assert model.meta["fitted_on"].startswith("TimeQA train")


def test_score_rises_with_the_time_fit_by_its_weight_whatever_else():
    model = load_candidate_model()
    rng = np.random.default_rng(0)
    vectors = [{name: float(rng.random()) for name in model.features} for _ in range(50)]
    low = model.score([{**vector, "time": 0.2} for vector in vectors])
    high = model.score([{**vector, "time": 0.9} for vector in vectors])
    assert np.allclose(high - low, 0.7 * model.linear["time"])


def test_to_dict_from_dict_round_trip_scores_the_same():
    model = load_candidate_model()
    vectors = [{"relevance": 0.8, "rank": 1.0, "time": 1.0}, {"relevance": 0.1, "rank": 0.33, "time": 0.4}]
    restored = CandidateModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(restored.score(vectors), model.score(vectors))


def test_exported_trees_score_exactly_as_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    tune = _tune_timeline()
    rng = np.random.default_rng(1)
    names = ["time", "relevance", "rank", "label"]
    matrix = rng.random((400, len(names)))
    gold = (matrix[:, 1] + 0.5 * matrix[:, 2] + 0.1 * rng.random(400) > 0.9).astype(float)
    columns = [1, 2, 3]  # "time" is added linearly, outside the trees
    classifier = HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=0)
    classifier.fit(matrix[:, columns], gold)
    exported = tune.export_trees(classifier, names, {"time": 2.0}, {})
    model = CandidateModel.from_dict(exported)
    vectors = [dict(zip(names, row, strict=True)) for row in matrix]
    expected = classifier.decision_function(matrix[:, columns]) + 2.0 * matrix[:, 0]
    assert np.allclose(model.score(vectors), expected, atol=1e-9)


def test_a_missing_model_file_names_it(tmp_path):
    missing = tmp_path / "nothing.json"
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        load_candidate_model(str(missing))


def test_a_corrupt_model_file_is_a_clear_error(tmp_path):
    corrupt = tmp_path / "model.json"
    corrupt.write_text(MODEL_PATH.read_text()[:500])
    with pytest.raises(ValueError, match="is not a candidate model"):
        load_candidate_model(str(corrupt))


def test_a_tree_pointing_outside_itself_is_refused():
    data = load_candidate_model().to_dict()
    data["trees"][0]["left"][0] = 10_000
    with pytest.raises(ValueError, match="refers to a feature or node"):
        CandidateModel.from_dict(data)


def test_the_timeline_fails_at_warm_up_naming_a_missing_model(tmp_path, monkeypatch):
    import chronorag.pipeline.candidate_model as candidate_model
    from chronorag.pipeline.answer_timeline import AnswerTimeline

    monkeypatch.setattr(candidate_model, "MODEL_PATH", tmp_path / "timeline_candidates.json")
    load_candidate_model.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="timeline_candidates.json"):
            AnswerTimeline().warm_up()
    finally:
        load_candidate_model.cache_clear()
