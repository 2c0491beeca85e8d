"""SituatedQA and TimeBench in ``chronorag eval``: decomposition accuracy (and TimeBench reading accuracy).

The measures themselves are the temporal stage's (:mod:`chronorag.evals.decomposition_eval`); this module
runs them on the selected questions and gives each accuracy its bootstrap CI (a mean of 0/1 outcomes, so
the counts determine it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chronorag.evals.metrics import max_exact_match, max_f1, mean_with_ci
from chronorag.evals.records import ResultCache
from chronorag.evals.types import EvalDataset, EvalQuestion

__all__ = ["run_decomposition"]


def _proportion(accuracy: float | None, n: int, config: Any) -> dict[str, Any]:
    if accuracy is None or n == 0:
        return {"value": None, "ci95": [None, None], "n": 0}
    hits = round(accuracy * n)
    return mean_with_ci([1.0] * hits + [0.0] * (n - hits), config.bootstrap, config.seed)


def _subset_file(config: Any, source: Path, qids: set[str], stem: str) -> Path:
    """The source JSONL restricted to the selected questions (line order kept)."""
    out = Path(config.out_dir) / "corpus" / f"{stem}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(source, encoding="utf-8") as handle:
        lines = [
            line
            for number, line in enumerate(row for row in handle if row.strip())
            if f"{stem}:{number}" in qids
        ]
    out.write_text("".join(lines), encoding="utf-8")
    return out


def run_decomposition(config: Any, dataset: EvalDataset, questions: list[EvalQuestion]) -> dict[str, Any]:
    """Decomposition metrics (``relation_acc``, ``date_acc``) for the decomposer behind ``chronorag``.

    :param config: the run's settings.
    :param dataset: ``situatedqa`` or ``timebench``.
    :param questions: the selected questions.
    :returns: results with ``systems`` ready for the report.
    """
    from chronorag.evals import decomposition_eval

    root = Path(config.data_dir) / dataset.name
    qids = {question.qid for question in questions}
    files = [root / name for name in dataset.stats["files"]]
    if config.limit is not None:
        files = [_subset_file(config, f, qids, f.stem) for f in files]
    if dataset.name == "situatedqa":
        result = (
            decomposition_eval.evaluate_situatedqa(files[0]) if len(files) == 1 else _merge_situated(files)
        )
    else:
        result = decomposition_eval.evaluate_timebench(files)
    n = result["n"]
    metrics = {
        "relation_acc": _proportion(result["relation_accuracy"], n, config),
        "date_acc": _proportion(result["interval_accuracy"], n, config),
    }
    if dataset.name == "timebench" and config.generate:
        metrics.update(_read_contexts(config, questions))
    detail_path = Path(config.out_dir) / "per_question" / "decomposition.json"
    detail_path.parent.mkdir(parents=True, exist_ok=True)
    detail_path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return {
        "kind": "decomposition",
        "systems": {"chronorag": {"metrics": metrics, "slices": {}}},
        "detail": result,
    }


def _merge_situated(files: list[Path]) -> dict[str, Any]:
    from chronorag.evals import decomposition_eval

    parts = [decomposition_eval.evaluate_situatedqa(f) for f in files]
    n = sum(p["n"] for p in parts)
    merged: dict[str, Any] = {"n": n}
    for key in ("relation_accuracy", "interval_accuracy"):
        merged[key] = sum((p[key] or 0.0) * p["n"] for p in parts) / n if n else None
    return merged


def _empty_store(config: Any) -> str:
    """A store folder for building the pipeline (TimeBench reads given contexts: nothing is retrieved)."""
    from chronorag.indexers.ingest import open_store_for, sentence_transformer_embedder

    path = Path(config.out_dir) / "stores" / "empty"
    _, model_id, dim = sentence_transformer_embedder()
    open_store_for(str(path), model_id, dim).close()
    return str(path)


def _read_contexts(config: Any, questions: list[EvalQuestion]) -> dict[str, Any]:
    """TimeBench reading: the reader answers from each question's own context; EM and F1."""
    from haystack import Document
    from tqdm import tqdm

    from chronorag.evals.generation import Reader
    from chronorag.pipeline import build_pipeline, load
    from chronorag.temporal import decompose

    store = _empty_store(config)
    yaml_path = str(config.pipeline_yaml) if config.pipeline_yaml else None
    pipeline = load(yaml_path, store_path=store) if yaml_path else build_pipeline(store)
    reader = Reader(pipeline, max_passages=1)
    reader.warm_up()
    cache = ResultCache(Path(config.out_dir) / "per_question", "reading")
    for question in tqdm(questions, desc="read", unit="q", disable=not config.progress, file=sys.stderr):
        if question.qid in cache.records:
            continue
        reply = reader.answer(
            question.question, [Document(content=question.context or "")], decompose(question.question)
        )
        cache.add(
            {
                "qid": question.qid,
                "reply": reply,
                "answers": question.answers,
                "EM": max_exact_match(reply, question.answers),
                "F1": max_f1(reply, question.answers),
            }
        )
    answerable = [q for q in questions if q.answerable]
    return {
        "EM": mean_with_ci([cache.records[q.qid]["EM"] for q in answerable], config.bootstrap, config.seed),
        "F1": mean_with_ci([cache.records[q.qid]["F1"] for q in answerable], config.bootstrap, config.seed),
    }
