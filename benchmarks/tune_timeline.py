"""Fit the ``AnswerTimeline``'s candidate scorer on TimeQA train (never dev).

Every candidate of the top passages of each train question becomes one row of features (time fit, the
question's words in the sentence and around the span, span type, rank, how its time is written, ...).

- ``--trees`` fits what ships: gradient-boosted trees (``chronorag.pipeline.candidate_model``), monotone in
  the features the timeline's logic orders (``MONOTONE``), their settings chosen by two-fold CV exact
  match over the train pages, then fitted on all of train and written to
  ``pipeline/models/timeline_candidates.json``.
- The linear score they replaced (``LINEAR_WEIGHTS``) is refitted beside them for comparison: coordinate
  ascent on each question's best candidate (a logistic regression, also reported, optimises the wrong
  thing: it scores every candidate, not the question's best), two-fold cross-validated the same way.

With ``--dev-store``/``--dev-rankings`` the report adds dev's EM of each (reported, never fitted on). The
report goes to ``benchmarks/results/timeline_weights.json``::

    python benchmarks/tune_timeline.py --data-dir ../shared/data --trees \\
        --store eval-out/timeqa-train/stores/timeqa-* \\
        --rankings eval-out/timeqa-train/per_question/chronorag.jsonl \\
        --dev-store eval-out/timeqa-mixed/stores/timeqa-* \\
        --dev-rankings eval-out/timeqa-mixed/per_question/chronorag.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "timeline_weights.json"
# The linear candidate score the trees replaced (coordinate ascent on TimeQA train), kept as their
# baseline and as the order of the feature names: the time fit, the question's words in the sentence and
# around the span, the span's type, the ranker's order and how the time was written.
LINEAR_WEIGHTS: dict[str, float] = {
    "time": 1.0,
    "sentence_time": 0.3,
    "relevance": 0.7,
    "relevance_local": 0.1,
    "label": 0.35,
    "noun": 0.3,
    "chunk": 0.0,
    "chunk_named": 0.0,
    "list_first": 0.1,
    "rank": 0.8,
    "attachment": 0.2,
    "near": 0.2,
    "title": -0.3,
    "length": 0.2,
    "extended": 0.0,
    "support": 0.1,
    "planned": -0.2,
    "competition": 0.0,
    "role_range": 0.1,
    "role_start": 0.1,
    "role_end": 0.2,
    "role_point": 0.05,
    "role_inherited": -0.1,
    "role_published": 0.0,
    "role_undated": -0.2,
}


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per question: its page, gold answers and every candidate's (answer, features)."""
    cache = Path(args.cache) if args.cache else None
    if cache and cache.exists():
        return pickle.loads(cache.read_bytes())
    from tqdm import tqdm

    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.records import ResultCache
    from chronorag.indexers.store import ChronoDocumentStore
    from chronorag.pipeline.answer_timeline import AnswerTimeline, feature_vector
    from chronorag.temporal import decompose

    dataset = load_timeqa(args.data_dir, split=getattr(args, "split", "train"))
    ranked = Path(args.rankings)
    rankings = {qid: record["ids"] for qid, record in ResultCache(ranked.parent, ranked.stem).records.items()}
    questions = [q for q in dataset.questions if q.answerable and q.qid in rankings][: args.limit]
    store = ChronoDocumentStore(args.store, read_only=True)
    timeline = AnswerTimeline(max_passages=args.passages)
    timeline.warm_up()
    rows = []
    for question in tqdm(questions, unit="q", desc="candidates", disable=None):
        ids = rankings[question.qid][: args.passages]
        found = {doc.id: doc for doc in store.get_documents_by_id(ids)}
        documents = [found[i] for i in ids if i in found]
        constraint = decompose(question.question, as_of=question.as_of)
        entries = timeline.candidates_of(question.question, documents, constraint)
        rows.append(
            {
                "qid": question.qid,
                "page": question.tags.get("page", question.qid),
                "answers": question.answers,
                "candidates": [(entry.answer, feature_vector(entry)) for entry in entries],
            }
        )
    if cache:
        cache.write_bytes(pickle.dumps(rows))
    return rows


def _em(rows: list[dict[str, Any]], weights: dict[str, float]) -> float:
    """The exact match (percent) of each question's best candidate under `weights`."""
    import numpy as np

    names = list(weights)
    vector = np.asarray([weights[name] for name in names])
    hits = 0.0
    for row in rows:
        matrix, gold = _arrays(row, names)
        if len(gold):
            hits += gold[int(np.argmax(matrix @ vector))]
    return 100.0 * hits / max(1, len(rows))


def _arrays(row: dict[str, Any], names: list[str]) -> tuple[Any, Any]:
    """The question's candidate features as a matrix (cached on the row) and which candidates are gold."""
    import numpy as np

    from chronorag.evals.metrics import max_exact_match

    key = tuple(names)
    if row.get("_key") != key:
        row["_matrix"] = np.asarray(
            [[vector.get(name, 0.0) for name in names] for _, vector in row["candidates"]]
        ).reshape(len(row["candidates"]), len(names))
        row["_gold"] = np.asarray(
            [max_exact_match(answer, row["answers"]) for answer, _ in row["candidates"]]
        )
        row["_key"] = key
    return row["_matrix"], row["_gold"]


def _fit(rows: list[dict[str, Any]], names: list[str], c: float) -> dict[str, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from chronorag.evals.metrics import max_exact_match

    features, labels = [], []
    for row in rows:
        for answer, vector in row["candidates"]:
            features.append([vector.get(name, 0.0) for name in names])
            labels.append(max_exact_match(answer, row["answers"]))
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit(np.asarray(features), np.asarray(labels))
    return {name: round(float(weight), 4) for name, weight in zip(names, model.coef_[0], strict=True)}


# Kept as set: the time fit leads (the timeline's reason to be), and an undated, inherited or merely
# published time must not count for more than a stated one, whatever TimeQA's quirks reward.
FROZEN = ("time", "role_undated", "role_inherited", "role_published")


def _ascend(rows: list[dict[str, Any]], weights: dict[str, float], rounds: int = 3) -> dict[str, float]:
    """Coordinate ascent on train EM: each weight in turn (but the `FROZEN` ones) tries a few steps,
    keeping any that raises EM (ties keep the current weight, so the result moves only on evidence)."""
    best = _em(rows, weights)
    for _ in range(rounds):
        improved = False
        for name in [name for name in weights if name not in FROZEN]:
            for step in (-0.4, -0.2, -0.1, 0.1, 0.2, 0.4):
                trial = {**weights, name: round(weights[name] + step, 3)}
                score = _em(rows, trial)
                if score > best + 1e-9:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return weights


# The trees (``chronorag.pipeline.candidate_model``) score everything but the features added linearly: the
# time fit (code's reading of the constraint leads, so its weight is fixed outside the trees) and a planned
# clause (too rare to split on; it keeps the linear fit's ratio to the time fit). Monotone where the
# timeline's logic demands it, the rest free. Settings and the time weight: the best two-fold CV EM on
# train among those tried (the report lists them).
LINEAR = ("time", "planned")
MONOTONE = {
    "sentence_time": 1, "relevance": 1, "rank": 1, "support": 1, "role_undated": -1, "competition": -1,
}  # fmt: skip
TREE_SETTINGS = tuple({"max_depth": d, "min_samples_leaf": m} for d in (3, 4) for m in (20, 50))
TIME_WEIGHTS = (1.0, 2.0, 3.0, 4.0)


def _tree_columns(names: list[str]) -> list[int]:
    """The positions of the features the trees score (all but the ``LINEAR`` ones)."""
    return [i for i, name in enumerate(names) if name not in LINEAR]


def _fit_trees(rows: list[dict[str, Any]], names: list[str], settings: dict[str, int]) -> Any:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    columns = _tree_columns(names)
    pairs = [_arrays(row, names) for row in rows if row["candidates"]]
    matrix = np.concatenate([m for m, _ in pairs])[:, columns]
    gold = np.concatenate([g for _, g in pairs])
    monotone = [MONOTONE.get(names[i], 0) for i in columns]
    classifier = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=200, random_state=0, monotonic_cst=monotone, **settings
    )
    return classifier.fit(matrix, gold)


def _linear(time_weight: float) -> dict[str, float]:
    ratio = LINEAR_WEIGHTS["planned"] / LINEAR_WEIGHTS["time"]
    return {"time": time_weight, "planned": round(ratio * time_weight, 4)}


def _hybrid_scores(matrix: Any, names: list[str], classifier: Any, linear: dict[str, float]) -> Any:
    scores = classifier.decision_function(matrix[:, _tree_columns(names)])
    for name, weight in linear.items():
        scores = scores + weight * matrix[:, names.index(name)]
    return scores


def _tree_em(
    rows: list[dict[str, Any]], names: list[str], classifier: Any, linear: dict[str, float]
) -> float:
    import numpy as np

    hits = 0.0
    for row in rows:
        matrix, gold = _arrays(row, names)
        if len(gold):
            hits += gold[int(np.argmax(_hybrid_scores(matrix, names, classifier, linear)))]
    return 100.0 * hits / max(1, len(rows))


def export_trees(
    classifier: Any, names: list[str], linear: dict[str, float], meta: dict[str, Any]
) -> dict[str, Any]:
    """A fitted binary ``HistGradientBoostingClassifier`` (over ``names`` but the ``LINEAR`` ones) and the
    linear terms, as ``CandidateModel``'s JSON form."""
    trees = []
    for (predictor,) in classifier._predictors:
        nodes = predictor.nodes
        trees.append(
            {
                "feature": nodes["feature_idx"].astype(int).tolist(),
                "threshold": nodes["num_threshold"].astype(float).tolist(),
                "left": nodes["left"].astype(int).tolist(),
                "right": nodes["right"].astype(int).tolist(),
                "leaf": nodes["is_leaf"].astype(bool).tolist(),
                "value": nodes["value"].astype(float).tolist(),
            }
        )
    return {
        "features": [names[i] for i in _tree_columns(names)],
        "baseline": float(classifier._baseline_prediction.ravel()[0]),
        "trees": trees,
        "linear": linear,
        "meta": meta,
    }


def fit_trees(rows: list[dict[str, Any]], names: list[str], folds: list[list[dict[str, Any]]]) -> dict:
    """Choose the trees' settings and the time weight by two-fold CV EM over the train pages; fit the trees
    on all of train."""
    tried = []
    for settings in TREE_SETTINGS:
        fitted = [_fit_trees(folds[f], names, settings) for f in (0, 1)]
        for weight in TIME_WEIGHTS:
            scores = [_tree_em(folds[1 - f], names, fitted[f], _linear(weight)) for f in (0, 1)]
            tried.append(
                {"settings": settings, "time_weight": weight, "cross_validated_EM": round(sum(scores) / 2, 2)}
            )
    chosen = max(tried, key=lambda item: item["cross_validated_EM"])
    classifier = _fit_trees(rows, names, chosen["settings"])
    linear = _linear(chosen["time_weight"])
    meta = {
        "fitted_on": f"TimeQA train, {len(rows)} questions (benchmarks/tune_timeline.py --trees)",
        "settings": {**chosen["settings"], "max_iter": 200, "learning_rate": 0.05},
        "monotone": MONOTONE,
        "cross_validated_EM": chosen["cross_validated_EM"],
        "fitted_EM_on_train": round(_tree_em(rows, names, classifier, linear), 2),
    }
    return {
        "tried": tried,
        "model": export_trees(classifier, names, linear, meta),
        "classifier": classifier,
        "linear": linear,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="the data folder (its timeqa_train/ is read)")
    parser.add_argument("--store", required=True)
    parser.add_argument("--rankings", required=True)
    parser.add_argument("--passages", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--cache", default=None, help="pickle of the candidate features (reused when present)"
    )
    parser.add_argument("--out", default=str(RESULTS_PATH))
    parser.add_argument(
        "--trees", action="store_true", help="also fit the candidate trees and write the shipped model"
    )
    parser.add_argument("--model-out", default=None, help="where --trees writes the model (default: shipped)")
    parser.add_argument("--dev-store", default=None, help="report dev EM too: the store of dev's rankings")
    parser.add_argument("--dev-rankings", default=None, help="dev's per_question/chronorag.jsonl")
    parser.add_argument("--dev-cache", default=None)
    args = parser.parse_args()

    import numpy as np

    rows = _rows(args)
    names = list(LINEAR_WEIGHTS)
    pages = sorted({row["page"] for row in rows})
    folds = [[row for row in rows if pages.index(row["page"]) % 2 == fold] for fold in (0, 1)]
    report: dict[str, Any] = {
        "what": "AnswerTimeline candidate scorer fitted to TimeQA train EM (CV by page): trees with the time "
        "fit added linearly (--trees, what ships) against the linear weights they replaced",
        "questions": len(rows),
        "oracle_EM": round(
            100.0
            * sum(any(_hit(c[0], r["answers"]) for c in r["candidates"]) for r in rows)
            / max(1, len(rows)),
            1,
        ),
        "linear_weights_EM": round(_em(rows, LINEAR_WEIGHTS), 1),
        "cross_validated": {},
    }
    scores = [_em(folds[1 - fold], _fit(folds[fold], names, 0.01)) for fold in (0, 1)]
    report["cross_validated"]["logistic_regression"] = round(sum(scores) / 2, 1)
    scores = [_em(folds[1 - fold], _ascend(folds[fold], dict(LINEAR_WEIGHTS))) for fold in (0, 1)]
    report["cross_validated"]["coordinate_ascent"] = round(sum(scores) / 2, 1)
    weights = _ascend(rows, dict(LINEAR_WEIGHTS))
    report.update(
        {
            "frozen": list(FROZEN),
            "refit_linear_weights": weights,
            "refit_linear_EM_on_train": round(_em(rows, weights), 1),
            "load_average_at_end": round(os.getloadavg()[0], 2),
        }
    )
    dev_rows = _dev_rows(args)
    if dev_rows:
        report["dev_EM"] = {
            "linear_weights": round(_em(dev_rows, LINEAR_WEIGHTS), 2),
            "refit_linear_weights": round(_em(dev_rows, weights), 2),
        }
    if args.trees:
        from chronorag.pipeline.candidate_model import MODEL_PATH, CandidateModel

        trees = fit_trees(rows, names, folds)
        model = trees["model"]
        # The exported arrays must score exactly as scikit-learn does.
        check = _arrays(rows[0], names)[0]
        assert np.allclose(
            CandidateModel.from_dict(model).score([dict(zip(names, r, strict=True)) for r in check]),
            _hybrid_scores(check, names, trees["classifier"], trees["linear"]),
            atol=1e-6,
        )
        if dev_rows:
            model["meta"]["dev_EM"] = round(
                _tree_em(dev_rows, names, trees["classifier"], trees["linear"]), 2
            )
        Path(args.model_out or MODEL_PATH).write_text(json.dumps(model) + "\n")
        report["trees"] = {"tried": trees["tried"], **model["meta"]}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "refit_linear_weights"}, indent=2))


def _dev_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Dev's candidates (for the report only; nothing is fitted on them), when dev's rankings are given."""
    if not (args.dev_store and args.dev_rankings):
        return []
    dev = argparse.Namespace(**{**vars(args), "store": args.dev_store, "rankings": args.dev_rankings})
    dev.cache, dev.split = args.dev_cache, "dev"
    return _rows(dev)


def _hit(answer: str, golds: list[str]) -> bool:
    from chronorag.evals.metrics import max_exact_match

    return max_exact_match(answer, golds) == 1.0


if __name__ == "__main__":
    main()
