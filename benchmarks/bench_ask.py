"""Latency of ``chronorag.pipeline.ask`` with the default local LLM and the ``fast`` preset, its load time,
and the memory of a serving process.

Corpus: the first ``--pages`` TimeQA dev pages with at most 30 paragraphs, indexed with the indexers'
ingestion into a temporary store. Questions: their answerable questions, in file order.

1. In process (what ``chronorag ask`` runs): the packaged model's parts are joined first (a one-time
   set-up, reported apart), then the LLM is loaded alone (``llm_load_seconds``: the generator's
   ``warm_up``; the GGUF is memory-mapped, so this is with the file in the page cache, as on any second
   start), then the rest of the pipeline; one question is asked before timing. Reported per stage
   (decompose, expand, embed, retrieve, rerank, generate, total): p50, p90, mean and max milliseconds.
   Targets: warm answer p50 <= 4 s, model load <= 10 s.
2. A real ``chronorag serve`` process (``--generator local``) over the same store answers the same
   questions over HTTP; its peak resident memory (VmHWM; split into anonymous memory and the
   memory-mapped model file) is read from /proc. Target: <= 3 GB.

Threads: ``--threads`` (default 2, the serving setting on this 2-core VM) for torch and llama.cpp.
The machine (CPU count, threads, load average while running: the CPU may be shared) is recorded.
Writes ``benchmarks/results/ask.json``. Run from the repository root: ``python benchmarks/bench_ask.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident memory of a process from /proc: current, peak, anonymous and file-backed (the mmapped
    model is file-backed: shared between processes and reclaimable), MB."""
    fields = {"VmRSS": "rss", "VmHWM": "peak_rss", "RssAnon": "anonymous", "RssFile": "file_backed"}
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in fields:
            found[fields[key]] = round(int(line.split()[1]) / 1024, 1)
    return found


def in_process(
    store: str, questions: list[str], count: int, preset: str = "fast", options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Time `ask` in this process, as `chronorag ask` runs it (`options` override the preset's)."""
    from chronorag.models import configure_threads, llm_model_name, resolve_llm_gguf
    from chronorag.pipeline import ask, build_pipeline

    configure_threads()
    started = time.perf_counter()
    pipeline = build_pipeline(store, preset=preset, **{"generator": "local", **(options or {})})
    model = pipeline.get_component("generator").model
    resolve_llm_gguf(None if model == "default" else model)  # joins the parts on first use, then checks
    resolve_s = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.get_component("generator").warm_up()
    llm_load_s = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.warm_up()
    warm_up_s = time.perf_counter() - started
    ask(pipeline, questions[0])  # first-call effects (lazy indexes, caches) are not per-query latency
    samples, loads, answers = [], [], []
    for question in questions[1 : count + 1]:
        result = ask(pipeline, question)
        samples.append(result["timings_ms"])
        answers.append({"question": question, "answer": result["answer"]})
        loads.append(os.getloadavg()[0])
    return {
        "llm": llm_model_name(None if model == "default" else model),
        "llm_resolve_seconds": round(resolve_s, 2),
        "llm_load_seconds": round(llm_load_s, 2),
        "rest_of_warm_up_seconds": round(warm_up_s, 1),
        "questions_timed": len(samples),
        "stages_ms": summarise(samples),
        "memory_mb": memory_mb(),
        "load_average_1min_while_running": {"min": min(loads), "max": max(loads)},
        "samples_ms": samples,
        "answers": answers,
    }


def served(
    store: str, questions: list[str], count: int, threads: int, preset: str = "fast"
) -> dict[str, Any]:
    """`chronorag serve --generator local` in its own process: HTTP latency and its peak memory."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CHRONORAG_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "chronorag.cli", "serve", "--store", store, "--port", str(port),
               "--generator", "local", "--preset", preset, "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chronorag serve exited: {process.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=5).json().get("ready"):
                    break
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.5)
        ready_s = time.perf_counter() - started
        seconds, loads, error = [], [os.getloadavg()[0]], None
        try:
            with httpx.Client(base_url=url, timeout=300) as http:
                http.post("/v1/ask", json={"question": questions[0]}).raise_for_status()
                for question in questions[1 : count + 1]:
                    started = time.perf_counter()
                    http.post("/v1/ask", json={"question": question}).raise_for_status()
                    seconds.append(time.perf_counter() - started)
                    loads.append(os.getloadavg()[0])
        except httpx.HTTPError as exc:  # the memory reached so far is still worth reporting
            error = f"{type(exc).__name__}: {exc}"
        return {
            "ready_seconds": round(ready_s, 1),
            "answered": len(seconds),
            "error": error,
            "http_ask_seconds": {"p50": round(statistics.median(seconds), 2), "max": round(max(seconds), 2)}
            if seconds
            else None,
            "memory_mb": memory_mb(process.pid),
            "load_average_1min_while_running": {"min": min(loads), "max": max(loads)},
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo`): latency depends on the host the VM lands on."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHRONORAG_DATA_DIR", "../shared/data"))
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2, help="torch and llama.cpp threads")
    parser.add_argument("--no-serve", action="store_true", help="skip the serving-process measurement")
    parser.add_argument("--preset", default="fast", help="the pipeline preset (fast, accurate, reading)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a build_pipeline option over the preset's, in process only (e.g. prompt_passage_chars=150)",
    )
    parser.add_argument("--out", default=str(RESULTS / "ask.json"))
    args = parser.parse_args()
    from chronorag.pipeline.builder import parse_option_pairs

    options = parse_option_pairs(args.option)
    os.environ["CHRONORAG_NUM_THREADS"] = str(args.threads)  # read by torch set-up and llama.cpp

    import torch

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="chronorag-bench-ask-") as folder:
        started = time.perf_counter()
        store, questions = build_store(Path(args.data), Path(folder), args.pages)
        index_s = time.perf_counter() - started
        report: dict[str, Any] = {
            "benchmark": f"ask latency, preset {args.preset} with its local LLM (llama.cpp); load; memory",
            "corpus": f"first {args.pages} TimeQA dev pages with <= 30 paragraphs",
            "targets": {"ask_p50_ms": 4000, "llm_load_seconds": 10, "serving_peak_rss_mb": 3072},
            "index_seconds": round(index_s, 1),
            "options": options,
            "in_process": in_process(store, questions, args.questions, args.preset, options),
        }
        write(args.out, report, args, load_before, torch.get_num_threads())  # kept if serving fails
        if not args.no_serve and not options:
            try:
                report["served"] = served(store, questions, args.questions, args.threads, args.preset)
            except Exception as exc:  # a report of what failed beats losing the in-process numbers
                report["served"] = {"error": f"{type(exc).__name__}: {exc}"}
    write(args.out, report, args, load_before, torch.get_num_threads())
    summary = {key: report["in_process"][key] for key in ("llm", "llm_load_seconds", "memory_mb")}
    print(json.dumps({**summary, "total_ms": report["in_process"]["stages_ms"]["total"]}, indent=2))
    if "served" in report:
        print(json.dumps(report["served"], indent=2))


def write(
    out: str, report: dict[str, Any], args: argparse.Namespace, load_before: Any, torch_threads: int
) -> None:
    """Add the machine and notes to the report and write it."""
    report["machine"] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "torch_threads": torch_threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_before": [round(value, 2) for value in load_before],
    }
    report["notes"] = (
        "timings_ms from chronorag.pipeline.ask (per-component spans); 'generate' includes the extractive "
        "answerer, prompt builder, LLM and answer builder. The VM's 2 cores are shared with other "
        "engineers' jobs: see the load averages."
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
