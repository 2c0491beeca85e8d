"""Fit the ``AnswerTimeline``'s candidate weights on TimeQA train (never dev).

Every candidate of the top passages of each train question becomes one row of features (time fit, the
question's words in the sentence and around the span, span type, rank, how its time is written, ...).
The weights are fitted to the exact match of each question's best candidate by coordinate ascent from the
current weights (a logistic regression on the candidates, fitted for comparison, optimises the wrong thing:
it scores every candidate, not the question's best). Both are two-fold cross-validated over the train
pages, so the EM printed is not measured on what was fitted. The weights fitted on all of train are
written to ``benchmarks/results/timeline_weights.json``; ``chronorag.pipeline.answer_timeline.WEIGHTS``
holds them.

    python benchmarks/tune_timeline.py --data-dir ../shared/data \\
        --store eval-out/timeqa-train/stores/timeqa-* \\
        --rankings eval-out/timeqa-train/per_question/chronorag.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "timeline_weights.json"


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

    dataset = load_timeqa(args.data_dir, split="train")
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
    args = parser.parse_args()

    from chronorag.pipeline.answer_timeline import WEIGHTS

    rows = _rows(args)
    names = list(WEIGHTS)
    pages = sorted({row["page"] for row in rows})
    folds = [[row for row in rows if pages.index(row["page"]) % 2 == fold] for fold in (0, 1)]
    report: dict[str, Any] = {
        "what": "AnswerTimeline candidate weights fitted to TimeQA train EM (coordinate ascent, CV by page)",
        "questions": len(rows),
        "oracle_EM": round(
            100.0
            * sum(any(_hit(c[0], r["answers"]) for c in r["candidates"]) for r in rows)
            / max(1, len(rows)),
            1,
        ),
        "hand_weights_EM": round(_em(rows, WEIGHTS), 1),
        "cross_validated": {},
    }
    scores = [_em(folds[1 - fold], _fit(folds[fold], names, 0.01)) for fold in (0, 1)]
    report["cross_validated"]["logistic_regression"] = round(sum(scores) / 2, 1)
    scores = [_em(folds[1 - fold], _ascend(folds[fold], dict(WEIGHTS))) for fold in (0, 1)]
    report["cross_validated"]["coordinate_ascent"] = round(sum(scores) / 2, 1)
    weights = _ascend(rows, dict(WEIGHTS))
    report.update(
        {
            "frozen": list(FROZEN),
            "weights": weights,
            "fitted_EM_on_train": round(_em(rows, weights), 1),
            "load_average_at_end": round(os.getloadavg()[0], 2),
        }
    )
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _hit(answer: str, golds: list[str]) -> bool:
    from chronorag.evals.metrics import max_exact_match

    return max_exact_match(answer, golds) == 1.0


if __name__ == "__main__":
    main()
