"""Reader quality without an LLM: EM/F1 of the pipeline's answer selection on TimeQA from fixed rankings.

The rankings are a ``chronorag`` per-question file written by ``chronorag eval timeqa`` (so the reader is
measured apart from retrieval), the passages come from that evaluation's store. Two readers:

- ``timeline`` (the pipeline's ``AnswerTimeline``): candidates with the intervals they hold, the one
  valid for the question's constraint; abstentions count as wrong answers;
- ``extractive`` (the ``ExtractiveAnswerer`` baseline): the best typed span of the best passage.

Tune on the TimeQA train split (a data folder whose ``timeqa/`` holds ``human_annotated_train.json``),
report dev once. Results go to ``benchmarks/results/reader_timeqa.json`` under the split's name.

    python benchmarks/measure_reader.py --split dev --store eval-out/timeqa-dev/stores/timeqa-* \\
        --rankings eval-out/timeqa-dev/per_question/chronorag.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "reader_timeqa.json"


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"questions": 0}
    count = len(rows)
    return {
        "questions": count,
        "EM": round(100 * sum(row["EM"] for row in rows) / count, 1),
        "F1": round(100 * sum(row["F1"] for row in rows) / count, 1),
        "abstained": round(100 * sum(row["abstained"] for row in rows) / count, 1),
        "answer_in_read_passages": round(100 * sum(row["in_passages"] for row in rows) / count, 1),
        "EM_when_answer_read": round(
            100
            * sum(row["EM"] for row in rows if row["in_passages"])
            / max(1, sum(r["in_passages"] for r in rows)),
            1,
        ),
    }


def _reader(kind: str, passages: int, abstain: bool) -> Any:
    if kind == "extractive":
        from chronorag.pipeline.extractive_answerer import ExtractiveAnswerer

        reader = ExtractiveAnswerer(max_passages=passages)
    else:
        from chronorag.pipeline.answer_timeline import AnswerTimeline

        reader = AnswerTimeline(max_passages=passages, abstain=abstain)
    reader.warm_up()
    return reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data", help="folder whose timeqa/ holds the split")
    parser.add_argument("--split", default="dev", help="name of the split in the results (dev, train)")
    parser.add_argument("--store", required=True)
    parser.add_argument("--rankings", required=True)
    parser.add_argument("--reader", choices=("timeline", "extractive"), default="timeline")
    parser.add_argument("--passages", type=int, default=3, help="top passages the reader reads")
    parser.add_argument("--no-abstain", action="store_true", help="always answer (measures abstention)")
    parser.add_argument("--limit", type=int, default=None, help="the first N answerable questions")
    parser.add_argument("--out", default=str(RESULTS_PATH), help="results JSON ('-': print only)")
    parser.add_argument("--replies", default=None, help="write every question's reply and scores (JSONL)")
    args = parser.parse_args()

    from tqdm import tqdm

    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.metrics import has_answer, max_exact_match, max_f1
    from chronorag.evals.records import ResultCache
    from chronorag.indexers.store import ChronoDocumentStore
    from chronorag.temporal import decompose

    dataset = load_timeqa(args.data_dir)
    ranked = Path(args.rankings)  # a per-question file of `chronorag eval`: {folder}/{system}.jsonl
    rankings = {qid: record["ids"] for qid, record in ResultCache(ranked.parent, ranked.stem).records.items()}
    questions = [q for q in dataset.questions if q.answerable and q.qid in rankings][: args.limit]
    store = ChronoDocumentStore(args.store, read_only=True)
    reader = _reader(args.reader, args.passages, not args.no_abstain)
    rows = []
    started = time.perf_counter()
    for question in tqdm(questions, unit="q", desc=f"read {args.split}", disable=None):
        ids = rankings[question.qid][: args.passages]
        found = {doc.id: doc for doc in store.get_documents_by_id(ids)}
        documents = [found[i] for i in ids if i in found]
        constraint = decompose(question.question, as_of=question.as_of)
        result = reader.run(query=question.question, documents=documents, constraint=constraint)
        abstained = bool((result.get("abstention") or {}).get("abstained"))
        reply = "" if abstained else result["replies"][0]
        rows.append(
            {
                "qid": question.qid,
                "question": question.question,
                "answers": question.answers,
                "reply": reply,
                "EM": max_exact_match(reply, question.answers),
                "F1": max_f1(reply, question.answers),
                "abstained": abstained,
                "reason": (result.get("abstention") or {}).get("reason"),
                "in_passages": any(
                    has_answer(question.answers, f"{(d.meta or {}).get('title', '')}. {d.content}")
                    for d in documents
                ),
                "candidates": [
                    {
                        key: item.get(key)
                        for key in ("answer", "label", "passage", "role", "time", "fit", "score")
                    }
                    for item in result.get("candidates", [])[:6]
                ],
            }
        )
    seconds = time.perf_counter() - started
    result = {
        "what": f"{args.reader} reader EM/F1 on TimeQA {args.split} (answerable), fixed chronorag rankings",
        "rankings": str(args.rankings),
        "passages_read": args.passages,
        "abstain": not args.no_abstain,
        "seconds": round(seconds, 1),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "all": _summary(rows),
    }
    if args.out != "-":
        out = Path(args.out)
        stored = json.loads(out.read_text()) if out.exists() else {}
        stored.setdefault("runs", {})[f"{args.split}/{args.reader}/top{args.passages}"] = result
        out.write_text(json.dumps(stored, indent=2) + "\n")
    if args.replies:
        with open(args.replies, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
