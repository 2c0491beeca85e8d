"""Latency of ``chronorag.pipeline.ask`` with the local LLM and the ``fast`` preset, split by stage.

Corpus: the first ``--pages`` TimeQA dev pages with at most 30 paragraphs, indexed with the indexers'
ingestion into a temporary store. Questions: their answerable questions, in file order. The pipeline is
warmed up (models loaded) and one question is asked before timing. Reported per stage (decompose,
expand, embed, retrieve, rerank, generate, total): p50, p90, mean and max milliseconds, plus the
machine (CPU count, torch threads, load average while running: the CPU may be shared).

Writes ``benchmarks/results/ask.json``. Run from the repository root:
``OMP_NUM_THREADS=1 CHRONORAG_NUM_THREADS=1 python benchmarks/bench_ask.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("decompose", "expand", "embed", "retrieve", "rerank", "generate", "total")


def build_store(data: Path, folder: Path, pages: int) -> tuple[str, list[str]]:
    """Index the chosen TimeQA pages; returns the store path and their answerable questions."""
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    all_pages = json.loads((data / "timeqa" / "human_annotated_test.dev.json").read_text(encoding="utf-8"))
    chosen = [page for page in all_pages if len(page["paras"]) <= 30][:pages]
    source = folder / "pages.json"
    source.write_text(json.dumps(chosen), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder()
    store = open_store_for(str(folder / "store"), model_id, dim)
    ingest([str(source)], store, embed, fmt="timeqa", progress=False)
    store.close()
    questions = [
        q for page in chosen for q, answers in page["questions"] if any(a["answer"] for a in answers)
    ]
    return str(folder / "store"), questions


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def summarise(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p90/mean/max per stage."""
    summary = {}
    for stage in STAGES:
        values = [sample.get(stage, 0.0) for sample in samples]
        summary[stage] = {
            "p50": round(statistics.median(values), 1),
            "p90": round(percentile(values, 0.9), 1),
            "mean": round(statistics.fmean(values), 1),
            "max": round(max(values), 1),
        }
    return summary


def main() -> None:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHRONORAG_DATA_DIR", "../shared/data"))
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--out", default=str(RESULTS / "ask.json"))
    args = parser.parse_args()

    import torch

    from chronorag.models import configure_threads
    from chronorag.pipeline import ask, build_pipeline

    configure_threads()
    with tempfile.TemporaryDirectory(prefix="chronorag-bench-ask-") as folder:
        started = time.perf_counter()
        store, questions = build_store(Path(args.data), Path(folder), args.pages)
        index_s = time.perf_counter() - started
        pipeline = build_pipeline(store, preset="fast", generator="local")
        started = time.perf_counter()
        pipeline.warm_up()
        warm_up_s = time.perf_counter() - started
        ask(pipeline, questions[0])  # first-call effects (lazy indexes, caches) are not per-query latency
        samples, loads = [], []
        for question in questions[1 : args.questions + 1]:
            samples.append(ask(pipeline, question)["timings_ms"])
            loads.append(os.getloadavg()[0])

    report = {
        "benchmark": "ask latency, local LLM (SmolLM2-135M-Instruct GGUF via transformers), preset fast",
        "corpus": f"first {args.pages} TimeQA dev pages with <= 30 paragraphs",
        "questions_timed": len(samples),
        "index_seconds": round(index_s, 1),
        "warm_up_seconds": round(warm_up_s, 1),
        "stages_ms": summarise(samples),
        "samples_ms": samples,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1min_while_running": {"min": min(loads), "max": max(loads)},
        },
        "notes": "timings_ms from chronorag.pipeline.ask (per-component spans); 'generate' includes the "
        "extractive answerer, prompt builder, LLM and answer builder.",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["stages_ms"], indent=2))


if __name__ == "__main__":
    main()
