"""The shapes every evaluation loader returns: questions with their gold labels, and a passage corpus."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class EvalQuestion:
    """One evaluation question and everything needed to score it.

    :param qid: a stable id, unique within the data set (keys the per-question cache).
    :param question: the question as asked.
    :param answers: gold answers (empty strings removed); empty for unanswerable questions.
    :param as_of: the date the question is asked on (RealTimeQA's question_date), or ``None``.
    :param gold_ids: passage ids that are gold evidence (TimeQA paragraphs, RealTimeQA gold-article passages).
    :param gold_doc_ids: source-document ids that are gold (RealTimeQA articles), for R@k.
    :param evidence: gold evidence sentences (TempRAGEval), for ER@k by token match.
    :param choices: multiple-choice options (RealTimeQA), else empty.
    :param answer_index: index of the correct choice, or ``None``.
    :param context: a reading context given with the question (TimeBench), or ``None``.
    :param tags: slice labels for breakdowns (``source``, ``relation``, ``date_kind``, ``question_type``).
    :param extras: any other gold field a data set carries (SituatedQA's date, TimeBench's index).
    """

    qid: str
    question: str
    answers: list[str]
    as_of: date | None = None
    gold_ids: list[str] = field(default_factory=list)
    gold_doc_ids: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    answer_index: int | None = None
    context: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        """True when at least one non-empty gold answer exists."""
        return any(answer.strip() for answer in self.answers)


@dataclass
class EvalDataset:
    """A loaded data set: its questions, its retrieval corpus (may be none) and what the loader saw.

    The corpus is named as files and an ingestion format of :func:`chronorag.indexers.ingest.ingest`, so
    the store is built by the indexers' own readers and passage ids are theirs.

    :param name: the data set's name (``timeqa``, ``realtimeqa``, ...).
    :param questions: the questions, in a deterministic order.
    :param corpus_files: corpus files to ingest (empty: no retrieval corpus).
    :param corpus_format: their ingestion format (``timeqa``, ``realtimeqa``, ``jsonl``, ``csv``).
    :param stats: counts the loader measured (files read, unanswerable questions, duplicates dropped...).
    """

    name: str
    questions: list[EvalQuestion]
    corpus_files: list[str] = field(default_factory=list)
    corpus_format: str = "auto"
    stats: dict[str, Any] = field(default_factory=dict)
