"""Load test of the REST API on loopback: ``/v1/retrieve`` (no LLM) on a ~10k-passage store.

Corpus: every TimeQA dev page (one passage per paragraph), topped up with RealTimeQA 2022 articles
(~100-word passages) until the store holds ``--passages`` passages, indexed with the indexers'
ingestion (as ``chronorag index`` does) into ``benchmarks/results/tmp/`` and reused by later runs.
Questions: TimeQA's answerable questions and RealTimeQA's question sentences, ``--questions`` distinct
ones, cycled (the server caches no results by question, so repeats cost what first asks cost, bar warm
CPU caches). The server runs as ``chronorag serve`` in its own process (fast preset, extractive
generator, one torch thread per worker, ``--workers`` processes: 2 by default, one per core of the
2-core machine the target is set for); the client runs ``--concurrency`` threads, each with its own keep-alive
connection, until ``--requests`` requests are done. A warm-up pass (every distinct question once, at the
same concurrency) runs first and is reported separately, so the timed run measures the steady state.

Reported: throughput, p50/p95/p99/mean/max latency, status counts and errors (target: zero errors and
p95 < 300 ms on a 2-core CPU), the machine, its load average (the CPU may be shared) and the server's
own /metrics histogram for the route. Writes ``benchmarks/results/api.json``. Run from the repository
root: ``OMP_NUM_THREADS=1 python benchmarks/bench_api.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WORK_DIR = RESULTS / "tmp"
DATA_DIR = Path(os.environ.get("CHRONORAG_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def build_store(folder: Path, passages: int) -> dict[str, Any]:
    """Index TimeQA, then RealTimeQA weeks, until the store holds ``passages`` passages (reused if it does).

    :param folder: the store folder.
    :param passages: the passages wanted.
    :returns: what was built and how long it took.
    """
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    embed, model_id, dim = sentence_transformer_embedder(batch_size=64)
    store = open_store_for(str(folder), model_id, dim)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    written = 0
    try:
        if store.count_documents() < passages:
            timeqa = DATA_DIR / "timeqa" / "human_annotated_test.dev.json"
            written += ingest([str(timeqa)], store, embed, fmt="timeqa", progress=False).passages_written
        weeks = sorted((DATA_DIR / "realtimeqa" / "search_results").rglob("*_gcs.jsonl.gz"))
        for week in weeks:
            missing = passages - store.count_documents()
            if missing <= 0:
                break
            # Articles average ~8 passages; a re-run of a week skips the articles already stored.
            limit = max(1, missing // 8)
            report = ingest([str(week)], store, embed, fmt="realtimeqa", limit=limit, progress=False)
            written += report.passages_written
        stats = store.stats()
    finally:
        store.close()
    # The store is reused by later runs: its build time is kept beside it and reported with every run.
    record = folder / "bench_build.json"
    if written:
        build = {
            "seconds": round(time.perf_counter() - started, 1),
            "passages": written,
            "load_average_at_start": round(load_at_start, 2),
        }
        record.write_text(json.dumps(build), encoding="utf-8")
    return {
        "path": folder.name,
        "passages": stats["passages"],
        "documents": stats["documents"],
        "build": json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None,
        "passages_written_this_run": written,
    }


def load_questions(count: int) -> list[str]:
    """TimeQA answerable questions and RealTimeQA question sentences, interleaved, ``count`` distinct.

    :param count: how many.
    :returns: the questions.
    """
    pages = json.loads((DATA_DIR / "timeqa" / "human_annotated_test.dev.json").read_text(encoding="utf-8"))
    timeqa = [q for page in pages for q, answers in page["questions"] if any(a["answer"] for a in answers)]
    realtime: list[str] = []
    for path in sorted((DATA_DIR / "realtimeqa" / "qa").rglob("*_qa.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                realtime.append(json.loads(line)["question_sentence"])
    mixed = [q for pair in zip(timeqa, realtime, strict=False) for q in pair]
    return list(dict.fromkeys(q.strip() for q in mixed if q.strip()))[:count]


def start_server(store: Path, port: int, log_path: Path, workers: int = 1) -> subprocess.Popen:
    """``chronorag serve`` in its own process, extractive answers, one torch thread per worker.

    :param store: the store folder.
    :param port: the port.
    :param log_path: where its output goes.
    :param workers: server worker processes (``CHRONORAG_API_WORKERS``).
    :returns: the process.
    """
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CHRONORAG_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "CHRONORAG_API_WORKERS": str(workers),
    }
    command = [
        sys.executable,
        "-m",
        "chronorag.cli",
        "serve",
        "--store",
        str(store),
        "--port",
        str(port),
        "--generator",
        "extractive",
        "--log-level",
        "warning",
    ]
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed with the process by the caller
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen, workers: int = 1, timeout_s: float = 900.0) -> float:
    """Poll /readyz (a new connection each time, so any worker may answer) until every worker is warm.

    :param url: the base URL.
    :param process: the server process (a crash ends the wait).
    :param workers: worker processes to wait for (told apart by the pid /readyz reports).
    :param timeout_s: the most to wait.
    :returns: seconds until ready.
    """
    started = time.monotonic()
    ready: set[Any] = set()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            body = httpx.get(f"{url}/readyz", timeout=5).json()
            if body["status"] == "ready":
                ready.add(body.get("worker"))
                if len(ready) >= workers:
                    return time.monotonic() - started
            if body["status"] == "failed":
                raise RuntimeError(f"the pipeline failed to load: {body['error']}")
        except httpx.TransportError:
            pass
        time.sleep(0.1 if ready else 0.5)
    raise RuntimeError("the server did not become ready")


def run_load(url: str, route: str, questions: list[str], requests: int, concurrency: int, top_k: int) -> dict:
    """``requests`` POSTs from ``concurrency`` threads, each on its own keep-alive connection.

    :param url: the base URL.
    :param route: e.g. ``/v1/retrieve``.
    :param questions: cycled in order.
    :param requests: how many requests in all.
    :param concurrency: client threads.
    :param top_k: passages asked for.
    :returns: latency percentiles, throughput, status counts and errors.
    """
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    statuses: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                body = {"question": questions[index % len(questions)], "top_k": top_k}
                started = time.perf_counter()
                try:
                    response = client.post(route, json=body)
                    status = str(response.status_code)
                    problem = None if response.status_code == 200 else response.text[:200]
                    timings = response.json().get("timings_ms", {}) if problem is None else {}
                except httpx.HTTPError as exc:
                    status, problem, timings = "exception", f"{type(exc).__name__}: {exc}", {}
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    for stage, value in timings.items():
                        stages.setdefault(stage, []).append(value)
                    statuses[status] = statuses.get(status, 0) + 1
                    if problem is not None:
                        errors.append(problem)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    milliseconds = np.asarray(latencies) * 1000.0
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "wall_seconds": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(milliseconds, 50)), 1),
            "p95": round(float(np.percentile(milliseconds, 95)), 1),
            "p99": round(float(np.percentile(milliseconds, 99)), 1),
            "mean": round(float(milliseconds.mean()), 1),
            "max": round(float(milliseconds.max()), 1),
        },
        # The pipeline's own stage times (server side); HTTP latency minus "total" is the web layer plus
        # queueing for a thread and the CPU.
        "pipeline_stages_ms": {
            stage: {
                "p50": round(float(np.percentile(v, 50)), 1),
                "p95": round(float(np.percentile(v, 95)), 1),
            }
            for stage, v in stages.items()
        },
        "statuses": statuses,
        "errors": len(errors),
        "error_examples": errors[:5],
    }


def server_histogram(url: str, route: str) -> dict[str, Any]:
    """The server's own view of the route from /metrics: count and mean seconds.

    :param url: the base URL.
    :param route: the route template.
    :returns: ``{count, mean_ms}``.
    """
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = {"sum": 0.0, "count": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name != "chronorag_http_request_duration_seconds":
            continue
        for sample in family.samples:
            kind = sample.name.rsplit("_", 1)[1]
            if kind in values and sample.labels == {"route": route, "method": "POST"}:
                values[kind] = sample.value
    mean = values["sum"] / values["count"] * 1000.0 if values["count"] else None
    return {"count": int(values["count"]), "mean_ms": round(mean, 1) if mean is not None else None}


def main() -> None:
    """Build (or reuse) the store, start the server, warm up, run the load, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--questions", type=int, default=200, help="distinct questions, cycled")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--route", default="/v1/retrieve")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--store", type=Path, default=WORK_DIR / "api_store")
    parser.add_argument("--build-only", action="store_true", help="build the store and stop")
    parser.add_argument("--out", type=Path, default=RESULTS / "api.json")
    args = parser.parse_args()

    from chronorag.models import configure_threads

    configure_threads()
    args.store.parent.mkdir(parents=True, exist_ok=True)
    store = build_store(args.store, args.passages)
    print(f"store: {store}", flush=True)
    if args.build_only:
        return
    questions = load_questions(args.questions)
    url = f"http://127.0.0.1:{args.port}"
    process = start_server(args.store, args.port, WORK_DIR / "bench_api_server.log", args.workers)
    try:
        ready_s = wait_ready(url, process, args.workers)
        load_before = os.getloadavg()
        warm = run_load(url, args.route, questions, len(questions), args.concurrency, args.top_k)
        print(f"warm-up: {warm['latency_ms']} errors {warm['errors']}", flush=True)
        timed = run_load(url, args.route, questions, args.requests, args.concurrency, args.top_k)
        print(
            f"timed: {timed['throughput_rps']} rps {timed['latency_ms']} errors {timed['errors']}", flush=True
        )
        load_after = os.getloadavg()
        server = server_histogram(url, args.route)
    finally:
        process.terminate()
        process.wait(60)
    result = {
        "benchmark": f"REST API load on loopback: POST {args.route} (no LLM), chronorag serve, preset fast",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "server_torch_threads": 1,
            "server_workers": args.workers,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "store": store,
        "questions_distinct": len(questions),
        "top_k": args.top_k,
        "server_ready_seconds": round(ready_s, 1),
        "warm_up": warm,
        "timed": timed,
        "server_metrics": server,
        "targets": {"errors": 0, "p95_ms": 300},
        "met": {"errors": timed["errors"] == 0, "p95": timed["latency_ms"]["p95"] < 300},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["timed"], indent=2))


if __name__ == "__main__":
    main()
