"""Tune ``ReaderArbiter`` on TimeQA train (never dev): how far below the timeline's best time fit the LLM's
own answer may fit and still be accepted.

For each train question of a ``chronorag eval timeqa --split train`` run (its store and question set) the
pipeline ranks the passages as ``ask`` does (the ranker's output, matched sentences included, is what the
prompt cuts around), the ``AnswerTimeline`` lists its candidates, and the LLM reads the passages in
``answer_mode="read"`` and names the answer (one call per question, cached in ``--replies`` by model,
prompt and generator settings). Then every margin is scored without the LLM, against the timeline's choice
alone and the LLM's reading alone. The chosen margin (best train EM) is written with the sweep to
``benchmarks/results/arbiter_margin.json`` (``--out``); the presets' ``arbiter_margin`` holds it.
``--prompt-chars`` is how much of each passage the LLM reads and ``--prompt-passages`` how many (default:
the ``reading`` preset's):

    chronorag eval timeqa --data-dir ../shared/data --split train --systems chronorag --no-generate \\
        --out eval-out/timeqa-train
    python benchmarks/tune_arbiter.py --data-dir ../shared/data --eval-out eval-out/timeqa-train \\
        --llm qwen2.5-coder-1.5b --limit 150 --prompt-chars 200 \\
        --out benchmarks/results/arbiter_margin_qwen15b_200.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "arbiter_margin.json"
MARGINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


def _store_path(eval_out: Path) -> str:
    stores = sorted((eval_out / "stores").glob("timeqa-*"))
    if not stores:
        raise SystemExit(f"no TimeQA store under {eval_out / 'stores'}: run `chronorag eval timeqa` first")
    return str(stores[-1])


def _read(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per answerable train question: gold answers, the timeline's output and the LLM's reply (cached)."""
    from tqdm import tqdm

    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.records import ResultCache
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.answering import build_prompt
    from chronorag.pipeline.retrieval import run_retrieval

    eval_out = Path(args.eval_out)
    rankings = ResultCache(eval_out / "per_question", "chronorag").records
    replies_file = Path(args.replies) if args.replies else None
    cached = json.loads(replies_file.read_text()) if replies_file and replies_file.exists() else {}
    pipeline = build_pipeline(
        _store_path(eval_out),
        preset="fast",
        generator="local",
        llm_model=args.llm,
        answer_mode="read",
        prompt_passage_chars=args.prompt_chars,
        prompt_first_passage_chars=args.first_passage_chars,
        prompt_passages=args.prompt_passages,
        prompt_focus=args.prompt_focus,
        prompt_examples=args.prompt_examples,
    )
    extractor, generator = pipeline.get_component("extractor"), pipeline.get_component("generator")
    extractor.warm_up()
    questions = [q for q in load_timeqa(args.data_dir, split="train").questions if q.qid in rankings]
    questions = [q for q in questions if q.answerable][: args.limit]
    rows, seconds = [], []
    for question in tqdm(questions, unit="q", desc="read", disable=None):
        # The ranker's own output, as `ask` reads it: its matched sentences decide what the prompt shows.
        ranked = run_retrieval(pipeline, question.question, as_of=question.as_of)
        documents, constraint = ranked.documents, ranked.constraint
        extracted = extractor.run(query=question.question, documents=documents, constraint=constraint)
        built = build_prompt(pipeline, question.question, documents, constraint, extracted)
        # A reply is reused only for the same prompt and the same generator settings.
        key = _reply_key(args.llm, built or {}, generator, question.qid)
        if built is not None and key not in cached:
            started = time.perf_counter()
            cached[key] = generator.run(prompt=built["prompt"], examples=built.get("examples") or None)[
                "replies"
            ][0]
            seconds.append(time.perf_counter() - started)
            if replies_file:
                replies_file.write_text(json.dumps(cached))
        reply = cached.get(key)
        if reply and "reading_dater" in pipeline.graph.nodes:
            # As `ask` rules: a reading the timeline did not list is dated where a passage writes it.
            extracted = dict(extracted)
            extracted["candidates"] = pipeline.get_component("reading_dater").run(
                query=question.question,
                documents=documents,
                replies=[reply],
                candidates=extracted["candidates"],
                constraint=constraint,
                abstention=extracted.get("abstention"),
            )["candidates"]
        rows.append({"answers": question.answers, "extracted": extracted, "reply": reply})
    return rows, seconds


def _reply_key(llm: str, built: dict[str, Any], generator: Any, qid: str) -> str:
    """The cache key of a reply: the model, the prompt (with any worked examples) and the generator's
    settings."""
    settings = json.dumps(generator.to_dict(), sort_keys=True)
    text = built.get("prompt", "") + settings
    if built.get("examples"):
        text += json.dumps(built["examples"], sort_keys=True)
    return f"{llm}|{hashlib.sha1(text.encode()).hexdigest()[:12]}|{qid}"


def _em(rows: list[dict[str, Any]], margin: float | None, reader_words: bool = True) -> dict[str, float]:
    """EM/F1 of the arbitrated answer (`margin=None`: the LLM's reading alone, matched or not)."""
    from chronorag.evals.metrics import max_exact_match, max_f1
    from chronorag.pipeline.reader_arbiter import ReaderArbiter, short_answer

    arbiter = ReaderArbiter(time_margin=margin if margin is not None else 0.0, reader_words=reader_words)
    em = f1 = accepted = 0.0
    for row in rows:
        extracted = row["extracted"]
        if margin is None:
            if (extracted.get("abstention") or {}).get("abstained"):
                continue  # an abstention answers nothing
            answer = short_answer(row["reply"] or "")
        else:
            # As the pipeline rules: an abstention stands unless the reading settles a dispute.
            verdict = arbiter.run(
                replies=[row["reply"]] if row["reply"] else None,
                candidates=extracted["candidates"],
                abstention=extracted.get("abstention"),
            )
            if verdict["abstention"].get("abstained"):
                continue
            accepted += bool(verdict["arbitration"].get("accepted"))
            answer = verdict["candidates"][0]["answer"] if verdict["candidates"] else ""
        em += max_exact_match(answer, row["answers"])
        f1 += max_f1(answer, row["answers"])
    total = max(1, len(rows))
    return {
        "EM": round(100 * em / total, 1),
        "F1": round(100 * f1 / total, 1),
        "accepted": round(100 * accepted / total, 1),
    }


def _timeline_only(rows: list[dict[str, Any]]) -> dict[str, float]:
    from chronorag.evals.metrics import max_exact_match, max_f1

    picked = [
        row["extracted"]["candidates"][0]["answer"]
        if row["extracted"]["candidates"] and not (row["extracted"].get("abstention") or {}).get("abstained")
        else ""
        for row in rows
    ]
    total = max(1, len(rows))
    return {
        "EM": round(
            100 * sum(max_exact_match(a, r["answers"]) for a, r in zip(picked, rows, strict=True)) / total, 1
        ),
        "F1": round(100 * sum(max_f1(a, r["answers"]) for a, r in zip(picked, rows, strict=True)) / total, 1),
    }


def main() -> None:
    from chronorag.pipeline.builder import load_preset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="the data folder (its timeqa_train/ is read)")
    parser.add_argument("--eval-out", required=True, help="a `chronorag eval timeqa --split train` folder")
    parser.add_argument("--llm", default="default", help="the packaged LLM or GGUF file that reads")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--prompt-chars",
        type=int,
        default=load_preset("reading")["prompt_passage_chars"],
        help="each passage is cut to about this many characters (default: the reading preset's)",
    )
    parser.add_argument(
        "--prompt-passages",
        type=int,
        default=load_preset("reading")["prompt_passages"],
        help="how many top passages the LLM reads (default: the reading preset's)",
    )
    parser.add_argument(
        "--first-passage-chars",
        type=int,
        default=load_preset("reading").get("prompt_first_passage_chars"),
        help="the first passage's budget instead of --prompt-chars (default: the reading preset's)",
    )
    parser.add_argument(
        "--prompt-focus", default="match", help="match or answer (TemporalPromptBuilder.focus)"
    )
    parser.add_argument(
        "--prompt-examples",
        type=int,
        default=load_preset("reading").get("prompt_examples", 0),
        help="worked examples before the question (TemporalPromptBuilder.examples)",
    )
    parser.add_argument("--replies", default=None, help="JSON cache of the LLM's replies")
    parser.add_argument("--out", default=str(RESULTS_PATH))
    args = parser.parse_args()
    args.replies = args.replies or str(Path(args.eval_out) / "arbiter_replies.json")

    rows, seconds = _read(args)
    sweep = {str(margin): _em(rows, margin) for margin in MARGINS}
    # 1.0 accepts any candidate the reader names, whatever its time: no time ruling at all, which the
    # answer timeline exists for ("Jane Okafor" for 2019 would stand), so it is reported, never chosen.
    ruling = [margin for margin in MARGINS if margin < 1.0]
    # EM first; on equal EM the stricter ruling (the smaller margin).
    best = max(ruling, key=lambda margin: (sweep[str(margin)]["EM"], -margin))
    seconds.sort()
    report = {
        "what": "ReaderArbiter.time_margin swept on TimeQA train (answerable questions, top 5 passages)",
        "llm": args.llm,
        "prompt_passage_chars": args.prompt_chars,
        "prompt_first_passage_chars": args.first_passage_chars,
        "prompt_passages": args.prompt_passages,
        "prompt_focus": args.prompt_focus,
        "prompt_examples": args.prompt_examples,
        "questions": len(rows),
        "timeline_only": _timeline_only(rows),
        "reader_only": _em(rows, None),
        "sweep": sweep,
        "chosen_margin": best,
        "chosen_margin_with_span_words": _em(rows, best, reader_words=False),
        # None when every reply came from the cache (the timings are those of the run that made them)
        "llm_seconds_p50": round(seconds[len(seconds) // 2], 2) if seconds else None,
        "llm_calls_timed": len(seconds),
        "threads": os.environ.get("CHRONORAG_NUM_THREADS"),
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
