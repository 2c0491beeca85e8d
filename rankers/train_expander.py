"""Train the event expander's cross-attention on RealTimeQA 2022 (weekly news questions).

Data (``<data>/realtimeqa``): ``qa/*/*_qa.jsonl`` questions (question_date, question_sentence,
choices, answer index), ``search_results/*/*_gcs.jsonl.gz`` dated articles, ``gold_docs/*/*_gold.jsonl``
gold articles. Every article contributes its first ``passages_per_article`` passages of at most 200
words (title-prefixed, dated by publish_date) to one corpus, and one event: its title and lead.

For each question asked on day D:

- events: the ``top_events`` most related events dated on or before D (recent ones weigh more);
- positives: passages published on or before D that contain the correct choice's text (DPR token
  match), or passages of its gold articles published on or before D;
- hard negatives: the dense retriever's top passages (as of D) that do not contain the answer.

Loss: InfoNCE of the fused question embedding against its positive, its hard negatives and the other
questions' positives (temperature 0.05), plus ``aux_weight`` x cross-entropy of predicting the
question's month from the fused embedding (the auxiliary time-bucket task keeps time in the
embedding). Learned: the Q/K/V projections (identity at start), the age-encoding projection, the
temperature, the recency penalty and the gate.

Split by week: the last ``dev_fraction`` of the weeks (time order) is the dev set; metrics on it
(loss, AR@5 with as-of dense retrieval, leak@5) are written beside the weights in ``metrics.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import logging
import math
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from chronorag.rankers.cross_attention import CrossAttentionFusion
from chronorag.rankers.event_table import EventTable, _parse_day

logger = logging.getLogger(__name__)

MAX_WORDS = 200


# --- data ----------------------------------------------------------------------------------------
@dataclass
class Question:
    """A RealTimeQA question.

    :param qid: its id.
    :param week: the week's file stamp (``YYYYMMDD``).
    :param text: the question sentence.
    :param as_of: the question date.
    :param answer: the correct choice's text.
    :param gold_urls: URLs of its gold articles.
    """

    qid: str
    week: str
    text: str
    as_of: date
    answer: str
    gold_urls: set[str] = field(default_factory=set)


@dataclass
class Corpus:
    """Passages (title-prefixed texts), their day ordinals (0: undated) and source URLs, plus events."""

    texts: list[str]
    days: np.ndarray
    urls: list[str]
    event_texts: list[str]
    event_days: np.ndarray


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_questions(data: Path, weeks: Sequence[str] | None = None) -> list[Question]:
    """Every question with a parseable date and answer, gold URLs attached.

    :param data: the data folder holding ``realtimeqa/``.
    :param weeks: only these week stamps (``YYYYMMDD``); ``None``: all.
    :returns: questions in week order.
    """
    root = Path(data) / "realtimeqa"
    gold: dict[str, set[str]] = {}
    for path in sorted(root.glob("gold_docs/*/*_gold.jsonl")):
        for row in _read_jsonl(path):
            urls = {item.get("url", "") for item in row.get("search_result") or [] if item.get("url")}
            gold.setdefault(row["question_id"], set()).update(urls)
    questions = []
    for path in sorted(root.glob("qa/*/*_qa.jsonl")):
        week = path.name.split("_")[0]
        if weeks is not None and week not in weeks:
            continue
        for row in _read_jsonl(path):
            as_of = _parse_day(row.get("question_date"))
            try:
                answer = row["choices"][int(row["answer"][0])]
            except (KeyError, IndexError, ValueError, TypeError):
                continue
            if as_of is None or not str(answer).strip():
                continue
            questions.append(
                Question(
                    row["question_id"],
                    week,
                    html.unescape(row["question_sentence"]).strip(),
                    as_of,
                    str(answer).strip(),
                    gold.get(row["question_id"], set()),
                )
            )
    return questions


def read_corpus(
    data: Path, passages_per_article: int = 3, weeks: Sequence[str] | None = None, max_words: int = MAX_WORDS
) -> Corpus:
    """Every article once (first copy with text), split into its first passages, and one event each.

    :param data: the data folder holding ``realtimeqa/``.
    :param passages_per_article: passages kept per article (the lead carries the news).
    :param weeks: only the search results of these week stamps; ``None``: all.
    :param max_words: words per passage.
    :returns: the corpus.
    """
    root = Path(data) / "realtimeqa"
    texts, days, urls, event_texts, event_days = [], [], [], [], []
    seen: set[str] = set()
    for path in sorted(root.glob("search_results/*/*_gcs.jsonl.gz")):
        if weeks is not None and path.name.split("_")[0] not in weeks:
            continue
        for row in _read_jsonl(path):
            for article in row.get("search_result") or []:
                url, body = article.get("url") or "", (article.get("text") or "").strip()
                if not url or url in seen or not body:
                    continue
                seen.add(url)
                title = (article.get("title") or "").strip()
                day = _parse_day(article.get("publish_date"))
                ordinal = day.toordinal() if day else 0
                words = body.split()
                for start in range(0, min(len(words), passages_per_article * max_words), max_words):
                    chunk = " ".join(words[start : start + max_words])
                    texts.append(f"{title}. {chunk}" if title else chunk)
                    days.append(ordinal)
                    urls.append(url)
                if day is not None:
                    event_texts.append(f"{title}. {' '.join(words[:40])}" if title else " ".join(words[:40]))
                    event_days.append(ordinal)
    return Corpus(
        texts, np.array(days, dtype=np.int64), urls, event_texts, np.array(event_days, dtype=np.int64)
    )


def dev_weeks(weeks: Sequence[str], dev_fraction: float = 0.25) -> list[str]:
    """The last weeks (time order) held out for dev.

    :param weeks: week stamps.
    :param dev_fraction: share of weeks held out (at least one).
    :returns: the dev weeks.
    """
    ordered = sorted(set(weeks))
    count = max(1, int(math.ceil(len(ordered) * dev_fraction)))
    return ordered[-count:]


def question_week(question: Any) -> str:
    """The week stamp of a question (this module's :class:`Question` or an evals question with a qid)."""
    return getattr(question, "week", None) or str(question.qid).split("_")[0]


# --- answer matching (DPR has_answer: uncased word-token sequence match) --------------------------
_TOKEN = re.compile(r"[\w]+|[^\w\s]", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFD", text))]


def contains_answer(answer: str, text: str) -> bool:
    """True when the answer's tokens appear in order, contiguously, in the text.

    :param answer: the answer string.
    :param text: a passage.
    :returns: whether it matches.
    """
    needle, haystack = _tokens(answer), _tokens(text)
    if not needle:
        return False
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


# --- embeddings ---------------------------------------------------------------------------------------
def embed(texts: Sequence[str], encoder: Any, cache: Path | None, name: str) -> np.ndarray:
    """Normalised embeddings, cached under ``cache`` by a hash of the texts.

    :param texts: texts to embed.
    :param encoder: a SentenceTransformer.
    :param cache: a folder for ``.npy`` caches, or ``None``.
    :param name: cache file prefix.
    :returns: ``(n, dim)`` float32.
    """
    path = None
    if cache is not None:
        digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:16]
        path = Path(cache) / f"{name}-{digest}.npy"
        if path.exists():
            return np.load(path)
    started = time.time()
    vectors = encoder.encode(
        list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    ).astype(np.float32)
    logger.info("embedded %d %s texts in %.0f s", len(texts), name, time.time() - started)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


@dataclass
class Prepared:
    """Everything training and evaluation need, as arrays."""

    questions: list[Question]
    query_vectors: np.ndarray
    corpus: Corpus
    passage_vectors: np.ndarray
    events: EventTable


def prepare(
    data: Path,
    encoder: Any,
    cache: Path | None = None,
    passages_per_article: int = 3,
    weeks: Sequence[str] | None = None,
    max_words: int = MAX_WORDS,
) -> Prepared:
    """Read and embed questions, passages and events.

    :param data: the data folder.
    :param encoder: a SentenceTransformer.
    :param cache: embedding cache folder.
    :param passages_per_article: passages kept per article.
    :param weeks: only these weeks' questions and articles (a small slice); ``None``: all.
    :param max_words: words per passage.
    :returns: the prepared data.
    """
    questions = read_questions(data, weeks)
    corpus = read_corpus(data, passages_per_article, weeks, max_words)
    query_vectors = embed([q.text for q in questions], encoder, cache, "rtqa-q")
    passage_vectors = embed(corpus.texts, encoder, cache, "rtqa-p")
    event_vectors = embed(corpus.event_texts, encoder, cache, "rtqa-e")
    events = EventTable(corpus.event_texts, corpus.event_days, event_vectors)
    return Prepared(questions, query_vectors, corpus, passage_vectors, events)


def as_of_top(prepared: Prepared, query: np.ndarray, as_of: date | None, k: int) -> np.ndarray:
    """Dense top-k passages, restricted to those published on or before ``as_of`` (undated pass)."""
    scores = prepared.passage_vectors @ query
    if as_of is not None:
        scores = np.where(prepared.corpus.days > as_of.toordinal(), -np.inf, scores)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


# --- examples ------------------------------------------------------------------------------------------
@dataclass
class Examples:
    """Tensors-to-be for a set of questions (numpy; moved to torch in batches)."""

    index: np.ndarray  # question rows
    events: np.ndarray  # (n, top_events, dim)
    ages: np.ndarray  # (n, top_events)
    mask: np.ndarray  # (n, top_events)
    positive: np.ndarray  # (n, dim)
    negatives: np.ndarray  # (n, hard, dim)
    bucket: np.ndarray  # (n,)


def build_examples(
    prepared: Prepared,
    rows: Sequence[int],
    top_events: int = 8,
    hard: int = 8,
    pool: int = 50,
    half_life_days: float = 30.0,
    recency_weight: float = 0.1,
) -> Examples:
    """Events, a positive passage and hard negatives for every question that has a positive.

    :param prepared: the prepared data.
    :param rows: question rows to use.
    :param top_events: events per question.
    :param hard: hard negatives per question.
    :param pool: dense candidates mined for negatives (and positives).
    :param half_life_days: event recency half-life.
    :param recency_weight: event recency bonus.
    :returns: the examples.
    """
    dim = prepared.passage_vectors.shape[1]
    kept, event_rows, age_rows, mask_rows, positives, negatives, buckets = [], [], [], [], [], [], []
    base_month = min(q.as_of for q in prepared.questions)
    for row in rows:
        question = prepared.questions[row]
        query = prepared.query_vectors[row]
        candidates = as_of_top(prepared, query, question.as_of, pool)
        limit = question.as_of.toordinal()
        is_positive = [_is_positive(prepared, i, question, limit) for i in candidates]
        positive_rows = [i for i, ok in zip(candidates, is_positive, strict=True) if ok]
        if not positive_rows:
            positive_rows = [
                i
                for i, url in enumerate(prepared.corpus.urls)
                if url in question.gold_urls and 0 < prepared.corpus.days[i] <= limit
            ][:1]
        if not positive_rows:
            continue
        negative_rows = [i for i, ok in zip(candidates, is_positive, strict=True) if not ok][:hard]
        if len(negative_rows) < hard:
            continue
        selected = prepared.events.select(query, question.as_of, top_events, half_life_days, recency_weight)
        events = np.zeros((top_events, dim), dtype=np.float32)
        ages = np.zeros(top_events, dtype=np.float32)
        mask = np.zeros(top_events, dtype=bool)
        count = len(selected.indices)
        events[:count] = prepared.events.embeddings[selected.indices]
        ages[:count] = selected.ages
        mask[:count] = True
        kept.append(row)
        event_rows.append(events)
        age_rows.append(ages)
        mask_rows.append(mask)
        positives.append(prepared.passage_vectors[positive_rows[0]])
        negatives.append(prepared.passage_vectors[negative_rows])
        buckets.append((question.as_of.year - base_month.year) * 12 + question.as_of.month - base_month.month)
    if not kept:
        empty = np.zeros((0, dim), dtype=np.float32)
        return Examples(
            np.zeros(0, dtype=np.int64),
            empty.reshape(0, top_events, dim),
            np.zeros((0, top_events)),
            np.zeros((0, top_events), dtype=bool),
            empty,
            empty.reshape(0, hard, dim),
            np.zeros(0, dtype=np.int64),
        )
    return Examples(
        np.array(kept),
        np.stack(event_rows),
        np.stack(age_rows),
        np.stack(mask_rows),
        np.stack(positives),
        np.stack(negatives),
        np.array(buckets, dtype=np.int64),
    )


def _is_positive(prepared: Prepared, row: int, question: Question, limit: int) -> bool:
    day = int(prepared.corpus.days[row])
    if day > limit:
        return False
    if prepared.corpus.urls[row] in question.gold_urls and day > 0:
        return True
    return contains_answer(question.answer, prepared.corpus.texts[row])


# --- training ------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Training settings (defaults run on a CPU in minutes)."""

    epochs: int = 8
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.0
    aux_weight: float = 0.1
    temperature: float = 0.05
    top_events: int = 8
    hard_negatives: int = 8
    dev_fraction: float = 0.25
    seed: int = 0
    gate: float = 0.3


def _loss(
    module: CrossAttentionFusion, head: Any, batch: dict[str, Any], temperature: float, aux_weight: float
) -> tuple[Any, Any]:
    import torch
    import torch.nn.functional as F

    fused, _ = module(batch["query"], batch["events"], batch["ages"], batch["mask"])
    fused = F.normalize(fused, dim=-1)
    size = fused.shape[0]
    # Candidates: every positive in the batch (in-batch negatives) then this question's hard negatives.
    in_batch = fused @ batch["positive"].T
    hard = torch.einsum("bd,bhd->bh", fused, batch["negatives"])
    logits = torch.cat([in_batch, hard], dim=1) / temperature
    contrastive = F.cross_entropy(logits, torch.arange(size, device=fused.device))
    aux = F.cross_entropy(head(fused), batch["bucket"])
    return contrastive + aux_weight * aux, contrastive


def _batches(examples: Examples, query_vectors: np.ndarray, rows: np.ndarray, device: str) -> dict[str, Any]:
    import torch

    return {
        "query": torch.from_numpy(query_vectors[examples.index[rows]]).to(device),
        "events": torch.from_numpy(examples.events[rows]).to(device),
        "ages": torch.from_numpy(examples.ages[rows].astype(np.float32)).to(device),
        "mask": torch.from_numpy(examples.mask[rows]).to(device),
        "positive": torch.from_numpy(examples.positive[rows]).to(device),
        "negatives": torch.from_numpy(examples.negatives[rows]).to(device),
        "bucket": torch.from_numpy(examples.bucket[rows]).to(device),
    }


def train(
    prepared: Prepared,
    out: Path,
    config: TrainConfig | None = None,
    device: str = "auto",
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Train the fusion module, save ``expander.pt`` and ``metrics.json`` in ``out``.

    :param prepared: from :func:`prepare`.
    :param out: output folder.
    :param config: training settings.
    :param device: torch device or ``"auto"`` (the GPU when present).
    :param max_steps: stop after this many optimiser steps (tests).
    :returns: the metrics (train/dev loss before and after, dev AR@5 and leak@5, sizes).
    """
    import torch

    from chronorag.models import resolve_device

    config = config or TrainConfig()
    device = resolve_device(device)
    torch.manual_seed(config.seed)
    weeks = [q.week for q in prepared.questions]
    held_out = set(dev_weeks(weeks, config.dev_fraction))
    train_rows = [i for i, q in enumerate(prepared.questions) if q.week not in held_out]
    dev_rows = [i for i, q in enumerate(prepared.questions) if q.week in held_out]
    train_set = build_examples(prepared, train_rows, config.top_events, config.hard_negatives)
    dev_set = build_examples(prepared, dev_rows, config.top_events, config.hard_negatives)
    if len(train_set.index) < 2:
        raise ValueError("fewer than two training questions have a positive passage and hard negatives")
    dim = prepared.passage_vectors.shape[1]
    module = CrossAttentionFusion(dim=dim, gate=config.gate, temperature=config.temperature).to(device)
    buckets = int(max(train_set.bucket.max(initial=0), dev_set.bucket.max(initial=0))) + 1
    head = torch.nn.Linear(dim, buckets).to(device)
    optimiser = torch.optim.AdamW(
        list(module.parameters()) + list(head.parameters()), lr=config.lr, weight_decay=config.weight_decay
    )
    generator = np.random.default_rng(config.seed)

    def evaluate(examples: Examples) -> float:
        if len(examples.index) < 2:
            return float("nan")
        module.eval()
        with torch.no_grad():
            batch = _batches(examples, prepared.query_vectors, np.arange(len(examples.index)), device)
            _, contrastive = _loss(module, head, batch, config.temperature, config.aux_weight)
        module.train()
        return float(contrastive)

    metrics: dict[str, Any] = {
        "train_questions": len(train_set.index),
        "dev_questions": len(dev_set.index),
        "dev_weeks": sorted(held_out),
        "device": device,
        "train_loss_before": evaluate(train_set),
        "dev_loss_before": evaluate(dev_set),
    }
    steps, history = 0, []
    started = time.time()
    for _epoch in range(config.epochs):
        order = generator.permutation(len(train_set.index))
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            if len(rows) < 2:
                continue
            loss, _ = _loss(
                module,
                head,
                _batches(train_set, prepared.query_vectors, rows, device),
                config.temperature,
                config.aux_weight,
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                module.gate.clamp_(0.0, 1.0)
                module.log_temperature.clamp_(math.log(0.01), math.log(1.0))
            history.append(loss.item())
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        if max_steps is not None and steps >= max_steps:
            break
    metrics.update(
        {
            "steps": steps,
            "seconds": round(time.time() - started, 1),
            "loss_history": history,
            "train_loss_after": evaluate(train_set),
            "dev_loss_after": evaluate(dev_set),
            "gate": float(module.gate.detach()),
            "temperature": float(module.log_temperature.detach().exp()),
            "recency": float(module.recency.detach()),
        }
    )
    module = module.cpu().eval()
    metrics.update(retrieval_metrics(prepared, dev_rows, module, config.top_events))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    module.save(out / "expander.pt")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def retrieval_metrics(
    prepared: Prepared, rows: Sequence[int], module: CrossAttentionFusion, top_events: int = 8
) -> dict[str, float]:
    """Dev AR@5 and leak@5 of as-of dense retrieval with the plain, training-free and trained query.

    :param prepared: the prepared data.
    :param rows: question rows (the dev weeks).
    :param module: the trained fusion module.
    :param top_events: events per question.
    :returns: dev AR@5 (dense, free, trained) and leak@5 (trained), in percent.
    """
    import torch

    free = CrossAttentionFusion(dim=prepared.passage_vectors.shape[1]).eval()
    hits: dict[str, list[float]] = {"dense": [], "free": [], "trained": []}
    leaks = []
    for row in rows:
        question = prepared.questions[row]
        query = prepared.query_vectors[row]
        selected = prepared.events.select(query, question.as_of, top_events)
        vectors = {"dense": query}
        for name, fusion in (("free", free), ("trained", module)):
            with torch.no_grad():
                fused, _ = fusion(
                    torch.from_numpy(query)[None],
                    torch.from_numpy(prepared.events.embeddings[selected.indices])[None],
                    torch.from_numpy(selected.ages.astype(np.float32))[None],
                )
            vectors[name] = fused[0].numpy()
        for name, vector in vectors.items():
            top = as_of_top(prepared, vector, question.as_of, 5)
            hits[name].append(
                float(any(contains_answer(question.answer, prepared.corpus.texts[i]) for i in top))
            )
            if name == "trained":
                leaks.append(float(np.mean(prepared.corpus.days[top] > question.as_of.toordinal())))
    result = {
        f"dev_AR@5_{name}": round(100 * float(np.mean(values)), 1) if values else float("nan")
        for name, values in hits.items()
    }
    result["dev_leak@5_trained"] = round(100 * float(np.mean(leaks)), 1) if leaks else float("nan")
    result["dev_questions_all"] = len(rows)
    return result
