"""Reader quality without an LLM: the ``ExtractiveAnswerer``'s EM/F1 on TimeQA dev from fixed rankings.

The rankings are a ``chronorag`` per-question file written by ``chronorag eval timeqa`` (so the reader is
measured apart from retrieval), the passages come from that evaluation's store. The questions are split
in two halves by a hash of their id: change the reader looking at the ``tune`` half only and read the
``held_out`` half once. Results go to ``benchmarks/results/reader_timeqa.json``.

    python benchmarks/measure_reader.py --store eval-out/timeqa/stores/timeqa-* \
        --rankings eval-out/timeqa/per_question/chronorag.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "reader_timeqa.json"


def _half(qid: str) -> str:
    return "tune" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "held_out"


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"questions": 0}
    count = len(rows)
    return {
        "questions": count,
        "EM": round(100 * sum(row["EM"] for row in rows) / count, 1),
        "F1": round(100 * sum(row["F1"] for row in rows) / count, 1),
        "answer_in_read_passages": round(100 * sum(row["in_passages"] for row in rows) / count, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--store", required=True)
    parser.add_argument("--rankings", required=True)
    parser.add_argument("--passages", type=int, default=3, help="top passages the reader reads")
    parser.add_argument("--out", default=str(RESULTS_PATH))
    parser.add_argument("--failures", default=None, help="write the missed questions here (JSONL)")
    parser.add_argument("--replies", default=None, help="write every question's reply and scores (JSONL)")
    args = parser.parse_args()

    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.metrics import max_exact_match, max_f1, normalize_answer
    from chronorag.evals.records import ResultCache
    from chronorag.indexers.store import ChronoDocumentStore
    from chronorag.pipeline.extractive_answerer import ExtractiveAnswerer
    from chronorag.temporal import decompose

    dataset = load_timeqa(args.data_dir)
    ranked = Path(args.rankings)  # a per-question file of `chronorag eval`: {folder}/{system}.jsonl
    rankings = {qid: record["ids"] for qid, record in ResultCache(ranked.parent, ranked.stem).records.items()}
    questions = [q for q in dataset.questions if q.answerable and q.qid in rankings]
    store = ChronoDocumentStore(args.store, read_only=True)
    reader = ExtractiveAnswerer(max_passages=args.passages)
    reader.warm_up()
    rows, failures = [], []
    started = time.perf_counter()
    for question in questions:
        ids = rankings[question.qid][: args.passages]
        found = {doc.id: doc for doc in store.get_documents_by_id(ids)}
        documents = [found[i] for i in ids if i in found]
        constraint = decompose(question.question, as_of=question.as_of)
        reply = reader.run(query=question.question, documents=documents, constraint=constraint)["replies"][0]
        golds = [normalize_answer(answer) for answer in question.answers]
        text = normalize_answer(" ".join(doc.content or "" for doc in documents))
        row = {
            "qid": question.qid,
            "half": _half(question.qid),
            "EM": max_exact_match(reply, question.answers),
            "F1": max_f1(reply, question.answers),
            "in_passages": any(gold and gold in text for gold in golds),
            "reply": reply,
        }
        rows.append(row)
        if row["EM"] < 1.0 and row["in_passages"]:
            failures.append(
                {
                    "qid": question.qid,
                    "question": question.question,
                    "reply": reply,
                    "answers": question.answers,
                    "half": row["half"],
                }
            )
    seconds = time.perf_counter() - started
    result = {
        "what": "ExtractiveAnswerer EM/F1 on TimeQA dev (answerable), fixed chronorag rankings",
        "passages_read": args.passages,
        "seconds": round(seconds, 1),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "all": _summary(rows),
        "tune": _summary([row for row in rows if row["half"] == "tune"]),
        "held_out": _summary([row for row in rows if row["half"] == "held_out"]),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.failures:
        with open(args.failures, "w", encoding="utf-8") as handle:
            for item in failures:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    if args.replies:
        with open(args.replies, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
