"""The TempRAGEval reader on the real 134-row draft (its quirks included) and on the published schema."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from chronorag.evals.metrics import has_answer
from chronorag.evals.temprageval import (
    TempRAGEvalFormatError,
    corpus_format,
    load_temprageval,
    read_temprageval,
    write_smoke_corpus,
)

PUBLISHED_COLUMNS = [
    "id", "question", "answer", "exact_time", "original_dataset", "gold_evidence_1", "gold_evidence_2",
    "time_relation",
]  # fmt: skip


@pytest.fixture(scope="module")
def draft(shared_data: Path) -> Path:
    path = shared_data / "temprageval_draft" / "TempRAGEval_draft_134rows.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def test_draft_counts_and_slices(draft: Path) -> None:
    questions, stats = read_temprageval(draft)
    assert len(questions) == stats["rows"] == 134
    assert (stats["key_date"], stats["perturbed"], stats["no_date"]) == (28, 77, 29)
    assert {q.tags["source"] for q in questions} == {"situatedqa", "timeqa"}
    assert sum(q.tags["source"] == "timeqa" for q in questions) == 65
    assert len({q.qid for q in questions}) == 134


def test_draft_newlines_inside_questions_are_squeezed(draft: Path) -> None:
    questions, stats = read_temprageval(draft)
    assert stats["questions_with_newlines"] == 14
    assert not any("\n" in q.question or q.question != q.question.strip() for q in questions)
    by_id = {q.qid: q for q in questions}
    assert by_id["5"].question == (
        "When was the last time the Dodgers played the Yankees in the World Series between 1979 and 1999?"
    )


def test_draft_answers_split_on_pipes(draft: Path) -> None:
    by_id = {q.qid: q for q in read_temprageval(draft)[0]}
    assert by_id["8"].answers == [
        "Maris and Mantle", "Mantle and Maris", "M&M Boys", "Mickey Mantle and Roger Maris",
        "Roger Maris and Mickey Mantle",
    ]  # fmt: skip
    assert by_id["50"].answers == ["Kent County, Maryland", "Kent County", "Maryland"]
    assert all(q.answers for q in by_id.values())


def test_draft_spreadsheet_autofill_is_undone(draft: Path) -> None:
    questions, stats = read_temprageval(draft)
    by_id = {q.qid: q for q in questions}
    assert stats["autofill_repaired"] == 5
    # Rows 3-7 had "... losing to them in 1982" .. "1986": the auto-filled years return to row 2's 1981.
    for qid in ("2", "3", "4", "5", "6", "7"):
        assert by_id[qid].evidence[-1].endswith("losing to them in 1981")
    assert by_id["1"].evidence and len(by_id["1"].evidence) == 1  # an empty gold_evidence_2 is dropped


def test_draft_relations_and_exact_time(draft: Path) -> None:
    by_id = {q.qid: q for q in read_temprageval(draft)[0]}
    assert by_id["2"].tags == {"source": "situatedqa", "relation": "as of", "date_kind": "key_date"}
    assert by_id["3"].tags["date_kind"] == "perturbed" and by_id["3"].extras["exact_time"] == 0
    assert by_id["1"].tags["relation"] == "none" and by_id["1"].tags["date_kind"] == "no_date"


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_published_schema_with_time_relation(tmp_path: Path) -> None:
    row = {
        "id": "7", "question": "Who coached the Bulls\nbefore 2018?", "answer": "Fred Hoiberg | Hoiberg",
        "exact_time": "1", "original_dataset": "timeqa", "gold_evidence_1": "Hoiberg coached the Bulls.",
        "gold_evidence_2": "", "time_relation": "before",
    }  # fmt: skip
    path = _write_csv(tmp_path / "TempRAGEval.csv", PUBLISHED_COLUMNS, [row])
    (question,), stats = read_temprageval(path)
    assert question.question == "Who coached the Bulls before 2018?"
    assert question.answers == ["Fred Hoiberg", "Hoiberg"]
    assert question.evidence == ["Hoiberg coached the Bulls."]
    assert question.tags == {"source": "timeqa", "relation": "before", "date_kind": "key_date"}
    assert stats["key_date"] == 1


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "bad.csv", ["id", "question", "answer"], [{"id": "1", "question": "q", "answer": "a"}]
    )
    with pytest.raises(TempRAGEvalFormatError, match="exact_time"):
        read_temprageval(path)


def test_corpus_formats(tmp_path: Path) -> None:
    from chronorag.indexers.sources import SourceDocument, read_source

    assert corpus_format("passages.jsonl") == "jsonl"
    assert corpus_format("psgs_w100.tsv") == "csv"
    with pytest.raises(ValueError, match="psgs_w100"):
        corpus_format("passages.parquet")
    # DPR's psgs_w100.tsv (id, text, title with a header) is read as it is by the indexers' reader.
    tsv = tmp_path / "psgs_w100.tsv"
    tsv.write_text('id\ttext\ttitle\n1\t"Aaron is a prophet, high priest."\tAaron\n', encoding="utf-8")
    (document,) = list(read_source(tsv, corpus_format(tsv)))
    assert isinstance(document, SourceDocument)
    assert (document.id, document.title, document.text) == ("1", "Aaron", "Aaron is a prophet, high priest.")


def test_smoke_corpus_holds_every_gold_sentence(draft: Path, tmp_path: Path) -> None:
    dataset = load_temprageval(draft)
    written = write_smoke_corpus(dataset.questions, draft, tmp_path / "smoke.jsonl")
    passages = [json.loads(line) for line in (tmp_path / "smoke.jsonl").read_text().splitlines()]
    assert written == len(passages) == len({p["text"] for p in passages}) == 47
    texts = [p["text"] for p in passages]
    for question in dataset.questions:
        assert any(has_answer(question.evidence, text) for text in texts), question.qid
