"""Fusion of relevance and time, measured on the shipped pipeline's own candidate pools.

For each question the ``fast`` preset's pipeline runs up to its ``fusion`` component (decomposition,
embedding, event expansion, time-aware dense + BM25 retrieval, RRF): that pool is exactly what the
shipped ranker reranks. Every candidate's semantic evidence (passage, best sentence, lexical) and
temporal score are computed once by the ranker's own scorers and cached, so fusion rules are compared
in seconds: AR@1/5, ER@1/5 (gold passages or evidence sentences) and nDCG@10.

Tune on TimeQA train (``--dataset timeqa --split train`` over a store holding train + dev pages), report
on dev and on the mixed corpora (TempRAGEval draft + distractors, RealTimeQA pooled).

Run from the repository root::

    python benchmarks/tune_fusion.py --store STORE --dataset timeqa --split train --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from chronorag.evals.metrics import has_answer
from chronorag.evals.types import EvalQuestion

logger = logging.getLogger("tune_fusion")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Pool:
    """One question's candidates with the features every fusion rule reads."""

    qid: str
    relation: str
    tags: dict[str, str]
    ids: list[str]
    passage: np.ndarray  # cosine of the content and the stored passage vector
    sentence: np.ndarray  # best sentence cosine
    lexical: np.ndarray  # in-pool BM25 / best
    temporal: np.ndarray  # score_passage + apply_ordinal, in [0, 1]
    published: list[date | None]
    date_source: list[str | None]
    in_window: np.ndarray
    answer: np.ndarray  # candidate holds a gold answer (AR)
    gold: np.ndarray  # candidate is gold evidence (ER)
    constrained: bool
    extra: dict[str, Any] = field(default_factory=dict)


def load_questions(args: argparse.Namespace) -> list[EvalQuestion]:
    from chronorag.evals import loaders, temprageval

    if args.dataset == "timeqa":
        questions = loaders.load_timeqa(args.data_dir, args.split).questions
    elif args.dataset == "temprageval":
        csv_path = args.csv or Path(args.data_dir) / "temprageval_draft" / "TempRAGEval_draft_134rows.csv"
        questions = temprageval.load_temprageval(csv_path).questions
    else:
        questions = loaders.load_realtimeqa(args.data_dir).questions
    questions = [q for q in questions if q.answerable or q.choices]
    if args.limit:
        from chronorag.evals.runner import select_questions

        questions = select_questions(questions, args.limit, 0)
    return questions


def _gold(question: EvalQuestion, doc: Any, text: str) -> bool:
    if question.gold_ids:
        return doc.id in set(question.gold_ids)
    if question.evidence:
        return has_answer([s for s in question.evidence if s.strip()], text)
    if question.gold_doc_ids:
        return str(doc.meta.get("doc_id")) in set(question.gold_doc_ids)
    return False


def _answers(question: EvalQuestion) -> list[str]:
    if question.choices and question.answer_index is not None:
        return [question.choices[question.answer_index]]
    return question.answers


def build_pools(args: argparse.Namespace) -> list[Pool]:
    from tqdm import tqdm

    from chronorag.indexers import passage_text
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.retrieval import run_components, run_inputs
    from chronorag.rankers.semantic_temporal_ranker import _published
    from chronorag.rankers.temporal_scoring import apply_ordinal, score_passage
    from chronorag.temporal.model import Relation

    pipeline = build_pipeline(str(args.store), preset="fast", generator="extractive")
    ranker = pipeline.get_component("ranker")
    ranker.warm_up()
    pools = []
    for question in tqdm(load_questions(args), desc="pools", unit="q", file=sys.stderr):
        data = run_inputs(pipeline, question.question, question.as_of, top_k=args.candidates)
        end = "fusion" if "fusion" in pipeline.graph.nodes else "retriever"
        outputs = run_components(pipeline, data, [end])
        docs = list(outputs.get("fusion", outputs.get("retriever"))["documents"])
        constraint = outputs["decomposer"]["constraint"]
        reference = constraint.reference_time
        docs = [d for d in docs if not (_published(d) and _published(d) > reference)]
        if not docs:
            continue
        content = (constraint.content or "").strip() or question.question
        sem = ranker.scorer.score(content, docs, None, None, False)
        tem = [score_passage(ranker._spans(d), _published(d), constraint) for d in docs]
        tem = apply_ordinal(tem, constraint)
        texts = [passage_text(d) for d in docs]
        answers = _answers(question)
        pools.append(
            Pool(
                qid=question.qid,
                relation=constraint.relation.value,
                tags=dict(question.tags),
                ids=[d.id for d in docs],
                passage=np.array([e.passage for e in sem], dtype=np.float32),
                sentence=np.array([e.sentence for e in sem], dtype=np.float32),
                lexical=np.array([e.lexical for e in sem], dtype=np.float32),
                temporal=np.array([t.score for t in tem], dtype=np.float32),
                published=[_published(d) for d in docs],
                date_source=[(d.meta or {}).get("date_source") for d in docs],
                in_window=np.array([bool((d.meta or {}).get("in_time_window")) for d in docs]),
                answer=np.array([has_answer(answers, t) for t in texts]),
                gold=np.array([_gold(question, d, t) for d, t in zip(docs, texts, strict=True)]),
                constrained=constraint.relation != Relation.NONE and constraint.interval is not None,
                extra={
                    "rrf": [(d.meta or {}).get("rrf_ranks") for d in docs],
                    "spans": [ranker._spans(d) for d in docs],
                    "constraint": constraint,
                    "full": _full_cosines(ranker, question.question, docs),
                },
            )
        )
    return pools


def _full_cosines(ranker: Any, question: str, docs: list[Any]) -> np.ndarray:
    """Cosine of the whole question (time phrase included) and each stored passage vector."""
    vector = ranker.scorer.encode([question])[0]
    matrix = np.array([d.embedding for d in docs], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.clip(matrix @ vector, 0.0, 1.0)


def evaluate(pools: list[Pool], scorer: Any) -> dict[str, float]:
    """AR@1/5, ER@1/5, nDCG@10 (gold) of a fusion rule ``scorer(pool) -> scores``."""
    from chronorag.evals.metrics import ndcg_at_k

    rows: dict[str, list[float]] = {"AR@1": [], "AR@5": [], "ER@1": [], "ER@5": [], "nDCG@10": []}
    for pool in pools:
        order = np.argsort(-scorer(pool), kind="stable")
        answer, gold = pool.answer[order], pool.gold[order]
        rows["AR@1"].append(float(answer[:1].any()))
        rows["AR@5"].append(float(answer[:5].any()))
        if pool.gold.any():
            rows["ER@1"].append(float(gold[:1].any()))
            rows["ER@5"].append(float(gold[:5].any()))
            units = [pool.ids[i] if pool.gold[i] else None for i in order]
            rows["nDCG@10"].append(ndcg_at_k(units, [pool.ids[i] for i in np.flatnonzero(pool.gold)], 10))
    return {name: round(100 * float(np.mean(values)), 2) for name, values in rows.items() if values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--dataset", choices=("timeqa", "temprageval", "realtimeqa"), required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--pools", type=Path, required=True, help="pickle of the pools (built when missing)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from chronorag.models import configure_threads

    configure_threads()
    if args.pools.exists():
        pools = pickle.loads(args.pools.read_bytes())
    else:
        started = time.time()
        pools = build_pools(args)
        args.pools.parent.mkdir(parents=True, exist_ok=True)
        args.pools.write_bytes(pickle.dumps(pools))
        logger.info("built %d pools in %.0f s", len(pools), time.time() - started)
    print(json.dumps({"pools": len(pools)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
