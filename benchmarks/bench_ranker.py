"""Speed of ``SemanticTemporalRanker``: reranking 100 passages on the CPU.

Passages are 100 TimeQA paragraphs (title-prefixed, time spans extracted, stored embeddings given,
as the store returns them); questions are TimeQA questions with their decomposed constraints.
Measured per mode:

- ``cold``: the embedding caches and the subject check's caches are emptied before every call (first
  sight of the question and the passages);
- ``warm``: the same call again (question and sentences cached): the ranking arithmetic alone. A new
  question over cached passages adds one question encoding (~10-30 ms here).

``hybrid`` is the default: ``sentence_candidates="auto"``, which in hybrid mode means passage level
(stored passage embeddings, BM25, time; nothing to encode but the question), because the default
relevance gives sentence similarity no weight, so sentences cannot change the order.
``hybrid_sentence_level`` is the previous default and the ``accurate`` preset's ranker: sentence level for
the 10 best candidates by the cheap signals, at most 16 of their sentences encoded (``sentence_budget``)
by the int8 copy of MiniLM (``sentence_int8``); it only picks each passage's ``matched_sentence``.
``hybrid_fp32_sentences`` is the same with the fp32 model, ``hybrid_all_sentences_of_10`` encodes every
sentence of those 10 with fp32, and ``hybrid_budget_8`` at most 8. ``hybrid_no_sentence_level`` sets
``sentence_candidates=0`` explicitly (same as the default; kept so runs of older commits compare).
Configurations are interleaved question by question and the load average is recorded: the machine is
shared, so compare configurations within one run.

``fast_preset_stage`` is the shipped preset's whole stage, its ``ranker`` then its ``answer_reranker``,
given the question content's embedding that the pipeline's embedder made for retrieval (as the
pipeline does).

Also a breakdown of cold sentence-level calls (question encoding, sentence encoding, BM25, temporal scoring)
and, for scale, encoding every sentence of the 100 passages (MRAG mode's work). Writes
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
from chronorag.rankers import subject
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


def forget(ranker: SemanticTemporalRanker) -> None:
    """Empty what a ranker call caches, for a cold call: embeddings, and the subject check's question names
    and folded passages (cached per process, so the configuration run first would pay for the others)."""
    ranker.scorer.clear_cache()
    for cached in (getattr(subject, "_question_names", None), getattr(subject, "fold", None)):
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--passages", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--configs", default="", help="comma-separated subset of the configurations")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="rankers_speed.json of a run of an earlier commit's benchmark on this machine, just before",
    )
    parser.add_argument("--baseline-label", default="", help="what the baseline is (its commit)")
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
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    configs = {
        "hybrid": {"mode": "hybrid"},
        "hybrid_sentence_level": {"mode": "hybrid", "sentence_candidates": 10},
        "hybrid_all_sentences_of_10": {
            "mode": "hybrid",
            "sentence_candidates": 10,
            "sentence_budget": None,
            "sentence_int8": False,
        },
        "hybrid_fp32_sentences": {"mode": "hybrid", "sentence_candidates": 10, "sentence_int8": False},
        "hybrid_budget_8": {"mode": "hybrid", "sentence_candidates": 10, "sentence_budget": 8},
        "hybrid_no_sentence_level": {"mode": "hybrid", "sentence_candidates": 0},
        "semantic": {"mode": "semantic"},
        "mrag": {"mode": "mrag"},
    }
    if args.configs:
        configs = {name: params for name, params in configs.items() if name in args.configs.split(",")}
    rankers = {}
    for mode, params in configs.items():
        ranker = SemanticTemporalRanker(cross_encoder=None, device="cpu", **params)
        ranker.warm_up()
        ranker.run(questions[0], docs, constraints[0])  # load everything once
        rankers[mode] = ranker
    timings: dict[str, dict[str, list[float]]] = {mode: {"cold": [], "warm": []} for mode in configs}
    loads = []
    # Interleaved: every question is ranked by every configuration in turn, so a change in the machine's
    # load (other processes) touches them all alike.
    for question, constraint in zip(questions[1:], constraints[1:], strict=True):
        loads.append(os.getloadavg()[0])
        for mode, ranker in rankers.items():
            forget(ranker)
            started = time.perf_counter()
            ranker.run(question, docs, constraint)
            timings[mode]["cold"].append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            ranker.run(question, docs, constraint)
            timings[mode]["warm"].append(1000 * (time.perf_counter() - started))
    for mode in rankers:
        cold, warm = timings[mode]["cold"], timings[mode]["warm"]
        results[mode] = {
            "params": configs[mode],
            "cold_p50_ms": round(statistics.median(cold), 1),
            "cold_p90_ms": round(percentile(cold, 90), 1),
            "warm_p50_ms": round(statistics.median(warm), 1),
            "warm_p90_ms": round(percentile(warm, 90), 1),
        }
    results["load_average_during"] = {
        "min": round(min(loads), 2),
        "median": round(statistics.median(loads), 2),
        "max": round(max(loads), 2),
    }
    if not args.configs or "fast_preset_stage" in args.configs.split(","):
        results["fast_preset_stage"] = shipped_stage(docs, questions, constraints)
    results["breakdown_cold_ms"] = breakdown(docs, questions[1:6], constraints[1:6])
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    if args.baseline:
        earlier = json.loads(args.baseline.read_text(encoding="utf-8"))
        results["same_machine_baseline"] = {
            "label": args.baseline_label,
            **{name: earlier[name] for name in ("hybrid", "hybrid_no_sentence_level") if name in earlier},
            "note": "the baseline's hybrid is its default (sentence level for 10); ours is passage level",
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rankers_speed.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


def shipped_stage(docs, questions: list[str], constraints: list) -> dict[str, object]:
    """The `fast` preset's whole rerank stage as it ships: its `ranker` (passage level, subject check)
    then its `answer_reranker` (the answer timeline over the top passages), taken from the pipeline the
    preset builds. Cold: the ranker's cache and the spaCy parses of passages are emptied before each call."""
    import tempfile

    from chronorag.pipeline import answer_timeline, build_pipeline

    with tempfile.TemporaryDirectory() as store:
        pipeline = build_pipeline(store, preset="fast", generator="extractive")
        ranker, reranker = pipeline.get_component("ranker"), pipeline.get_component("answer_reranker")
    ranker.warm_up()
    reranker.warm_up()
    first = ranker.run(questions[0], docs, constraints[0])["documents"]
    reranker.run(query=questions[0], documents=first, constraint=constraints[0])
    ranking, whole, warm = [], [], []
    encoder = get_sentence_transformer(device="cpu")
    for question, constraint in zip(questions[1:], constraints[1:], strict=True):
        # made by the pipeline's embedder for retrieval, before the ranker runs
        content = encoder.encode([constraint.content or question], normalize_embeddings=True)[0].tolist()
        forget(ranker)
        answer_timeline._PARSES.clear()
        started = time.perf_counter()
        ranked = ranker.run(question, docs, constraint, content_embedding=content)["documents"]
        ranking.append(1000 * (time.perf_counter() - started))
        reranker.run(query=question, documents=ranked, constraint=constraint)
        whole.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        ranked = ranker.run(question, docs, constraint, content_embedding=content)["documents"]
        reranker.run(query=question, documents=ranked, constraint=constraint)
        warm.append(1000 * (time.perf_counter() - started))
    return {
        "params": {
            "sentence_candidates": ranker.sentence_candidates,
            "subject_check": ranker.subject_check,
            "answer_rerank_passages": reranker.passages,
        },
        "ranker_cold_p50_ms": round(statistics.median(ranking), 1),
        "cold_p50_ms": round(statistics.median(whole), 1),
        "cold_p90_ms": round(percentile(whole, 90), 1),
        "warm_p50_ms": round(statistics.median(warm), 1),
    }


def breakdown(docs, questions: list[str], constraints: list) -> dict[str, float]:
    """Where a cold sentence-level hybrid call (``hybrid_sentence_level``) spends its time (medians over
    the questions): the question's encoding, the sentences' encoding, the rest (BM25, temporal scoring,
    combination); and, for scale, encoding every sentence of the 100 passages (MRAG mode's work)."""
    ranker = SemanticTemporalRanker(cross_encoder=None, device="cpu", sentence_candidates=10)
    ranker.warm_up()
    scorer = ranker.scorer
    encode = scorer.encode
    calls: list[tuple[int, float]] = []

    def timed(texts: list[str], int8: bool = False):
        started = time.perf_counter()
        vectors = encode(texts, int8=int8)
        calls.append((len(texts), 1000 * (time.perf_counter() - started)))
        return vectors

    scorer.encode = timed
    parts: dict[str, list[float]] = {"total": [], "question": [], "sentences": [], "count": [], "bm25": []}
    for question, constraint in zip(questions, constraints, strict=True):
        scorer.clear_cache()
        calls.clear()
        started = time.perf_counter()
        ranker.run(question, docs, constraint)
        parts["total"].append(1000 * (time.perf_counter() - started))
        parts["question"].append(calls[0][1])
        parts["sentences"].append(sum(ms for _, ms in calls[1:]))
        parts["count"].append(sum(n for n, _ in calls[1:]))
        started = time.perf_counter()
        bm25_scores(constraint.content or question, [passage_text(doc) for doc in docs])
        parts["bm25"].append(1000 * (time.perf_counter() - started))
    scorer.encode = encode
    started = time.perf_counter()
    scores = [
        score_passage([TimeMention.from_dict(s) for s in doc.meta["time_spans"]], None, constraints[0])
        for doc in docs
    ]
    apply_ordinal(scores, constraints[0])
    temporal_ms = 1000 * (time.perf_counter() - started)
    every = [s for doc in docs for s in (lambda g: g if len(g) > 1 else [])(scorer._sentences(doc))]
    scorer.clear_cache()
    started = time.perf_counter()
    scorer.encode(every)  # fp32, as MRAG mode
    every_ms = 1000 * (time.perf_counter() - started)
    median = statistics.median
    return {
        "sentence_level_hybrid_total": round(median(parts["total"]), 1),
        "encode_question": round(median(parts["question"]), 1),
        "encode_sentences": round(median(parts["sentences"]), 1),
        "sentences_encoded": median(parts["count"]),
        "bm25": round(median(parts["bm25"]), 1),
        "temporal": round(temporal_ms, 1),
        "encode_every_sentence_of_100_passages": round(every_ms, 1),
        "sentences_in_100_passages": len(every),
    }


if __name__ == "__main__":
    sys.exit(main())
