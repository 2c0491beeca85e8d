"""Store speed and memory on synthetic 384-d vectors: write, open, search (unfiltered and 1% filters).

Run ``python benchmarks/bench_store.py [--sizes 10000 100000] [--threads 1] [--search-threads 1 2]``;
each setting runs in its own process (so peak RSS is per size) and the results go to
``benchmarks/results/store.json``. ``--threads`` is FAISS's OpenMP thread count (a single query does not
parallelise inside FAISS, and spinning OpenMP threads hurt on a shared CPU: keep 1); ``--search-threads``
is the store's ``search_threads`` (an unfiltered exact scan split across that many threads, for stores
of >= 32k vectors). Every run checks recall@10 of the unfiltered search against a brute-force numpy
scan and records the load average it ran under (the CPU may be shared).
Targets on a 2-core CPU: 100k-vector exact search p50 <= 5 ms; a 1% filtered search no slower than
an unfiltered one; opening a 100k-passage store < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "store.json"
WORK_DIR = Path(__file__).resolve().parent / "results" / "tmp"
DIM = 384
FIRST_DAY = date(1990, 1, 1)
DAYS = 365 * 30


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _latencies(run, queries: np.ndarray) -> dict[str, float]:
    for query in queries[:10]:  # warm caches and lazy structures
        run(query)
    times = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        times.append(time.perf_counter() - started)
    times_ms = np.asarray(times) * 1000
    return {
        "p50_ms": round(float(np.percentile(times_ms, 50)), 3),
        "p95_ms": round(float(np.percentile(times_ms, 95)), 3),
        "qps": round(len(times) / float(np.sum(times)), 1),
    }


def _write(store: Any, size: int, rng: np.random.Generator, batch: int = 5000) -> float:
    from haystack import Document

    started = time.perf_counter()
    for offset in range(0, size, batch):
        n = min(batch, size - offset)
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        days = rng.integers(0, DAYS, n)
        docs = []
        for i in range(n):
            day = FIRST_DAY + timedelta(days=int(days[i]))
            year = day.year
            docs.append(
                Document(
                    id=f"p{offset + i}",
                    content=f"synthetic passage {offset + i}",
                    meta={
                        "title": f"doc {(offset + i) // 10}",
                        "doc_id": f"doc{(offset + i) // 10}",
                        "date": day.isoformat(),
                        "time_spans": [
                            {"start": f"{year}-01-01", "end": f"{year}-12-31", "granularity": "year"}
                        ],
                    },
                    embedding=vectors[i].tolist(),
                )
            )
        store.write_documents(docs)
    store.flush()
    return time.perf_counter() - started


def _recall_at_10(store: Any, path: Path, queries: np.ndarray) -> float:
    """Recall@10 of ``store.search`` against an exact numpy scan of the stored (normalised) vectors."""
    import sqlite3

    with sqlite3.connect(str(path / "store.sqlite")) as conn:
        rows = conn.execute("SELECT id, vector FROM passages ORDER BY rowid").fetchall()
    ids = np.asarray([r[0] for r in rows])
    matrix = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    hits = 0
    for query in queries:
        unit = query / np.linalg.norm(query)
        truth = set(ids[np.argsort(-(matrix @ unit))[:10]])
        hits += len(truth & {d.id for d in store.search(query, 10)})
    return round(hits / (10 * len(queries)), 4)


def run_size(
    size: int, threads: int, queries: int, index_type: str, search_threads: int = 1
) -> dict[str, Any]:
    """Build a store of ``size`` synthetic passages and measure it (runs in a child process)."""
    import faiss

    from chronorag.indexers import ChronoDocumentStore
    from chronorag.temporal.model import Interval

    faiss.omp_set_num_threads(threads)
    path = WORK_DIR / f"store_{size}_{index_type}"
    shutil.rmtree(path, ignore_errors=True)
    rng = np.random.default_rng(0)
    store = ChronoDocumentStore(str(path), embedding_dim=DIM, index_type=index_type, save_every_s=3600)
    write_s = _write(store, size, rng)
    if index_type != "flat":
        store.rebuild()
    store.close()
    rss_after_write = _rss_mb()

    opens = []
    for _ in range(3):
        started = time.perf_counter()
        store = ChronoDocumentStore(str(path))
        opens.append(time.perf_counter() - started)
        store.close()
    store = ChronoDocumentStore(str(path), search_threads=search_threads)
    qs = rng.standard_normal((queries, DIM)).astype(np.float32)
    load_before = os.getloadavg()

    # 1% of passages are published on or before this day; 1% mention a span overlapping the window.
    cutoff = FIRST_DAY + timedelta(days=int(DAYS * 0.01))
    window = Interval(FIRST_DAY + timedelta(days=DAYS // 2), FIRST_DAY + timedelta(days=DAYS // 2))
    date_hits = (
        len(store.search(qs[0], top_k=size, published_on_or_before=cutoff)) if size <= 100_000 else None
    )

    result = {
        "size": size,
        "dim": DIM,
        "index_type": store.actual_index_type,
        "faiss_threads": threads,
        "search_threads": search_threads,
        "write_seconds": round(write_s, 2),
        "write_passages_per_s": round(size / write_s, 1),
        "open_seconds_median": round(float(np.median(opens)), 3),
        "search_unfiltered_top10": _latencies(lambda q: store.search(q, 10), qs),
        "search_date_1pct_top10": _latencies(
            lambda q: store.search(q, 10, published_on_or_before=cutoff), qs
        ),
        "date_1pct_matches": date_hits,
        "search_time_window_top10": _latencies(lambda q: store.search(q, 10, time_window=window), qs),
        "faiss_only_unfiltered_top10": _latencies(lambda q: store._vectors.index.search(q[None], 10), qs),
        "recall_at_10_unfiltered": _recall_at_10(store, path, qs[:50]) if size <= 100_000 else None,
        "disk_mb": round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1),
        "peak_rss_mb_after_write": rss_after_write,
        "peak_rss_mb": _rss_mb(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    store.close()
    shutil.rmtree(path, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="FAISS OpenMP threads")
    parser.add_argument("--search-threads", type=int, nargs="+", default=[1, 2], help="store search_threads")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index-type", default="flat")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        first = args.sizes[0], args.threads[0], args.queries, args.index_type, args.search_threads[0]
        result = run_size(*first)
        print(json.dumps(result))
        return
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    runs = []
    for size in args.sizes:
        for threads in args.threads:
            for search_threads in args.search_threads:
                command = [sys.executable, __file__, "--child", "--sizes", str(size),
                           "--threads", str(threads), "--search-threads", str(search_threads),
                           "--queries", str(args.queries), "--index-type", args.index_type]  # fmt: skip
                env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
                output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
                runs.append(json.loads(output.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), flush=True)
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "note": "synthetic unit vectors; 200 single-query searches per setting after 10 warm-up queries",
        "runs": runs,
    }
    existing = json.loads(RESULTS_PATH.read_text()) if RESULTS_PATH.exists() else {}

    def key(run: dict[str, Any]) -> tuple:
        return run["index_type"], run["size"], run["faiss_threads"], run.get("search_threads", 1)

    existing_runs = [r for r in existing.get("runs", []) if key(r) not in {key(r2) for r2 in runs}]
    results["runs"] = sorted(existing_runs + runs, key=key)
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
