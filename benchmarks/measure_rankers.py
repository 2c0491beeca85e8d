"""Measure the rankers on TimeQA (dev) and the event expander on RealTimeQA 2022.

TimeQA: dense top-100 (MiniLM over title-prefixed paragraphs) reranked by the semantic baseline
(full question), MRAG's scoring and the hybrid; AR@1/5 and ER@1/5 on answerable questions, on the
tuning half (pages with an even position) and the check half (odd). RealTimeQA: dense retrieval with
the question embedding, as of question_date or not, with and without the event expander
(training-free or trained weights); AR@5, gold-article R@5 and leak@5.

``--what eval --store STORE``: the exact candidates ``chronorag eval timeqa`` reranks (its store; 20
time-aware dense + BM25 candidates fused by RRF for ``chronorag``, 20 dense ones for ``dense+semantic``
and ``mrag``), reranked by each system and by the hybrid's speed variants, per half as above: the same
numbers as the full evaluation in seconds once candidates and sentence vectors are cached. The hybrid's
defaults were tuned on the tuning half only; the check half is held out.

Run: ``python -m chronorag.benchmarks.measure_rankers --what timeqa`` from the repository's parent, or
``python benchmarks/measure_rankers.py`` from the repository root. Results go to
``benchmarks/results/rankers_<what>.json`` (``--out`` overrides). Embeddings are cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from chronorag.evals.metrics import has_answer
from chronorag.models import configure_threads, get_sentence_transformer
from chronorag.rankers.semantic_scoring import passage_text, split_sentences
from chronorag.rankers.semantic_temporal_ranker import SemanticTemporalRanker
from chronorag.temporal.model import Interval, Relation, TemporalConstraint

logger = logging.getLogger("measure_rankers")
RESULTS = Path(__file__).resolve().parent / "results"
CANDIDATES = 100


# --- shared helpers ------------------------------------------------------------------------------
def embed_cached(texts: Sequence[str], cache: Path, name: str, batch_size: int = 128) -> np.ndarray:
    """Normalised MiniLM embeddings of ``texts``, cached in ``cache/name-<hash>.npy``."""
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    encoder = get_sentence_transformer(device="cpu")
    started = time.time()
    vectors = encoder.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    ).astype(np.float32)
    logger.info("embedded %d %s texts in %.0f s", len(texts), name, time.time() - started)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def extractor() -> Callable[[str], list]:
    """The project's time extractor (``chronorag.temporal.extract_mentions``, fast mode)."""
    try:
        from chronorag.temporal import extract_mentions
    except ImportError:
        from chronorag.temporal.extractor import extract_mentions
    return lambda text: extract_mentions(text, mode="fast")


def decomposer() -> Callable[[str, date | None], TemporalConstraint]:
    """The project's question decomposer, or (until it lands) :func:`simple_decompose`."""
    try:
        # The function, not the submodule of the same name (importing the submodule shadows it).
        from chronorag.temporal.decompose import decompose

        return decompose
    except ImportError:
        logger.warning("chronorag.temporal.decompose is not available: using the script's simple parser")
        return simple_decompose


_TIME_PHRASE = re.compile(
    r"\s*,?\s*\b(?P<rel>(?i:from|between|in|during|before|after|since|until|as of|by))\s+"
    r"(?P<x>(?:[A-Z][a-z]{2,8}\.?\s+)?\d{4})(?:\s*(?:to|and|until|till|-|–)\s*(?P<y>(?:[A-Z][a-z]{2,8}\.?\s+)?\d{1,4}))?"
)


def simple_decompose(question: str, as_of: date | None = None) -> TemporalConstraint:
    """A small TimeQA-style parser: "<rel> [Month] YYYY [to [Month] YYYY]" (the fallback only)."""
    extract = extractor()
    match = _TIME_PHRASE.search(question)
    reference = as_of or date.today()
    if not match:
        return TemporalConstraint(question, question, Relation.NONE, None, None, reference)
    first = extract(match["x"])
    last = extract(match["y"]) if match["y"] else first
    if not first or not last:
        return TemporalConstraint(question, question, Relation.NONE, None, None, reference)
    start, end = first[0].interval, last[-1].interval
    relation = {
        "from": Relation.BETWEEN,
        "between": Relation.BETWEEN,
        "in": Relation.IN,
        "during": Relation.IN,
        "before": Relation.BEFORE,
        "after": Relation.AFTER,
        "since": Relation.SINCE,
        "until": Relation.UNTIL,
        "as of": Relation.AS_OF,
        "by": Relation.UNTIL,
    }[match["rel"].lower()]
    if relation == Relation.BETWEEN and not match["y"]:
        relation = Relation.SINCE
    if start.start and end.end and start.start > end.end:
        end = start
    granularity = start.granularity if start.granularity.days <= end.granularity.days else end.granularity
    interval = Interval(start.start, end.end, granularity)
    if relation == Relation.BEFORE:
        interval = Interval(None, date.fromordinal(start.start_day - 1), granularity)
    elif relation == Relation.AFTER:
        interval = Interval(date.fromordinal(end.end_day + 1), None, granularity)
    elif relation in (Relation.SINCE,):
        interval = Interval(start.start, None, granularity)
    elif relation in (Relation.UNTIL, Relation.AS_OF):
        interval = Interval(None, end.end, granularity)
    content = (question[: match.start()] + question[match.end() :]).strip()
    content = re.sub(r"\s+([?.,])", r"\1", content).lstrip(" ,")
    content = content[:1].upper() + content[1:]
    return TemporalConstraint(
        question, content, relation, interval, None, reference, time_text=match.group(0).strip(" ,")
    )


def ranked_metrics(answers: list[str], gold: set[str], docs: Sequence[Document]) -> dict[str, float]:
    """AR@1/5 (DPR has_answer on title + text) and ER@1/5 (gold passage id in the top k)."""
    hits = [has_answer(answers, passage_text(doc)) for doc in docs[:5]]
    gold_hits = [doc.id in gold for doc in docs[:5]]
    return {
        "AR@1": float(any(hits[:1])),
        "AR@5": float(any(hits)),
        "ER@1": float(any(gold_hits[:1])),
        "ER@5": float(any(gold_hits)),
    }


def mean_table(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-metric means in percent."""
    if not rows:
        return {}
    return {key: round(100.0 * float(np.mean([row[key] for row in rows])), 1) for key in rows[0]}


# --- TimeQA ----------------------------------------------------------------------------------------
@dataclass
class TimeQAQuestion:
    """An answerable TimeQA question: its page, answers and gold passage ids."""

    qid: str
    question: str
    answers: list[str]
    gold_ids: list[str]


def halves_table(rows: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    """Per system: mean metrics of the tuning half, the held-out (check) half, both, and the counts."""
    return {
        name: {
            "tune": mean_table(parts["tune"]),
            "check": mean_table(parts["check"]),
            "all": mean_table(parts["tune"] + parts["check"]),
            "n": {"tune": len(parts["tune"]), "check": len(parts["check"])},
        }
        for name, parts in rows.items()
    }


def read_timeqa(data: Path, max_words: int = 200) -> tuple[list[Document], list[TimeQAQuestion], int]:
    """Every page's paragraphs (title in meta, long ones split) and the answerable questions.

    :returns: passages, answerable questions and the number of unanswerable ones excluded.
    """
    passages: list[Document] = []
    questions: list[TimeQAQuestion] = []
    excluded = 0
    for file in sorted((data / "timeqa").glob("*.json")):
        for page in json.loads(file.read_text(encoding="utf-8")):
            title, ids = page["paras"][0], {}
            for number, text in enumerate(page["paras"][1:], start=1):
                words = text.split()
                parts = [" ".join(words[i : i + max_words]) for i in range(0, max(len(words), 1), max_words)]
                ids[number] = [f"{page['index']}#{number}.{n}" for n in range(len(parts))]
                passages.extend(
                    Document(id=pid, content=part, meta={"title": title, "doc_id": page["index"]})
                    for pid, part in zip(ids[number], parts, strict=True)
                )
            for number, (question, labels) in enumerate(page["questions"]):
                answers = list(dict.fromkeys(label["answer"] for label in labels if label["answer"].strip()))
                if not answers:
                    excluded += 1
                    continue
                gold = [
                    pid for label in labels if label["answer"].strip() for pid in ids.get(label["para"], [])
                ]
                questions.append(
                    TimeQAQuestion(f"{page['index']}#q{number}", " ".join(question.split()), answers, gold)
                )
    return passages, questions, excluded


def prepare_timeqa(data: Path, cache: Path) -> dict[str, Any]:
    """Corpus with spans and embeddings, answerable questions with constraints and dense candidates."""
    passages, questions, excluded = read_timeqa(data)
    extract = extractor()
    passages = [
        replace(doc, meta={**doc.meta, "time_spans": [m.to_dict() for m in extract(doc.content or "")]})
        for doc in passages
    ]
    vectors = embed_cached([passage_text(doc) for doc in passages], cache, "timeqa-passages")
    decompose = decomposer()
    constraints = [decompose(q.question, date(2024, 1, 1)) for q in questions]
    query_vectors = embed_cached([q.question for q in questions], cache, "timeqa-questions")
    top = np.argsort(-(query_vectors @ vectors.T), axis=1)[:, :CANDIDATES]
    with_embeddings = [replace(doc, embedding=vectors[i].tolist()) for i, doc in enumerate(passages)]
    return {
        "passages": with_embeddings,
        "questions": questions,
        "constraints": constraints,
        "candidates": top,
        "excluded": excluded,
    }


def prime_sentences(ranker: SemanticTemporalRanker, passages: list[Document], cache: Path) -> None:
    """Fill the ranker's sentence-embedding cache for the whole corpus in one cached batch."""
    if uses_int8(ranker):
        prime_texts(ranker, [doc for doc in passages if len(split_sentences(doc.content or "")) > 1], cache)
        return
    sentences = []
    for doc in passages:
        title = doc.meta.get("title") or ""
        parts = split_sentences(doc.content or "")
        if len(parts) > 1:
            sentences.extend(f"{title}. {part}" if title else part for part in parts)
    sentences = list(dict.fromkeys(sentences))
    vectors = embed_cached(sentences, cache, "timeqa-sentences")
    ranker.scorer.warm_up()
    for text, vector in zip(sentences, vectors, strict=True):
        ranker.scorer._cache[text] = vector


def run_timeqa(
    prepared: dict[str, Any],
    rankers: dict[str, SemanticTemporalRanker | None],
    only: Callable[[int], bool] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per system on the tuning half, the check half and all answerable questions."""
    rows: dict[str, dict[str, list[dict[str, float]]]] = {name: {"tune": [], "check": []} for name in rankers}
    page_position: dict[str, int] = {}
    for question in prepared["questions"]:
        page = question.qid.split("#q")[0]
        page_position.setdefault(page, len(page_position))
    passages = prepared["passages"]
    for index, (question, constraint) in enumerate(
        zip(prepared["questions"], prepared["constraints"], strict=True)
    ):
        if only is not None and not only(index):
            continue
        half = "tune" if page_position[question.qid.split("#q")[0]] % 2 == 0 else "check"
        candidates = [passages[i] for i in prepared["candidates"][index]]
        gold = set(question.gold_ids)
        for name, ranker in rankers.items():
            docs = (
                candidates
                if ranker is None
                else ranker.run(question.question, candidates, constraint, top_k=5)["documents"]
            )
            rows[name][half].append(ranked_metrics(question.answers, gold, docs))
    return halves_table(rows)


def tune_timeqa(prepared: dict[str, Any], ranker: SemanticTemporalRanker) -> dict[str, Any]:
    """Grid-search the hybrid weights on the tuning half (even page positions), report both halves.

    The score components are computed once per question (they do not depend on the weights), then every
    weight setting is a cheap recombination. Selection uses AR@1 + ER@1 on the tuning half only.
    """
    from itertools import product

    from chronorag.rankers.temporal_scoring import apply_ordinal, score_passage

    page_position: dict[str, int] = {}
    components = []
    for question, constraint, rows in zip(
        prepared["questions"], prepared["constraints"], prepared["candidates"], strict=True
    ):
        page = question.qid.split("#q")[0]
        page_position.setdefault(page, len(page_position))
        docs = [prepared["passages"][i] for i in rows]
        sem = ranker.scorer.score(constraint.content or question.question, docs, ranker.sentence_candidates)
        tem = apply_ordinal([score_passage(ranker._spans(d), None, constraint) for d in docs], constraint)
        hits = np.array([has_answer(question.answers, passage_text(d)) for d in docs], dtype=float)
        gold = np.array([d.id in set(question.gold_ids) for d in docs], dtype=float)
        components.append(
            {
                "half": "tune" if page_position[page] % 2 == 0 else "check",
                "passage": np.array([e.passage for e in sem]),
                "sentence": np.array([e.sentence for e in sem]),
                "lexical": np.array([e.lexical for e in sem]),
                "temporal": np.array([t.score for t in tem]),
                "hits": hits,
                "gold": gold,
                "constrained": constraint.interval is not None and constraint.relation.value != "none",
            }
        )

    def evaluate(params: tuple[float, ...], half: str) -> dict[str, float]:
        wp, ws, wl, wt = params
        rows = []
        for item in components:
            if item["half"] != half and half != "all":
                continue
            semantic = (wp * item["passage"] + ws * item["sentence"] + wl * item["lexical"]) / (wp + ws + wl)
            time_weight = wt if item["constrained"] else 0.1
            score = (0.45 * semantic + time_weight * item["temporal"]) / (0.45 + time_weight)
            order = np.argsort(-score, kind="stable")[:5]
            rows.append(
                {
                    "AR@1": item["hits"][order[0]],
                    "AR@5": float(item["hits"][order].max()),
                    "ER@1": item["gold"][order[0]],
                    "ER@5": float(item["gold"][order].max()),
                }
            )
        return mean_table(rows)

    grid = list(product([0.2, 0.35, 0.5], [0.2, 0.4, 0.6], [0.1, 0.25, 0.4], [0.2, 0.35, 0.55, 0.8, 1.2]))
    scored = [(evaluate(p, "tune"), p) for p in grid]
    best_table, best = max(scored, key=lambda item: item[0]["AR@1"] + item[0]["ER@1"])
    default = (ranker.passage_weight, ranker.sentence_weight, ranker.lexical_weight, ranker.temporal_weight)
    return {
        "grid_size": len(grid),
        "selection": "AR@1 + ER@1 on the tuning half (even page positions)",
        "best": {
            "passage_weight": best[0],
            "sentence_weight": best[1],
            "lexical_weight": best[2],
            "temporal_weight_over_semantic_0.45": best[3],
        },
        "best_tune": best_table,
        "best_check": evaluate(best, "check"),
        "default": {
            "params": default,
            "tune": evaluate(default, "tune"),
            "check": evaluate(default, "check"),
        },
    }


def timeqa(args: argparse.Namespace) -> dict[str, Any]:
    prepared = prepare_timeqa(args.data, args.cache)
    weights = json.loads(args.hybrid) if args.hybrid else {}
    rankers: dict[str, SemanticTemporalRanker | None] = {
        "dense": None,
        "dense+semantic": SemanticTemporalRanker(mode="semantic", cross_encoder=None),
        "mrag": SemanticTemporalRanker(mode="mrag", cross_encoder=None),
        "hybrid": SemanticTemporalRanker(mode="hybrid", cross_encoder=None, **weights),
    }
    if args.systems:
        rankers = {name: ranker for name, ranker in rankers.items() if name in args.systems.split(",")}
    for ranker in rankers.values():
        if ranker is not None:
            prime_sentences(ranker, prepared["passages"], args.cache)
    if args.tune:
        tuned = tune_timeqa(prepared, rankers.get("hybrid") or SemanticTemporalRanker(cross_encoder=None))
        print(json.dumps(tuned, indent=2))
        return {"results": tuned, "tuning": tuned}
    started = time.time()
    table = run_timeqa(prepared, rankers)
    relations: dict[str, int] = {}
    for constraint in prepared["constraints"]:
        relations[constraint.relation.value] = relations.get(constraint.relation.value, 0) + 1
    return {
        "data": "timeqa/human_annotated_test.dev.json",
        "candidates": CANDIDATES,
        "questions": len(prepared["questions"]),
        "excluded_unanswerable": prepared["excluded"],
        "passages": len(prepared["passages"]),
        "constraint_relations": relations,
        "hybrid_params": rankers["hybrid"].to_dict()["init_parameters"] if "hybrid" in rankers else None,
        "results": table,
        "seconds": round(time.time() - started, 1),
    }


# --- the evaluation's own candidates (``chronorag eval timeqa``) -----------------------------------
def prepare_eval(data: Path, store: Path, cache: Path, candidates: int = 20) -> list[dict[str, Any]]:
    """Every answerable TimeQA dev question with the candidates ``chronorag eval timeqa`` reranks.

    ``chronorag``: time-aware dense (content) + BM25 fused by RRF; ``dense``: dense on the full question
    (what ``dense+semantic`` and ``mrag`` rerank); both ``candidates`` deep with their stored vectors, as
    :class:`chronorag.evals.systems.SystemSuite` builds them. Cached (pickle) per store and depth.
    """
    import pickle

    from chronorag.evals.loaders import load_timeqa
    from chronorag.evals.systems import SystemSuite

    questions = [q for q in load_timeqa(data).questions if q.answerable]
    key = hashlib.sha1(
        f"{store.resolve()}|{candidates}|{'|'.join(q.qid for q in questions)}".encode()
    ).hexdigest()[:16]
    path = cache / f"eval-candidates-{key}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    suite = SystemSuite(str(store), candidates=candidates)
    items = []
    started = time.time()
    for question in questions:
        query = suite.prepare(question)
        constraint = query.constraint
        dense = suite.dense.run(query_embedding=query.content_embedding.tolist(), constraint=constraint)
        lexical = suite.bm25.run(query=constraint.content or question.question, constraint=constraint)
        fused = suite.fusion.run(documents=[dense["documents"], lexical["documents"]])["documents"]
        items.append(
            {
                "question": question,
                "constraint": constraint,
                "chronorag": suite._with_embeddings(fused),
                "dense": suite._dense_candidates(query),
            }
        )
    logger.info("eval candidates for %d questions in %.0f s", len(items), time.time() - started)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(items))
    return items


def uses_int8(ranker: SemanticTemporalRanker) -> bool:
    """Whether the ranker encodes sentences with the int8 copy of the bi-encoder."""
    return bool(ranker._int8 and ranker.scorer.warm_up_int8())


def prime_texts(ranker: SemanticTemporalRanker, documents: Sequence[Document], cache: Path) -> None:
    """Fill the ranker's sentence-embedding cache with every sentence it may encode for ``documents``
    (``cache/sentence-vectors[-int8].pkl`` keeps text -> vector across runs and variants), with the
    encoder the ranker uses for sentences (fp32 or its int8 copy)."""
    import pickle

    int8 = uses_int8(ranker)
    path = cache / ("sentence-vectors-int8.pkl" if int8 else "sentence-vectors.pkl")
    known: dict[str, np.ndarray] = pickle.loads(path.read_bytes()) if path.exists() else {}
    scorer = ranker.scorer
    scorer.warm_up()
    texts = list(dict.fromkeys(s for doc in documents for s in scorer._sentences(doc)))
    missing = [text for text in texts if text not in known]
    if missing:
        started = time.time()
        encoder = scorer._int8 if int8 else scorer._encoder
        vectors = encoder.encode(
            missing, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        known.update(zip(missing, vectors.astype(np.float32), strict=True))
        logger.info("embedded %d sentences in %.0f s", len(missing), time.time() - started)
        cache.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(known))
    scorer.cache_size = max(scorer.cache_size, len(texts) + 1000)
    target = scorer._cache_int8 if int8 else scorer._cache
    for text in texts:
        target[text] = known[text]


def run_eval(
    items: list[dict[str, Any]], rankers: dict[str, tuple[str, SemanticTemporalRanker | None]], cache: Path
) -> dict[str, Any]:
    """AR/ER@1/5 per system on the tuning half (even page positions), the check half and all questions.

    :param rankers: name -> (candidate list ``"chronorag"`` or ``"dense"``, ranker; ``None``: as retrieved).
    """
    page_position: dict[str, int] = {}
    for item in items:
        page_position.setdefault(item["question"].tags.get("page", ""), len(page_position))
    for kind, ranker in rankers.values():
        if ranker is not None:
            prime_texts(ranker, [doc for item in items for doc in item[kind]], cache)
    rows: dict[str, dict[str, list[dict[str, float]]]] = {name: {"tune": [], "check": []} for name in rankers}
    for item in items:
        question = item["question"]
        half = "tune" if page_position[question.tags.get("page", "")] % 2 == 0 else "check"
        for name, (kind, ranker) in rankers.items():
            docs = (
                item[kind][:5]
                if ranker is None
                else ranker.run(question.question, item[kind], item["constraint"], top_k=5)["documents"]
            )
            rows[name][half].append(ranked_metrics(question.answers, set(question.gold_ids), docs))
    return halves_table(rows)


def evaluation(args: argparse.Namespace) -> dict[str, Any]:
    """The rankers on the evaluation's candidates: ``dense+semantic``, ``mrag`` and ``chronorag``'s hybrid."""
    if not args.store:
        raise SystemExit("--what eval needs --store (the TimeQA store built by chronorag eval timeqa)")
    items = prepare_eval(args.data, Path(args.store), args.cache, args.candidates)
    weights = json.loads(args.hybrid) if args.hybrid else {}
    rankers: dict[str, tuple[str, SemanticTemporalRanker | None]] = {
        "dense": ("dense", None),
        "dense+semantic": ("dense", SemanticTemporalRanker(mode="semantic", cross_encoder=None)),
        "mrag": ("dense", SemanticTemporalRanker(mode="mrag", cross_encoder=None)),
        "chronorag": ("chronorag", SemanticTemporalRanker(mode="hybrid", cross_encoder=None, **weights)),
        # The speed variants of the default hybrid (benchmarks/bench_ranker.py times them).
        "chronorag fp32 sentences": (
            "chronorag",
            SemanticTemporalRanker(mode="hybrid", cross_encoder=None, sentence_int8=False, **weights),
        ),
        "chronorag all sentences of 10, fp32": (
            "chronorag",
            SemanticTemporalRanker(
                mode="hybrid", cross_encoder=None, sentence_int8=False, sentence_budget=None, **weights
            ),
        ),
        "chronorag passage level": (
            "chronorag",
            SemanticTemporalRanker(mode="hybrid", cross_encoder=None, sentence_candidates=0, **weights),
        ),
    }
    if args.systems:
        rankers = {name: value for name, value in rankers.items() if name in args.systems.split(",")}
    started = time.time()
    table = run_eval(items, rankers, args.cache)
    return {
        "data": "timeqa dev (chronorag eval timeqa's store and candidates)",
        "candidates": args.candidates,
        "questions": len(items),
        "split": "tune: questions of pages at even positions; check: odd (held out)",
        "hybrid_params": (
            rankers["chronorag"][1].to_dict()["init_parameters"] if rankers.get("chronorag") else None
        ),
        "results": table,
        "seconds": round(time.time() - started, 1),
    }


# --- RealTimeQA -----------------------------------------------------------------------------------
def run_realtimeqa(prepared: Any, systems: dict[str, tuple[Any, bool]], rows: list[int]) -> dict[str, Any]:
    """AR@5, gold-article R@5 and leak@5 per system; ``systems``: name -> (fusion module or None, as-of)."""
    import torch

    from chronorag.rankers.train_expander import as_of_top, contains_answer

    table: dict[str, Any] = {}
    for name, (module, as_of) in systems.items():
        answers, golds, leaks = [], [], []
        for row in rows:
            question = prepared.questions[row]
            query = prepared.query_vectors[row]
            if module is not None:
                selected = prepared.events.select(query, question.as_of, 8)
                with torch.no_grad():
                    fused, _ = module(
                        torch.from_numpy(query)[None],
                        torch.from_numpy(prepared.events.embeddings[selected.indices])[None],
                        torch.from_numpy(selected.ages.astype(np.float32))[None],
                    )
                query = fused[0].numpy()
            top = as_of_top(prepared, query, question.as_of if as_of else None, 5)
            answers.append(any(contains_answer(question.answer, prepared.corpus.texts[i]) for i in top))
            leaks.append(float(np.mean(prepared.corpus.days[top] > question.as_of.toordinal())))
            if question.gold_urls:
                golds.append(any(prepared.corpus.urls[i] in question.gold_urls for i in top))
        table[name] = {
            "AR@5": round(100 * float(np.mean(answers)), 1),
            "R@5_gold": round(100 * float(np.mean(golds)), 1) if golds else None,
            "leak@5": round(100 * float(np.mean(leaks)), 1),
            "n": len(answers),
            "n_gold": len(golds),
        }
    return table


def realtimeqa(args: argparse.Namespace) -> dict[str, Any]:
    from chronorag.rankers.cross_attention import CrossAttentionFusion
    from chronorag.rankers.train_expander import dev_weeks, prepare

    encoder = get_sentence_transformer(device="cpu")
    prepared = prepare(args.data, encoder, args.cache, args.passages_per_article)
    systems: dict[str, tuple[Any, bool]] = {
        "dense (no date filter)": (None, False),
        "dense (as of question_date)": (None, True),
        "dense+expander training-free (as of)": (
            CrossAttentionFusion(dim=prepared.passage_vectors.shape[1]).eval(),
            True,
        ),
    }
    if args.weights and Path(args.weights).exists():
        systems["dense+expander trained (as of)"] = (CrossAttentionFusion.load(args.weights), True)
    dev = set(dev_weeks([q.week for q in prepared.questions]))
    every = list(range(len(prepared.questions)))
    dev_rows = [i for i, q in enumerate(prepared.questions) if q.week in dev]
    return {
        "data": "realtimeqa 2022",
        "passages": len(prepared.corpus.texts),
        "passages_per_article": args.passages_per_article,
        "events": len(prepared.events),
        "questions": len(prepared.questions),
        "dev_weeks": sorted(dev),
        "results": {
            "all_weeks": run_realtimeqa(prepared, systems, every),
            "dev_weeks": run_realtimeqa(prepared, systems, dev_rows),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=["timeqa", "realtimeqa", "eval"], default="timeqa")
    parser.add_argument("--store", default="", help="the TimeQA store of chronorag eval (--what eval)")
    parser.add_argument("--candidates", type=int, default=20, help="candidates per first stage (--what eval)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "chronorag-rankers"
    )
    parser.add_argument("--hybrid", default="", help="JSON of SemanticTemporalRanker weights to try")
    parser.add_argument("--tune", action="store_true", help="grid-search the hybrid weights (TimeQA)")
    parser.add_argument("--systems", default="", help="comma-separated subset of the TimeQA systems")
    parser.add_argument("--weights", default="", help="trained expander weights (RealTimeQA)")
    parser.add_argument("--passages-per-article", type=int, default=3)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    configure_threads()
    handlers = {"timeqa": timeqa, "realtimeqa": realtimeqa, "eval": evaluation}
    result = handlers[args.what](args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"rankers_{args.what}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["results"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
