"""Extraction speed on real passages: the fast path on 10,000 TimeQA paragraphs, the full path on a sample.

Run ``python benchmarks/bench_extraction.py``; it
prints JSON and writes ``benchmarks/results/extraction.json``. Target: >= 1,000 passages/s on the fast path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "extraction.json"
DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "timeqa" / "human_annotated_test.dev.json"
)


def load_paragraphs(path: str | Path, count: int) -> list[str]:
    """``count`` paragraphs of TimeQA pages (titles skipped), cycling through the pages when they run out.

    :param path: ``human_annotated_test.dev.json`` (pages with ``paras``; ``paras[0]`` is the title).
    :param count: how many paragraphs.
    :returns: the paragraphs.
    """
    pages = json.loads(Path(path).read_text(encoding="utf-8"))
    paragraphs = [para for page in pages for para in page.get("paras", [])[1:] if para.strip()]
    if not paragraphs:
        raise ValueError(f"{path} holds no paragraphs")
    return [paragraphs[i % len(paragraphs)] for i in range(count)]


def bench_fast(paragraphs: list[str], repeats: int = 3) -> dict[str, Any]:
    """Passages per second of ``extract_mentions(mode="fast")`` (best of ``repeats`` runs).

    Both wall time and CPU time are reported: on a shared, loaded machine wall time overstates the cost.
    """
    from chronorag.temporal import extract_mentions

    best = best_cpu = float("inf")
    mentions = 0
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        mentions = sum(len(extract_mentions(text)) for text in paragraphs)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    return {
        "passages": len(paragraphs),
        "seconds": round(best, 3),
        "passages_per_second": round(len(paragraphs) / best, 1),
        "passages_per_cpu_second": round(len(paragraphs) / best_cpu, 1),
        "mentions": mentions,
        "mentions_per_passage": round(mentions / len(paragraphs), 3),
    }


def bench_full(paragraphs: list[str]) -> dict[str, Any]:
    """Passages per second of ``extract_mentions(mode="full")`` (spaCy + dateparser), after loading spaCy."""
    from chronorag.models import get_spacy
    from chronorag.temporal import extract_mentions

    started = time.perf_counter()
    get_spacy()
    load_seconds = time.perf_counter() - started
    extract_mentions(paragraphs[0], mode="full")  # warm dateparser's caches
    started, started_cpu = time.perf_counter(), time.process_time()
    mentions = sum(len(extract_mentions(text, mode="full")) for text in paragraphs)
    elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    fast = sum(len(extract_mentions(text)) for text in paragraphs)
    return {
        "passages": len(paragraphs),
        "seconds": round(elapsed, 3),
        "passages_per_second": round(len(paragraphs) / elapsed, 1),
        "passages_per_cpu_second": round(len(paragraphs) / elapsed_cpu, 1),
        "spacy_load_seconds": round(load_seconds, 2),
        "mentions": mentions,
        "mentions_fast_path_same_sample": fast,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="TimeQA human_annotated_test.dev.json")
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--full-sample", type=int, default=300, help="passages for the full spaCy path")
    parser.add_argument("--out", default=str(RESULTS_PATH), help="JSON file to write ('' to skip)")
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        print(f"error: {args.data} does not exist", file=sys.stderr)
        return 2
    paragraphs = load_paragraphs(args.data, args.passages)
    results = {
        "data": "timeqa/human_annotated_test.dev.json paragraphs",
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "target_fast_passages_per_second": 1000,
        "fast": bench_fast(paragraphs),
        "full": bench_full(paragraphs[: args.full_sample]),
    }
    results["fast_meets_target"] = results["fast"]["passages_per_second"] >= 1000
    text = json.dumps(results, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
