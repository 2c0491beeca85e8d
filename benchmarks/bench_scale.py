"""The Milvus backend and Ray ingestion against the local path, on TimeQA dev pages.

Run ``python benchmarks/bench_scale.py retrieval [--pages 40]`` and ``... ingest [--pages 80 --runs 2]``;
each writes its part of ``benchmarks/results/scale.json`` (the other part is kept).

- ``retrieval``: the first ``--pages`` TimeQA dev pages are embedded once (``chronorag index``'s embedder)
  into the local FAISS store; the very same passages and vectors are copied into a Milvus Lite store; both
  are searched by the same shipped pipeline (``build_pipeline(preset="fast")``, retrieval only) for every
  answerable question of those pages: AR@5 (DPR has_answer on title + text) of each, how often their
  top-5 lists agree, and the per-question retrieval time.
- ``ingest``: ``chronorag index``'s local path into the local store and into Milvus Lite, and Ray Data in
  local mode (``num_cpus=2``) into Milvus Lite, interleaved ``--runs`` times, with the load average
  around each run. Reported per run: end-to-end passages/s (what a user waits for, Ray's worker start
  and model loading included) and steady-state passages/s (from the first to the last committed batch).

The machine is shared: numbers measured while other engineers' jobs run are noisy; the load averages
say how noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "scale.json"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timeqa_file() -> str:
    return str(DATA_DIR / "timeqa" / "human_annotated_test.dev.json")


# ---------------------------------------------------------------------- retrieval
def retrieval(pages: int, work: Path) -> dict[str, Any]:
    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.metrics import answer_recall_at_k
    from chronorag.indexers import passage_text
    from chronorag.indexers.ingest import ingest, open_store_for
    from chronorag.indexers.onnx_embedder import ingestion_embedder
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.retrieval import run_retrieval

    embed, model_id, dim, description = ingestion_embedder()
    local = open_store_for(str(work / "local"), model_id, dim)
    report = ingest([_timeqa_file()], local, embed, fmt="timeqa", limit=pages, progress=False)
    milvus_uri = f"milvus://{work / 'milvus.db'}"
    milvus = open_store_for(milvus_uri, model_id, dim)
    started = time.perf_counter()
    batch = list(local.iter_documents(return_embedding=True))
    for start in range(0, len(batch), 512):
        milvus.write_documents(batch[start : start + 512])
    copy_seconds = time.perf_counter() - started
    page_ids = set(local.source_hashes())
    local.close()
    milvus.close()

    dataset = load_timeqa(DATA_DIR)
    questions = [q for q in dataset.questions if q.answers and q.tags.get("page") in page_ids]
    results: dict[str, Any] = {}
    top5: dict[str, list[list[str]]] = {}
    for name, location in (("faiss", str(work / "local")), ("milvus_lite", milvus_uri)):
        pipeline = build_pipeline(location, preset="fast", generator="extractive")
        pipeline.warm_up()
        hits, seconds, lists = [], [], []
        load_before = _load()
        for question in questions:
            started = time.perf_counter()
            documents = run_retrieval(pipeline, question.question, as_of=question.as_of, top_k=5).documents
            seconds.append(time.perf_counter() - started)
            texts = [passage_text(d) for d in documents]
            hits.append(answer_recall_at_k(question.answers, texts, 5))
            lists.append([d.id for d in documents[:5]])
        top5[name] = lists
        results[name] = {
            "AR@5": round(100 * sum(hits) / len(hits), 2),
            "median_retrieval_ms": round(1000 * statistics.median(seconds), 1),
            "p90_retrieval_ms": round(1000 * sorted(seconds)[int(0.9 * (len(seconds) - 1))], 1),
            "load_average": [load_before, _load()],
        }
    same = sum(a == b for a, b in zip(top5["faiss"], top5["milvus_lite"], strict=True))
    return {
        "corpus": f"TimeQA dev, first {pages} pages",
        "passages": report.passages_written,
        "questions": len(questions),
        "embedder": description,
        "pipeline": "build_pipeline(preset='fast', generator='extractive'), retrieval only (run_retrieval)",
        "milvus_copy_passages_per_s": round(report.passages_written / copy_seconds, 1),
        "stores": results,
        "AR@5_difference_points": round(results["milvus_lite"]["AR@5"] - results["faiss"]["AR@5"], 2),
        "identical_top5_lists": f"{same}/{len(questions)}",
        "machine": _machine(),
    }


# ---------------------------------------------------------------------- ingestion
def _timed_run(engine: str, store_location: str, pages: int, spec: Any) -> dict[str, Any]:
    from chronorag.indexers.ingest import ingest, open_store_for

    embed, model_id, dim, _ = spec()
    store = open_store_for(store_location, model_id, dim)
    commits: list[tuple[float, int]] = []

    def on_batch(report: Any) -> None:
        commits.append((time.perf_counter(), report.passages_written))

    load_before = _load()
    started = time.perf_counter()
    if engine == "ray":
        from chronorag.indexers.ray_ingest import ray_ingest

        report = ray_ingest(
            [_timeqa_file()], store, spec, fmt="timeqa", limit=pages, progress=False, on_batch=on_batch
        )
    else:
        report = ingest(
            [_timeqa_file()], store, embed, fmt="timeqa", limit=pages, progress=False, on_batch=on_batch
        )
    seconds = time.perf_counter() - started
    store.close()
    (first_time, first_count), (last_time, last_count) = commits[0], commits[-1]
    steady = (last_count - first_count) / (last_time - first_time) if last_time > first_time else None
    return {
        "passages": report.passages_written,
        "seconds": round(seconds, 2),
        "passages_per_s": round(report.passages_written / seconds, 1),
        "steady_passages_per_s": round(steady, 1) if steady else None,
        "seconds_to_first_commit": round(first_time - started, 2),
        "load_average": [load_before, _load()],
    }


def ingestion(pages: int, runs: int, work: Path) -> dict[str, Any]:
    import ray

    from chronorag.indexers.ray_ingest import EmbedderSpec

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    spec = EmbedderSpec()  # chronorag index's default embedder, in both engines
    description = spec()[3]
    variants = {
        "local_faiss": ("local", lambda i: str(work / f"local{i}")),
        "local_milvus_lite": ("local", lambda i: f"milvus://{work / f'lm{i}.db'}"),
        "ray_milvus_lite": ("ray", lambda i: f"milvus://{work / f'ray{i}.db'}"),
    }
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for run in range(runs):  # interleaved, so the machine's load hits every variant alike
        for name, (engine, location) in variants.items():
            measured[name].append(_timed_run(engine, location(run), pages, spec))
            print(name, measured[name][-1], file=sys.stderr)
    ray.shutdown()

    def median(name: str, key: str) -> float:
        return round(statistics.median(r[key] for r in measured[name] if r[key]), 1)

    summary = {
        name: {k: median(name, k) for k in ("passages_per_s", "steady_passages_per_s")} for name in variants
    }
    base = summary["local_milvus_lite"]
    return {
        "corpus": f"TimeQA dev, first {pages} pages",
        "ray": "local mode, num_cpus=2: read tasks, 1 prepare actor, 1 embedding actor; the driver writes",
        "embedder": description,
        "runs": measured,
        "median": summary,
        "ray_vs_local_same_store": {
            "end_to_end": round(summary["ray_milvus_lite"]["passages_per_s"] / base["passages_per_s"], 3),
            "steady_state": round(
                summary["ray_milvus_lite"]["steady_passages_per_s"] / base["steady_passages_per_s"], 3
            ),
        },
        "machine": _machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=["retrieval", "ingest"])
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        if args.section == "retrieval":
            result = retrieval(args.pages or 40, work)
        else:
            result = ingestion(args.pages or 80, args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = json.loads(RESULTS_PATH.read_text()) if RESULTS_PATH.exists() else {}
    results[args.section] = result
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
