"""The ranker's subject check, on and off, on the shipped pipeline's rankings.

For each data set the ``fast`` preset's pipeline ranks every answerable question twice, with
``subject_check`` on (shipped) and off, through the one retrieval plan; AR@1 and AR@5 are the share of
questions with a gold answer in the first one or five passages. The tuning sets are TimeQA train over
train + dev pages and the TempRAGEval-like corpus built from train (``tune_fusion.py mixed-corpus``); the
reported ones TimeQA dev over the same store and the TempRAGEval draft over its evidence and 40 TimeQA dev
pages. Run from the repository root (``benchmarks/results/subject_check.json``)::

    python benchmarks/subject_check.py \
        --set train:timeqa:train:eval-out/timeqa-mixed/stores/timeqa-36f4d16e79 \
        --set train-mixed:timeqa-mixed:train:eval-out/train-mixed/store \
        --set dev:timeqa:dev:eval-out/timeqa-mixed/stores/timeqa-36f4d16e79 \
        --set temprageval:temprageval::eval-out/trage-mixed/stores/temprageval-882da4f783
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tune_answer_rerank import _questions

RESULTS = Path(__file__).resolve().parent / "results"


def measure(kind: str, split: str, store: str, data_dir: Path, limit: int | None) -> dict[str, Any]:
    """AR@1 and AR@5 with the subject check on and off, and how many first passages it changed."""
    from tqdm import tqdm

    from chronorag.evals.metrics import has_answer
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.retrieval import run_retrieval

    pipelines = {
        setting: build_pipeline(store, preset="fast", generator="extractive", subject_check=setting)
        for setting in (True, False)
    }
    questions = _questions(kind, split, data_dir)[:limit]
    hits = {setting: {"ar1": 0, "ar5": 0} for setting in pipelines}
    changed = 0
    started = time.perf_counter()
    for question in tqdm(questions, unit="q", desc=f"{kind}:{split}", disable=None):
        firsts = {}
        for setting, pipeline in pipelines.items():
            documents = run_retrieval(pipeline, question.question, as_of=question.as_of).documents
            found = [has_answer(question.answers, doc.content or "") for doc in documents[:5]]
            hits[setting]["ar1"] += bool(found[:1] and found[0])
            hits[setting]["ar5"] += any(found)
            firsts[setting] = documents[0].id if documents else None
        changed += firsts[True] != firsts[False]
    n = max(1, len(questions))
    return {
        "questions": len(questions),
        "on": {key: round(100 * value / n, 1) for key, value in hits[True].items()},
        "off": {key: round(100 * value / n, 1) for key, value in hits[False].items()},
        "first_passage_changed": changed,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", required=True, help="NAME:KIND:SPLIT:STORE")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, default=RESULTS / "subject_check.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for spec in args.set:
        name, kind, split, store = spec.split(":", 3)
        results[name] = {
            "kind": kind,
            "store": store,
            **measure(kind, split or "dev", store, args.data_dir, args.limit),
        }
        print(name, json.dumps(results[name]))
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
