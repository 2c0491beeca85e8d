"""Which packaged LLM reads best per second: EM/F1 and seconds per answer on TimeQA train questions.

Each question gets its gold paragraph and the paragraphs just before and after it on the same page (the
neighbours usually cover the adjacent period, so the model must read the dates), in a fixed shuffled
order, under the page title; the model answers with a short span. Questions: the first answerable one
of 40 train pages picked by a hash of the page index (fixed, spread over relation types). Every model
runs in its own process (load time and memory are per process) at each thread count, on llama.cpp
through ``LocalLLMGenerator``. Reported per run: EM, F1, wall and CPU seconds per answer (p50, mean),
load seconds, peak RSS, prompt/completion tokens, and the load average while running. The VM is shared:
wall time grows with other jobs' load, CPU time (this process, all threads) much less so; at one thread
CPU seconds per answer approximate the wall time on an idle core, the fairest speed comparison here.

Writes ``benchmarks/results/llm.json``. From the repository root:
``python benchmarks/bench_llm.py --threads 1`` (both Qwen2.5-Coder sizes; install the 1.5B with
``pip install -e '.[qwen15b]'``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEM_PROMPT = (
    "You answer questions from the given passages. Reply with the answer only: a name, place, team, "
    "title or date, with no sentence around it."
)


def pick_questions(data: Path, count: int) -> list[dict[str, Any]]:
    """The first answerable question of ``count`` train pages (ordered by a hash of the page index), each
    with its gold paragraph and that paragraph's neighbours, shuffled with a fixed seed."""
    pages = json.loads((data / "timeqa_train" / "human_annotated_train.json").read_text(encoding="utf-8"))
    pages.sort(key=lambda page: hashlib.sha1(str(page["index"]).encode()).hexdigest())
    rng = random.Random(14)
    chosen: list[dict[str, Any]] = []
    for page in pages:
        paras = page["paras"]
        for question, answers in page["questions"]:
            golds = sorted({a["answer"] for a in answers if a["answer"]})
            if not golds:
                continue
            gold = (
                answers[0]["para"]
                if answers[0]["answer"]
                else next(a["para"] for a in answers if a["answer"])
            )
            neighbours = [index for index in (gold - 1, gold + 1) if 1 <= index < len(paras)]
            shown = [gold, *neighbours]
            rng.shuffle(shown)
            chosen.append(
                {
                    "question": question,
                    "answers": golds,
                    "title": paras[0],
                    "passages": shown,
                    "texts": [paras[index] for index in shown],
                }
            )
            break
        if len(chosen) == count:
            break
    return chosen


def prompt_for(item: dict[str, Any]) -> str:
    """Passages first, the question last (as chronorag's prompt builder orders them)."""
    passages = "\n".join(f"[{n}] {item['title']}: {text}" for n, text in enumerate(item["texts"], start=1))
    return f"Passages:\n{passages}\n\nQuestion: {item['question']}\nAnswer:"


def peak_rss_mb() -> float:
    """The process's peak resident memory (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_one(model: str, threads: int, items: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
    """Load ``model`` with ``threads`` threads and answer every item; the per-run report."""
    from chronorag.evals.metrics import max_exact_match, max_f1
    from chronorag.models import resolve_llm_gguf
    from chronorag.pipeline.local_generator import LocalLLMGenerator

    resolve_llm_gguf(model)  # a first join of the parts is set-up, not load time
    generator = LocalLLMGenerator(
        model=model,
        backend="llama_cpp",
        n_threads=threads,
        max_new_tokens=max_tokens,
        system_prompt=SYSTEM_PROMPT,
        stop=["\n"],
        repetition_penalty=1.0,
    )
    started = time.perf_counter()
    generator.warm_up()
    load_s = time.perf_counter() - started
    generator.run("Say OK.", max_new_tokens=2)  # first-call allocations are not per-answer time
    rows, loads = [], []
    for item in items:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = generator.run(prompt_for(item))
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        reply = result["replies"][0]
        meta = result["meta"][0]
        rows.append(
            {
                "question": item["question"],
                "answers": item["answers"],
                "reply": reply,
                "EM": max_exact_match(reply, item["answers"]),
                "F1": max_f1(reply, item["answers"]),
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "prompt_tokens": meta["prompt_tokens"],
                "completion_tokens": meta["completion_tokens"],
            }
        )
        loads.append(os.getloadavg()[0])
    seconds = [row["seconds"] for row in rows]
    cpu_seconds = [row["cpu_seconds"] for row in rows]
    em = 100 * statistics.fmean(row["EM"] for row in rows)
    f1 = 100 * statistics.fmean(row["F1"] for row in rows)
    return {
        "model": model,
        "threads": threads,
        "questions": len(rows),
        "EM": round(em, 1),
        "F1": round(f1, 1),
        "seconds_per_answer_p50": round(statistics.median(seconds), 2),
        "seconds_per_answer_mean": round(statistics.fmean(seconds), 2),
        "cpu_seconds_per_answer_p50": round(statistics.median(cpu_seconds), 2),
        "cpu_seconds_per_answer_mean": round(statistics.fmean(cpu_seconds), 2),
        "F1_per_second": round(f1 / statistics.fmean(seconds), 1),
        "F1_per_cpu_second": round(f1 / statistics.fmean(cpu_seconds), 1),
        "load_seconds": round(load_s, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "prompt_tokens_mean": round(statistics.fmean(row["prompt_tokens"] for row in rows)),
        "completion_tokens_mean": round(statistics.fmean(row["completion_tokens"] for row in rows), 1),
        "load_average_1min_while_running": {"min": min(loads), "max": max(loads)},
        "rows": rows,
    }


def main() -> None:
    """Run every (model, threads) pair in its own process and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CHRONORAG_DATA_DIR", "../shared/data"))
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--out", default=str(RESULTS / "llm.json"))
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    items = pick_questions(Path(args.data), args.questions)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), items, args.max_tokens)))
        return
    runs: list[dict[str, Any]] = []
    for model in args.models.split(","):
        for threads in args.threads.split(","):
            command = [sys.executable, __file__, "--one", model, threads, "--data", args.data,
                       "--questions", str(args.questions), "--max-tokens", str(args.max_tokens)]  # fmt: skip
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            run = json.loads(output.strip().splitlines()[-1])
            print(
                f"{model} x{threads}: EM {run['EM']} F1 {run['F1']} "
                f"{run['seconds_per_answer_mean']} s/answer ({run['cpu_seconds_per_answer_mean']} CPU s), "
                f"load {run['load_seconds']} s, "
                f"RSS {run['peak_rss_mb']} MB, load avg {run['load_average_1min_while_running']}",
                flush=True,
            )
            runs.append(run)
            write_report(Path(args.out), args, runs)  # after every run: a long session loses nothing


def write_report(path: Path, args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    """The JSON report of the runs so far."""
    report = {
        "benchmark": "packaged LLMs reading TimeQA train questions (gold paragraph + its two neighbours)",
        "questions": args.questions,
        "max_tokens": args.max_tokens,
        "system_prompt": SYSTEM_PROMPT,
        "runs": runs,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
