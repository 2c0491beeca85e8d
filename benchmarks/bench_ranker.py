"""Speed of ``SemanticTemporalRanker``: reranking 100 passages on the CPU.

Passages are 100 TimeQA paragraphs (title-prefixed, time spans extracted, stored embeddings given,
as the store returns them); questions are TimeQA questions with their decomposed constraints.
Measured per mode:

- ``cold``: the sentence-embedding cache is emptied before every call (first sight of the passages);
- ``warm``: the same call again (question and sentences cached): the ranking arithmetic alone. A new
  question over cached passages adds one question encoding (~10-30 ms here).

``hybrid_no_sentence_level`` is the hybrid with ``sentence_candidates=0`` (stored passage embeddings,
BM25 and time only): nothing to encode but the question.

Also a breakdown of one cold call over every sentence of the 100 passages (MRAG mode's work):
encoding, BM25, temporal scoring. Writes
``benchmarks/results/rankers_speed.json``. Run from the repository root:
``OMP_NUM_THREADS=1 python benchmarks/bench_ranker.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from chronorag.models import configure_threads, get_sentence_transformer
from chronorag.rankers.semantic_scoring import bm25_scores, passage_text
from chronorag.rankers.semantic_temporal_ranker import SemanticTemporalRanker
from chronorag.rankers.temporal_scoring import apply_ordinal, score_passage
from chronorag.temporal.decompose import decompose
from chronorag.temporal.extractor import extract_mentions
from chronorag.temporal.model import TimeMention

RESULTS = Path(__file__).resolve().parent / "results"


def load(data: Path, passages: int, questions: int):
    """The first ``passages`` TimeQA paragraphs and the first ``questions`` questions."""
    from haystack import Document

    pages = json.loads((data / "timeqa" / "human_annotated_test.dev.json").read_text(encoding="utf-8"))
    docs, asked = [], []
    for page in pages:
        for number, text in enumerate(page["paras"][1:], start=1):
            if len(docs) < passages and len(text.split()) > 8:
                spans = [m.to_dict() for m in extract_mentions(text, mode="fast")]
                docs.append(
                    Document(
                        id=f"{page['index']}#{number}",
                        content=text,
                        meta={"title": page["paras"][0], "time_spans": spans},
                    )
                )
        asked.extend(question for question, _ in page["questions"])
        if len(docs) >= passages and len(asked) >= questions:
            break
    return docs, asked[:questions]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--passages", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    configure_threads()
    encoder = get_sentence_transformer(device="cpu")
    docs, questions = load(args.data, args.passages, args.repeats + 1)
    vectors = encoder.encode([passage_text(doc) for doc in docs], normalize_embeddings=True)
    docs = [replace(doc, embedding=vector.tolist()) for doc, vector in zip(docs, vectors, strict=True)]
    constraints = [decompose(question, date(2024, 1, 1)) for question in questions]
    results: dict[str, object] = {
        "passages": len(docs),
        "repeats": args.repeats,
        "torch_threads": __import__("torch").get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_at_start": os.getloadavg()[0],
    }
    configs = {
        "hybrid": {"mode": "hybrid"},
        "hybrid_no_sentence_level": {"mode": "hybrid", "sentence_candidates": 0},
        "mrag": {"mode": "mrag"},
        "semantic": {"mode": "semantic"},
    }
    for mode, params in configs.items():
        ranker = SemanticTemporalRanker(cross_encoder=None, device="cpu", **params)
        ranker.warm_up()
        ranker.run(questions[0], docs, constraints[0])  # load everything once
        cold, warm = [], []
        for question, constraint in zip(questions[1:], constraints[1:], strict=True):
            ranker.scorer._cache.clear()
            started = time.perf_counter()
            ranker.run(question, docs, constraint)
            cold.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            ranker.run(question, docs, constraint)
            warm.append(1000 * (time.perf_counter() - started))
        results[mode] = {
            "cold_p50_ms": round(statistics.median(cold), 1),
            "cold_p90_ms": round(percentile(cold, 90), 1),
            "warm_p50_ms": round(statistics.median(warm), 1),
            "warm_p90_ms": round(percentile(warm, 90), 1),
        }
    results["breakdown_cold_ms"] = breakdown(docs, questions[1], constraints[1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rankers_speed.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


def breakdown(docs, question: str, constraint) -> dict[str, float]:
    """Where one cold hybrid call spends its time."""
    ranker = SemanticTemporalRanker(cross_encoder=None, device="cpu")
    ranker.warm_up()
    scorer = ranker.scorer
    scorer._cache.clear()
    sentences = [scorer._sentences(doc) for doc in docs]
    flat = [s for group in sentences for s in group if len(group) > 1]
    started = time.perf_counter()
    scorer.encode([constraint.content or question, *flat])
    encode_ms = 1000 * (time.perf_counter() - started)
    started = time.perf_counter()
    bm25_scores(constraint.content or question, [passage_text(doc) for doc in docs])
    bm25_ms = 1000 * (time.perf_counter() - started)
    started = time.perf_counter()
    scores = [
        score_passage([TimeMention.from_dict(s) for s in doc.meta["time_spans"]], None, constraint)
        for doc in docs
    ]
    apply_ordinal(scores, constraint)
    temporal_ms = 1000 * (time.perf_counter() - started)
    return {
        "encode_question_and_all_sentences": round(encode_ms, 1),
        "sentences_encoded": len(flat),
        "bm25": round(bm25_ms, 1),
        "temporal": round(temporal_ms, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
