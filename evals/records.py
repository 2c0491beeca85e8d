"""Per-question results: what a system retrieved, scored once, cached as JSONL so runs can resume."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from haystack import Document

from chronorag.evals.metrics import first_hit_rank, hit_at_k, leak_at_k, ndcg_at_k
from chronorag.evals.types import EvalQuestion

__all__ = ["ResultCache", "retrieval_metrics", "score_ranking"]


def score_ranking(question: EvalQuestion, documents: Sequence[Document]) -> dict[str, Any]:
    """Score one system's ranking for one question, keeping what every metric needs (ranks, not only hits).

    :param question: the question with its gold labels.
    :param documents: the ranked passages, best first.
    :returns: a JSON-ready record: the ranked ids, their doc ids and dates, and the 0-based ranks of the
        first passage holding an answer, a gold evidence sentence, a gold passage and a gold document.
    """
    from chronorag.indexers import passage_text

    texts = [passage_text(doc) for doc in documents]
    doc_ids = [str((doc.meta or {}).get("doc_id") or doc.id) for doc in documents]
    gold_ids = set(question.gold_ids)
    gold_docs = set(question.gold_doc_ids)
    return {
        "ids": [doc.id for doc in documents],
        "doc_ids": doc_ids,
        "dates": [(doc.meta or {}).get("date") for doc in documents],
        "answer_rank": first_hit_rank(question.answers, texts) if question.answerable else None,
        "evidence_rank": _evidence_rank(question.evidence, texts),
        "gold_rank": next((rank for rank, doc in enumerate(documents) if doc.id in gold_ids), None),
        "gold_doc_rank": next((rank for rank, doc_id in enumerate(doc_ids) if doc_id in gold_docs), None),
        "evidence_hits": _evidence_hits(question.evidence, texts),
    }


def _evidence_hits(evidence: list[str], texts: list[str]) -> list[int | None] | None:
    """Per rank, the index of the first gold evidence sentence the passage holds (``None``: none)."""
    from chronorag.evals.metrics import has_answer

    sentences = [sentence for sentence in evidence if sentence.strip()]
    if not sentences:
        return None
    return [
        next((index for index, sentence in enumerate(sentences) if has_answer([sentence], text)), None)
        for text in texts
    ]


def _evidence_rank(evidence: list[str], texts: list[str]) -> int | None:
    sentences = [sentence for sentence in evidence if sentence.strip()]
    return first_hit_rank(sentences, texts) if sentences else None


def retrieval_metrics(
    dataset: str, question: EvalQuestion, record: dict[str, Any], ks: Sequence[int]
) -> dict:
    """The per-question values of every retrieval metric of ``dataset`` (absent when not applicable).

    - ``AR@k``: answerable questions only (TimeQA's unanswerable ones are excluded and counted).
    - ``ER@k``: TempRAGEval (evidence sentence) and TimeQA (gold paragraph), answerable questions.
    - ``R@k``: RealTimeQA, over questions with a gold article.
    - ``leak@k``: RealTimeQA, share of the top k published after the question's date.
    - ``nDCG@10``: over the gold units the data set has: TimeQA gold paragraphs, TempRAGEval evidence
      sentences, RealTimeQA gold articles (absent for a question without them).

    :param dataset: the data set's name.
    :param question: the question.
    :param record: its :func:`score_ranking` record.
    :param ks: the cut-offs.
    :returns: ``{metric: value}``.
    """
    from datetime import date

    values: dict[str, float] = {}
    if question.answerable:
        for k in ks:
            values[f"AR@{k}"] = hit_at_k(record["answer_rank"], k)
    if dataset == "temprageval" and question.evidence:
        for k in ks:
            values[f"ER@{k}"] = hit_at_k(record["evidence_rank"], k)
    if dataset == "timeqa" and question.answerable and question.gold_ids:
        for k in ks:
            values[f"ER@{k}"] = hit_at_k(record["gold_rank"], k)
    ndcg = _ndcg_units(dataset, question, record)
    if ndcg is not None:
        values["nDCG@10"] = ndcg_at_k(ndcg[0], ndcg[1], 10)
    if dataset == "realtimeqa":
        if question.gold_doc_ids:
            for k in ks:
                values[f"R@{k}"] = hit_at_k(record["gold_doc_rank"], k)
        if question.as_of is not None:
            dates = [date.fromisoformat(d[:10]) if d else None for d in record["dates"]]
            for k in ks:
                values[f"leak@{k}"] = leak_at_k(dates, question.as_of, k)
    return values


def _ndcg_units(
    dataset: str, question: EvalQuestion, record: dict[str, Any]
) -> tuple[list[str | None], list[str]] | None:
    """The ranked units and gold units nDCG is computed over, or ``None`` when the question has none."""
    if dataset == "timeqa" and question.answerable and question.gold_ids:
        return list(record["ids"]), list(question.gold_ids)
    if dataset == "temprageval" and record.get("evidence_hits") is not None:
        hits = record["evidence_hits"]
        count = sum(1 for sentence in question.evidence if sentence.strip())
        gold = [f"evidence-{index}" for index in range(count)]
        return [None if hit is None else f"evidence-{hit}" for hit in hits], gold
    if dataset == "realtimeqa" and question.gold_doc_ids:
        return list(record["doc_ids"]), list(question.gold_doc_ids)
    return None


class ResultCache:
    """Per-question records of one system in ``{folder}/{system}.jsonl``, appended as they are computed.

    :param folder: the folder of per-question files.
    :param system: the system name (file-safe: ``+`` is kept, ``/`` is not allowed in names).
    """

    def __init__(self, folder: Path, system: str) -> None:
        self.path = Path(folder) / f"{system}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict[str, Any]] = dict(self._read())

    def _read(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interrupted run: recomputed
                yield record["qid"], record

    def add(self, record: dict[str, Any]) -> None:
        """Keep and append one record (flushed at once, so an interrupted run loses nothing done).

        :param record: a record with ``qid``.
        """
        self.records[record["qid"]] = record
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
