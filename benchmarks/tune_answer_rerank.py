"""The answer reranker's settings, measured on the shipped pipeline's own rankings.

For each question the ``fast`` preset's pipeline, without its answer reranker, ranks the passages (the
retrieval plan up to the ranker). ``AnswerFitReranker`` is then run on that ranking for every setting of
``passages`` x ``min_fit``; a setting's AR@1 is the share of questions whose first passage, after the
reorder, holds a gold answer. AR@k for k >= ``passages`` does not change (the reorder stays inside the top
``passages``).

Tune on TimeQA train over train + dev pages; check on TimeQA dev over the same store, the TempRAGEval-like
corpus built from train (``tune_fusion.py mixed-corpus``) and the TempRAGEval draft over its evidence and
40 TimeQA dev pages. Run from the repository root::

    python benchmarks/tune_answer_rerank.py \
        --set train:timeqa:train:eval-out/timeqa-mixed/stores/timeqa-36f4d16e79 \
        --set dev:timeqa:dev:eval-out/timeqa-mixed/stores/timeqa-36f4d16e79 \
        --set train-mixed:timeqa-mixed:train:eval-out/train-mixed/store \
        --set temprageval:temprageval::eval-out/trage-mixed/stores/temprageval-882da4f783 \
        --tune train --out benchmarks/results/answer_rerank.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PASSAGES = (2, 3, 4, 5)
MIN_FITS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TEMPRAGEVAL_CSV = "temprageval_draft/TempRAGEval_draft_134rows.csv"


def _questions(kind: str, split: str, data_dir: Path) -> list[Any]:
    """The answerable questions of one data set."""
    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.temprageval import load_temprageval

    if kind == "temprageval":
        questions = load_temprageval(data_dir / TEMPRAGEVAL_CSV).questions
    elif kind == "timeqa-mixed":
        # The questions whose gold paragraphs the train-built mixed corpus holds (tune_fusion.py).
        keep = json.loads(Path("eval-out/train-mixed/questions.json").read_text(encoding="utf-8"))
        questions = [q for q in load_timeqa(data_dir, split=split).questions if q.qid in keep]
    else:
        questions = load_timeqa(data_dir, split=split).questions
    return [question for question in questions if question.answerable]


def measure(kind: str, split: str, store: str, data_dir: Path, limit: int | None) -> dict[str, Any]:
    """AR@1 of the ranker alone and after the reorder, for every setting, on one data set."""
    from tqdm import tqdm

    from chronorag.evals.metrics import has_answer
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.answer_reranker import AnswerFitReranker
    from chronorag.pipeline.retrieval import run_retrieval

    pipeline = build_pipeline(store, preset="fast", generator="extractive", answer_rerank_passages=0)
    rerankers = {
        (passages, min_fit): AnswerFitReranker(passages=passages, min_fit=min_fit)
        for passages in PASSAGES
        for min_fit in MIN_FITS
    }
    questions = _questions(kind, split, data_dir)[:limit]
    first = {setting: 0 for setting in rerankers}
    ranker_first = moved = 0
    started = time.perf_counter()
    for question in tqdm(questions, unit="q", desc=f"{kind}:{split}", disable=None):
        ranked = run_retrieval(pipeline, question.question, as_of=question.as_of)
        documents = ranked.documents
        if not documents:
            continue
        ranker_first += has_answer(question.answers, documents[0].content or "")
        for setting, reranker in rerankers.items():
            out = reranker.run(query=question.question, documents=documents, constraint=ranked.constraint)
            top = out["documents"][0]
            first[setting] += has_answer(question.answers, top.content or "")
            moved += setting == (3, 0.7) and top.id != documents[0].id
    n = max(1, len(questions))
    return {
        "questions": len(questions),
        "ranker_ar1": round(100 * ranker_first / n, 1),
        "ar1": {f"{p}x{f}": round(100 * hits / n, 1) for (p, f), hits in first.items()},
        "moved_at_3x0.7": moved,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set",
        action="append",
        required=True,
        help="NAME:KIND:SPLIT:STORE with KIND timeqa, timeqa-mixed or temprageval",
    )
    parser.add_argument("--tune", required=True, help="the set whose best setting is chosen")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, default=RESULTS / "answer_rerank.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"sets": {}}
    for spec in args.set:
        name, kind, split, store = spec.split(":", 3)
        results["sets"][name] = {
            "kind": kind,
            "split": split,
            "store": store,
            **measure(kind, split or "dev", store, args.data_dir, args.limit),
        }
    tuned = results["sets"][args.tune]["ar1"]
    # The best on the tuning set; a tie goes to fewer passages, then the lower fit (the earlier key).
    best = max(tuned, key=lambda key: tuned[key])
    at_best = {name: data["ar1"][best] for name, data in results["sets"].items()}
    results["chosen"] = {"setting": best, **at_best}
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["chosen"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
