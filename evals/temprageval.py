"""TempRAGEval, exactly as published: its CSV schema, its passage corpora and a smoke corpus.

The CSV columns are ``id, question, answer`` (answers joined by ``" | "``), ``exact_time`` (1: the
question carries the key date; 0: a perturbed date), ``original_dataset``, ``gold_evidence_1``,
``gold_evidence_2`` and ``time_relation`` (the early draft calls it ``time_specifier``; both are read).
Questions are sliced as MRAG does: no date (empty relation), key date (``exact_time`` 1) and
perturbed (``exact_time`` 0 with a relation).

The passage corpus is a JSONL file (``id, title, text``) or DPR's ``psgs_w100.tsv`` (``id\\ttext\\ttitle``
with a header); both are ingested by :mod:`chronorag.indexers.ingest`, which reads them natively.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

from chronorag.evals.types import EvalDataset, EvalQuestion

__all__ = ["corpus_format", "load_temprageval", "read_temprageval", "write_smoke_corpus"]

REQUIRED_COLUMNS = ("id", "question", "answer", "exact_time", "original_dataset", "gold_evidence_1")
_ANSWER_SEPARATOR = re.compile(r"\s+\|\s+")
_NUMBER = re.compile(r"\d+")


class TempRAGEvalFormatError(ValueError):
    """The CSV lacks a column of the TempRAGEval schema."""


def read_temprageval(path: str | Path) -> tuple[list[EvalQuestion], dict[str, Any]]:
    """Read a TempRAGEval CSV (final schema or the draft's) into questions.

    Quirks handled: questions and evidence may hold newlines (whitespace is squeezed); answers are
    split on ``" | "`` and empty parts dropped; a spreadsheet auto-fill that incremented a year in
    consecutive rows' gold evidence (the draft's "... losing to them in 1982", "... 1983") is undone
    by keeping the first value of the run, and counted.

    :param path: the CSV file.
    :returns: ``(questions, stats)``.
    :raises TempRAGEvalFormatError: when a required column is missing.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing or not columns & {"time_relation", "time_specifier"}:
            needed = missing + ([] if columns & {"time_relation", "time_specifier"} else ["time_relation"])
            raise TempRAGEvalFormatError(f"{path} lacks TempRAGEval column(s): {', '.join(needed)}")
        rows = list(reader)
    repaired = _undo_autofill(rows, "gold_evidence_1") + _undo_autofill(rows, "gold_evidence_2")
    questions = [_row_to_question(row) for row in rows]
    stats = {
        "rows": len(rows),
        "autofill_repaired": repaired,
        "questions_with_newlines": sum("\n" in row["question"] for row in rows),
        "key_date": sum(q.tags["date_kind"] == "key_date" for q in questions),
        "perturbed": sum(q.tags["date_kind"] == "perturbed" for q in questions),
        "no_date": sum(q.tags["date_kind"] == "no_date" for q in questions),
    }
    return questions, stats


def _squeeze(text: str | None) -> str:
    return " ".join((text or "").split())


def _row_to_question(row: dict[str, str]) -> EvalQuestion:
    relation = _squeeze(
        row.get("time_relation") if row.get("time_relation") is not None else row.get("time_specifier")
    )
    exact = _squeeze(row.get("exact_time")) == "1"
    kind = "no_date" if not relation else ("key_date" if exact else "perturbed")
    answers = [part.strip() for part in _ANSWER_SEPARATOR.split(_squeeze(row["answer"])) if part.strip()]
    evidence = [_squeeze(row.get(name)) for name in ("gold_evidence_1", "gold_evidence_2")]
    return EvalQuestion(
        qid=_squeeze(row["id"]),
        question=_squeeze(row["question"]),
        answers=list(dict.fromkeys(answers)),
        evidence=[sentence for sentence in evidence if sentence],
        tags={"source": _squeeze(row["original_dataset"]), "relation": relation or "none", "date_kind": kind},
        extras={"exact_time": int(exact)},
    )


def _undo_autofill(rows: list[dict[str, str]], column: str) -> int:
    """Undo runs where a cell repeats the previous row's with one number incremented by one."""
    repaired = 0
    previous_raw: str | None = None
    previous_value: str | None = None
    for row in rows:
        raw = row.get(column) or ""
        if previous_raw and raw and _is_increment(previous_raw, raw):
            row[column] = previous_value or raw
            repaired += 1
        previous_raw, previous_value = raw, row.get(column) or ""
    return repaired


def _is_increment(before: str, after: str) -> bool:
    if _NUMBER.sub("#", before) != _NUMBER.sub("#", after):
        return False
    old, new = _NUMBER.findall(before), _NUMBER.findall(after)
    changed = [(int(a), int(b)) for a, b in zip(old, new, strict=True) if a != b]
    return len(changed) == 1 and changed[0][1] - changed[0][0] == 1


def corpus_format(path: str | Path) -> str:
    """The ingestion format of a TempRAGEval passage corpus.

    :param path: a JSONL file (``id, title, text``) or DPR's ``psgs_w100.tsv``.
    :returns: ``"jsonl"`` or ``"csv"`` (the indexers' CSV reader reads tab-separated ``.tsv`` files).
    :raises ValueError: for another kind of file.
    """
    name = Path(path).name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "jsonl"
    if name.endswith((".tsv", ".tsv.gz")):
        return "csv"
    raise ValueError(f"{path}: a TempRAGEval corpus is a .jsonl file (id, title, text) or psgs_w100 .tsv")


def write_smoke_corpus(questions: list[EvalQuestion], rows_path: str | Path, out_path: str | Path) -> int:
    """Write a SMOKE corpus built from the CSV's own gold evidence (every row's evidence is every other
    row's distractor), for running the pipeline end to end without the real 21M-passage corpus.

    Numbers from it are not TempRAGEval results: the corpus is tiny and holds every gold sentence.

    :param questions: the questions read by :func:`read_temprageval`.
    :param rows_path: the CSV (its ``original_gold_evidence`` column, when present, adds passages).
    :param out_path: the JSONL file to write.
    :returns: the number of passages written.
    """
    texts = [sentence for question in questions for sentence in question.evidence]
    with open(rows_path, encoding="utf-8-sig", newline="") as handle:
        texts += [_squeeze(row.get("original_gold_evidence")) for row in csv.DictReader(handle)]
    unique = list(dict.fromkeys(text for text in texts if text))
    lines = "".join(
        json.dumps({"id": f"smoke-{number}", "title": "", "text": text}) + "\n"
        for number, text in enumerate(unique)
    )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Rewrite only on change: the file's identity names the store, which a re-run must find again.
    if not out.exists() or out.read_text(encoding="utf-8") != lines:
        out.write_text(lines, encoding="utf-8")
    return len(unique)


def load_temprageval(csv_path: str | Path, corpus: str | Path | None = None) -> EvalDataset:
    """TempRAGEval questions and (when given) the passage corpus to ingest.

    :param csv_path: the TempRAGEval CSV.
    :param corpus: a JSONL or psgs_w100 TSV corpus; ``None`` leaves the corpus to the caller (a store,
        or :func:`write_smoke_corpus`).
    :returns: the data set; ``stats["corpus"]`` names the corpus file and its ingestion format.
    """
    questions, stats = read_temprageval(csv_path)
    if corpus is not None:
        stats["corpus"] = {"path": str(corpus), "format": corpus_format(corpus)}
    stats["questions"] = len(questions)
    stats["csv"] = str(csv_path)
    return EvalDataset("temprageval", questions, stats=stats)
