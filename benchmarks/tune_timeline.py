"""Fit the ``AnswerTimeline``'s candidate weights on TimeQA train (never dev).

Every candidate of the top passages of each train question becomes one row of features (time fit, the
question's words in the sentence and around the span, span type, rank, how its time is written, ...),
labelled by whether it is a gold answer. A logistic regression gives the weights; they are judged by the
exact match of each question's best candidate, two-fold cross-validated over the train pages (so the EM
printed is not measured on what was fitted). The weights fitted on all of train are written to
``benchmarks/results/timeline_weights.json``; ``chronorag.pipeline.answer_timeline.WEIGHTS`` holds them.

    python benchmarks/tune_timeline.py --data-dir TRAIN_ROOT --store eval-out/timeqa-train/stores/timeqa-* \\
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

    dataset = load_timeqa(args.data_dir)
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
    from chronorag.evals.metrics import max_exact_match

    hits = 0.0
    for row in rows:
        if not row["candidates"]:
            continue
        best = max(
            row["candidates"], key=lambda item: sum(w * item[1].get(k, 0.0) for k, w in weights.items())
        )
        hits += max_exact_match(best[0], row["answers"])
    return 100.0 * hits / max(1, len(rows))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="folder whose timeqa/ holds the TRAIN split")
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
        "what": "AnswerTimeline candidate weights, logistic regression on TimeQA train candidates",
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
    for c in (0.01, 0.1, 1.0):
        scores = [_em(folds[1 - fold], _fit(folds[fold], names, c)) for fold in (0, 1)]
        report["cross_validated"][str(c)] = round(sum(scores) / 2, 1)
    best_c = max(report["cross_validated"], key=lambda key: report["cross_validated"][key])
    weights = _fit(rows, names, float(best_c))
    report.update(
        {
            "C": float(best_c),
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
