"""Fusion of relevance and time, measured on the shipped pipeline's own candidate pools.

For each question the ``fast`` preset's pipeline runs up to its ``fusion`` component (decomposition,
embedding, event expansion, time-aware dense + BM25 retrieval, RRF): that pool is exactly what the
shipped ranker reranks. Every candidate's semantic evidence (passage, best sentence, lexical) and
temporal score are computed once by the ranker's own scorers and cached, so fusion rules are compared
in seconds: AR@1/5, ER@1/5 (gold passages or evidence sentences) and nDCG@10.

Tune on TimeQA train (``--dataset timeqa --split train`` over a store holding train + dev pages), report
on dev and on the mixed corpora (TempRAGEval draft + distractors, RealTimeQA pooled).

Run from the repository root: build the pools once per data set, then grid the fusion on the tuning pools
and check it on the others (``benchmarks/results/fusion.json``)::

    python benchmarks/tune_fusion.py pools --store STORE --dataset timeqa --split train --pools train.pkl
    python benchmarks/tune_fusion.py grid --tune train.pkl --check trage.pkl [--check ...]

TimeQA train over its pages is one kind of corpus: every question's page is there, titled. The kind a
TempRAGEval-style corpus is (evidence sentences without a title among other topics' pages) is built from
train too, so that what is tuned for it is never tuned on a reported set (``--tune-mixed`` in ``grid``)::

    python benchmarks/tune_fusion.py mixed-corpus --out eval-out/train-mixed
    python benchmarks/tune_fusion.py pools --store eval-out/train-mixed/store --dataset timeqa \
        --split train --questions eval-out/train-mixed/questions.json --pools train-mixed.pkl
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from dataclasses import dataclass, field, replace
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
        if getattr(args, "questions", None):
            # A mixed corpus (mixed-corpus): its questions, their gold passages under the corpus's ids.
            chosen = json.loads(Path(args.questions).read_text(encoding="utf-8"))
            questions = [replace(q, gold_ids=chosen[q.qid]) for q in questions if q.qid in chosen]
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
        # As the shipped ranker scores: the preset's sentence settings (the fast preset: passage level).
        sem = ranker.scorer.score(
            content, docs, ranker.sentence_candidates, ranker.sentence_budget, ranker._int8
        )
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


# --- the grid -----------------------------------------------------------------------------------------
RELEVANCE_GRID = (
    {"question": 1.0, "passage": 0.5, "coverage": 0.5},
    {"question": 1.0, "passage": 1.0, "coverage": 1.0},
    {"question": 0.5, "passage": 1.0, "coverage": 1.0},
    {"question": 1.0},
    {"passage": 1.0},
    {"question": 1.0, "passage": 1.0},
    {"question": 1.0, "coverage": 1.0},
)
TIME_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9)
GATES = ((0.0, 0.0), (0.3, 0.6), (0.4, 0.7), (0.5, 0.8), (0.4, 0.9), (0.6, 0.9))
MIN_GATE_LOW = 0.4  # the rule: passages under 40% of the best relevance must earn no time credit


def _features(pool: Pool) -> dict[str, np.ndarray]:
    return {
        "question": pool.extra["full"],
        "passage": pool.passage,
        "sentence": pool.sentence,
        "coverage": pool.extra["coverage"],
        "lexical": pool.lexical,
    }


def fused(
    weights: dict[str, float],
    time_weight: float,
    gate: tuple[float, float],
    topic: tuple[float, float] = (0.0, 0.0),
) -> Any:
    """The shipped fusion (``chronorag.rankers.fusion``) with these parameters, as a vectorised pool scorer
    (:func:`_check_fused` checks it against the module's own functions). ``topic`` adds a gate that was
    tried and not shipped (``(0, 0)``: none): time credit only for passages whose vector is close to the
    most relevant candidate's (cosine: none at ``topic[0]``, full from ``topic[1]``)."""
    from chronorag.rankers.fusion import RelevanceModel

    model = RelevanceModel.from_weights(weights)
    total = sum(model.weights.values())
    low, high = gate

    def score(pool: Pool) -> np.ndarray:
        features = _features(pool)
        relevance = sum(weight * features[name] for name, weight in model.weights.items()) / total
        best = relevance.max() or 1.0
        weight = time_weight if pool.constrained else 0.0
        if high > 0:
            allowed = np.clip((relevance / best - low) / (high - low), 0.0, 1.0)
        else:
            allowed = np.ones_like(relevance)
        if topic[1] > 0:
            closeness = pool.extra["pairwise"][int(np.argmax(relevance))]
            allowed = np.minimum(allowed, np.clip((closeness - topic[0]) / (topic[1] - topic[0]), 0.0, 1.0))
        credit = np.minimum(np.clip(pool.temporal, 0.0, 1.0), allowed)
        return relevance * (1.0 - weight + weight * credit)

    return score


def _check_fused(pool: Pool) -> None:
    """The vectorised scorer equals the ranker's per-passage functions on one pool."""
    from chronorag.rankers.fusion import RelevanceModel, time_factor, time_gate

    weights = {"question": 1.0, "passage": 0.5, "coverage": 0.5}
    model = RelevanceModel.from_weights(weights)
    features = _features(pool)
    relevance = [
        model.relevance({n: float(features[n][i]) for n in model.weights}) for i in range(len(pool.ids))
    ]
    best = max(relevance)
    expected = [
        r * time_factor(float(t), 0.9 if pool.constrained else 0.0, time_gate(r / best, 0.4, 0.7))
        for r, t in zip(relevance, pool.temporal, strict=True)
    ]
    assert np.allclose(fused(weights, 0.9, (0.4, 0.7))(pool), expected, atol=1e-6)


def additive_before(pool: Pool) -> np.ndarray:
    """The fusion chronorag shipped before: (0.45 S + 0.75 T) / 1.2, S the scorer's fused semantic score."""
    semantic = 0.35 * pool.passage + 0.4 * pool.sentence + 0.25 * pool.lexical
    return (0.45 * semantic + (0.75 if pool.constrained else 0.1) * pool.temporal) / (
        0.45 + (0.75 if pool.constrained else 0.1)
    )


def add_store_features(pools: list[Pool], store_path: str) -> None:
    """Add what pools built without them lack, from one read of each pool's passages: the query-coverage
    feature (the shipped scorer's ``query_coverage``) and the cosine of every two candidates' stored vectors
    (the topic gate's input)."""
    from chronorag.indexers import passage_text
    from chronorag.indexers.store import ChronoDocumentStore
    from chronorag.rankers.semantic_scoring import query_coverage

    store = ChronoDocumentStore(store_path, read_only=True)
    for pool in pools:
        if "coverage" in pool.extra and "pairwise" in pool.extra:
            continue
        found = {d.id: d for d in store.get_documents_by_id(pool.ids, return_embedding=True)}
        docs = [found[i] for i in pool.ids]
        constraint = pool.extra["constraint"]
        texts = [passage_text(doc) for doc in docs]
        pool.extra["coverage"] = query_coverage(constraint.content or constraint.question, texts)
        vectors = np.array([doc.embedding for doc in docs], dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        pool.extra["pairwise"] = vectors @ vectors.T


# The topic gate (passage vectors' cosine to the most relevant candidate), tried under the chosen fusion.
TOPIC_GATES = ((0.0, 0.0), (0.2, 0.4), (0.3, 0.5), (0.3, 0.6), (0.4, 0.6), (0.4, 0.7), (0.5, 0.7))


def topic_grid(chosen: dict[str, Any], tunes: dict[str, list[Pool]], checks: dict[str, list[Pool]]) -> dict:
    """Every topic gate under the chosen fusion, on each tuning pool set and the checks. The rule: a gate
    ships only if it lowers AR@1 on no tuning set (TimeQA train over its pages, and over the mixed corpus
    built from train)."""
    rows = []
    for topic in TOPIC_GATES:
        rule = fused(chosen["weights"], chosen["time_weight"], tuple(chosen["gate"]), topic)
        row: dict[str, Any] = {"topic": topic}
        row.update({name: evaluate(pools, rule) for name, pools in {**tunes, **checks}.items()})
        rows.append(row)
    passing = [
        row["topic"] for row in rows[1:] if all(row[name]["AR@1"] >= rows[0][name]["AR@1"] for name in tunes)
    ]
    return {
        "rule": "ship a topic gate only if it lowers AR@1 on no tuning set: " + ", ".join(tunes),
        "chosen": max(passing) if passing else None,
        "grid": rows,
    }


def _load_pools(paths: list[Path]) -> dict[str, list[Pool]]:
    """Pool files by their stem, their temporal scores recomputed by the current scoring."""
    return {Path(path).stem: rescore_time(pickle.loads(Path(path).read_bytes())) for path in paths}


def rescore_time(pools: list[Pool]) -> list[Pool]:
    """Temporal scores recomputed from the pools' spans by the current ``temporal_scoring``."""
    from chronorag.rankers.temporal_scoring import apply_ordinal, score_passage

    for pool in pools:
        constraint = pool.extra["constraint"]
        scores = [
            score_passage(s, p, constraint) for s, p in zip(pool.extra["spans"], pool.published, strict=True)
        ]
        pool.temporal = np.array([t.score for t in apply_ordinal(scores, constraint)], dtype=np.float32)
    return pools


def grid(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration on the tuning pools, the rule's choice, and the check pools' numbers."""
    tune = rescore_time(pickle.loads(Path(args.tune).read_bytes()))
    _check_fused(tune[0])
    checks = _load_pools(args.check)
    rows = []
    for weights in RELEVANCE_GRID:
        for time_weight in TIME_WEIGHTS:
            for gate in GATES:
                rule = fused(weights, time_weight, gate)
                row = {"weights": weights, "time_weight": time_weight, "gate": gate}
                rows.append({**row, "tune": evaluate(tune, rule)})
    eligible = [row for row in rows if row["gate"][0] >= MIN_GATE_LOW]
    chosen = max(eligible, key=lambda row: (row["tune"]["AR@1"], row["tune"]["nDCG@10"]))
    result = {
        "rule": f"best tuning AR@1 (then nDCG@10) among gates giving no time credit below {MIN_GATE_LOW} "
        "of the best relevance",
        "tuning_pools": {"file": str(args.tune), "questions": len(tune)},
        "chosen": chosen,
        "before": {"tune": evaluate(tune, additive_before)},
        "best_ungated": max(rows, key=lambda row: row["tune"]["AR@1"]),
        "grid": rows,
        "checks": {},
    }
    chosen_rule = fused(chosen["weights"], chosen["time_weight"], tuple(chosen["gate"]))
    for name, pools in checks.items():
        result["checks"][name] = {
            "questions": len(pools),
            "chosen": evaluate(pools, chosen_rule),
            "before": evaluate(pools, additive_before),
            "relevance_only": evaluate(pools, fused(chosen["weights"], 0.0, (0.0, 0.0))),
        }
    return result


TEMPORAL_GRID = {
    "OVERLAP_FLOOR": (0.5, 0.6, 0.7),
    "NEAR_CEILING": (0.3, 0.5),
    "BOUNDARY_FIT": (0.6, 0.8, 1.0),
    "END_BOUNDARY_FIT": (0.4, 0.6, 0.8),
    "NO_EVIDENCE": (0.2, 0.3, 0.45),
}


# Persistence of a state that began before the asked interval, varied after the grid above (the other
# constants as shipped): off (PERSIST_CEILING = NEAR_CEILING, PERSIST_UNITS = 1) and slower decays.
PERSISTENCE_GRID = (
    {"PERSIST_CEILING": 0.3, "PERSIST_UNITS": 1.0},
    {"PERSIST_CEILING": 0.4, "PERSIST_UNITS": 3.0},
    {"PERSIST_CEILING": 0.45, "PERSIST_UNITS": 5.0},
    {"PERSIST_CEILING": 0.49, "PERSIST_UNITS": 10.0},
)


def temporal_grid(tune: list[Pool], rule: Any, checks: dict[str, list[Pool]] | None = None) -> dict[str, Any]:
    """The temporal scoring constants under the chosen fusion, on the tuning pools (the module's values are
    restored afterwards)."""
    import itertools

    import chronorag.rankers.temporal_scoring as scoring

    names = [*TEMPORAL_GRID, *PERSISTENCE_GRID[0]]
    shipped = {name: getattr(scoring, name) for name in names}
    rows, persistence = [], []
    try:
        for values in itertools.product(*TEMPORAL_GRID.values()):
            constants = dict(zip(TEMPORAL_GRID, values, strict=True))
            for name, value in constants.items():
                setattr(scoring, name, value)
            rows.append({"constants": constants, "tune": evaluate(rescore_time(tune), rule)})
        for name in TEMPORAL_GRID:
            setattr(scoring, name, shipped[name])
        for constants in PERSISTENCE_GRID:
            for name, value in constants.items():
                setattr(scoring, name, value)
            row = {"constants": constants, "tune": evaluate(rescore_time(tune), rule)}
            for check, pools in (checks or {}).items():
                row[check] = evaluate(rescore_time(pools), rule)
            persistence.append(row)
    finally:
        for name, value in shipped.items():
            setattr(scoring, name, value)
        for pools in [tune, *(checks or {}).values()]:
            rescore_time(pools)
    rows.sort(key=lambda row: (-row["tune"]["AR@1"], -row["tune"]["nDCG@10"]))
    return {
        "shipped": shipped,
        "shipped_tune": evaluate(tune, rule),
        "best": rows[:10],
        "configs": len(rows),
        "persistence": persistence,
    }


def mixed_corpus(args: argparse.Namespace) -> dict[str, Any]:
    """A TempRAGEval-like corpus from TimeQA train: each answerable question's gold paragraphs without
    their title, beside the titled paragraphs of ``--distractor-pages`` other train pages (whose own
    questions are left out); indexed into ``OUT/store``, with ``OUT/questions.json`` (qid: gold ids)."""
    import random

    from chronorag.evals.loaders import load_timeqa
    from chronorag.indexers.ingest import (
        build_passages,
        ingest,
        open_store_for,
        sentence_transformer_embedder,
    )
    from chronorag.indexers.sources import SourceDocument, read_timeqa

    dataset = load_timeqa(args.data_dir, "train")
    pages = {}
    for file in dataset.corpus_files:
        for document in read_timeqa(file):
            if isinstance(document, SourceDocument):
                pages[document.id] = document
    distractors = set(random.Random(args.seed).sample(sorted(pages), args.distractor_pages))
    passages = {p.id: p for page in pages.values() for p in build_passages(page)}
    records, chosen = [], {}
    for question in dataset.questions:
        page = question.tags.get("page")
        if not question.answerable or page in distractors or not question.gold_ids:
            continue
        chosen[question.qid] = [f"{gid}#0" for gid in question.gold_ids]
        records += [{"id": gid, "title": "", "text": passages[gid].content} for gid in question.gold_ids]
    for page in sorted(distractors):
        for passage in build_passages(pages[page]):
            title = passage.meta.get("title") or ""
            records.append({"id": passage.id, "title": title, "text": passage.content})
    unique = list({record["id"]: record for record in records}.values())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in unique), encoding="utf-8")
    (out / "questions.json").write_text(json.dumps(chosen), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(out / "store"), model_id, dim)
    ingest([str(corpus)], store, embed, fmt="jsonl", progress=True)
    store.close()
    return {"questions": len(chosen), "passages": len(unique), "distractor_pages": len(distractors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("pools", help="build (or load) one data set's candidate pools")
    build.add_argument("--store", type=Path, required=True)
    build.add_argument("--dataset", choices=("timeqa", "temprageval", "realtimeqa"), required=True)
    build.add_argument("--split", default="dev")
    build.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    build.add_argument("--csv", type=Path)
    build.add_argument("--limit", type=int)
    build.add_argument("--candidates", type=int, default=20)
    build.add_argument("--pools", type=Path, required=True, help="pickle of the pools (built when missing)")
    build.add_argument("--questions", type=Path, help="TimeQA: only these questions (mixed-corpus's JSON)")
    mixed = commands.add_parser("mixed-corpus", help="a TempRAGEval-like tuning corpus from TimeQA train")
    mixed.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    mixed.add_argument("--out", type=Path, required=True)
    mixed.add_argument("--distractor-pages", type=int, default=40)
    mixed.add_argument("--seed", type=int, default=0)
    search = commands.add_parser("grid", help="grid the fusion on tuning pools, check on others")
    search.add_argument("--tune", type=Path, required=True)
    search.add_argument("--check", type=Path, action="append", default=[])
    search.add_argument(
        "--tune-mixed",
        type=Path,
        action="append",
        default=[],
        help="pools of the mixed corpus built from train",
    )
    search.add_argument("--out", type=Path, default=RESULTS / "fusion.json")
    search.add_argument("--temporal", action="store_true", help="also grid the temporal scoring constants")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from chronorag.models import configure_threads

    configure_threads()
    if args.command == "mixed-corpus":
        print(json.dumps(mixed_corpus(args)))
        return 0
    if args.command == "grid":
        result = grid(args)
        chosen = result["chosen"]
        rule = fused(chosen["weights"], chosen["time_weight"], tuple(chosen["gate"]))
        tunes = _load_pools([args.tune, *args.tune_mixed])
        checks = _load_pools(args.check)
        result["topic"] = topic_grid(chosen, tunes, checks)
        result["mixed_tuning"] = {name: evaluate(pools, rule) for name, pools in tunes.items()}
        if args.temporal:
            result["temporal"] = temporal_grid(tunes[Path(args.tune).stem], rule, checks)
        args.out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
        summary = {key: result[key] for key in ("chosen", "checks", "mixed_tuning")}
        summary["topic_chosen"] = result["topic"]["chosen"]
        print(json.dumps(summary, indent=1, default=str))
        return 0
    if args.pools.exists():
        pools = pickle.loads(args.pools.read_bytes())
    else:
        started = time.time()
        pools = build_pools(args)
        args.pools.parent.mkdir(parents=True, exist_ok=True)
        args.pools.write_bytes(pickle.dumps(pools))
        logger.info("built %d pools in %.0f s", len(pools), time.time() - started)
    add_store_features(pools, str(args.store))
    args.pools.write_bytes(pickle.dumps(pools))
    print(json.dumps({"pools": len(pools)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
