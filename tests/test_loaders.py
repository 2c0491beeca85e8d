"""Loaders on the real shared data: counts, gold labels and the documented quirks."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from chronorag.evals.loaders import (
    DatasetNotFoundError,
    load_realtimeqa,
    load_situatedqa,
    load_timebench,
    load_timeqa,
    normalize_url,
    write_timeqa_subset,
)


@pytest.fixture(scope="module")
def timeqa(shared_data: Path):
    return load_timeqa(shared_data)


def test_timeqa_counts_and_unanswerable(timeqa) -> None:
    assert len(timeqa.questions) == 617
    assert timeqa.stats["unanswerable"] == 95
    assert sum(not q.answerable for q in timeqa.questions) == 95
    assert timeqa.stats["pages"] == 163 and timeqa.stats["paragraphs"] == 8087
    assert timeqa.stats["split_paragraphs"] > 0  # >200-word paragraphs are cut
    assert timeqa.corpus_format == "timeqa"
    relations = Counter(q.tags["relation"] for q in timeqa.questions)
    assert relations["between"] > 500 and relations["in"] > 40


def test_timeqa_gold_passages(timeqa) -> None:
    from chronorag.indexers.ingest import build_passages
    from chronorag.indexers.sources import read_timeqa

    passage_ids = {p.id for doc in read_timeqa(timeqa.corpus_files[0]) for p in build_passages(doc)}
    for question in timeqa.questions:
        if question.answerable:
            assert question.gold_ids and set(question.gold_ids) <= passage_ids
        else:
            assert question.gold_ids == [] and question.answers == []
    first = timeqa.questions[0]
    assert first.gold_ids == ["/wiki/Sabine_Hossenfelder#P937#5"]
    assert first.answers == ["University of Arizona , Tucson"]
    # One question's gold para is 0: the title, which is passage 0 of its page.
    assert any(g.endswith("#0") for q in timeqa.questions for g in q.gold_ids)
    # A gold paragraph over 200 words maps to every piece of it.
    assert any(any("." in g.rsplit("#", 1)[1] for g in q.gold_ids) for q in timeqa.questions)


def test_timeqa_subset_keeps_question_pages(timeqa, tmp_path: Path) -> None:
    questions = timeqa.questions[:3]
    files = write_timeqa_subset(timeqa, questions, tmp_path / "pages.json", max_pages=5, seed=1)
    pages = json.loads(Path(files[0]).read_text())
    assert len(pages) == 5
    assert {q.tags["page"] for q in questions} <= {p["index"] for p in pages}
    assert write_timeqa_subset(timeqa, questions, tmp_path / "all.json", None, 1) == timeqa.corpus_files


def _weeks_folder(shared_data: Path, tmp_path: Path, qa_weeks: list[str], result_weeks: list[str]) -> Path:
    """A data folder holding only some RealTimeQA weeks (symlinks), to keep the test fast."""
    root = tmp_path / "data" / "realtimeqa"
    for sub, weeks, suffix in (
        ("qa", qa_weeks, "_qa.jsonl"),
        ("search_results", result_weeks, "_gcs.jsonl.gz"),
    ):
        (root / sub / "2022").mkdir(parents=True)
        for week in weeks:
            os.symlink(
                shared_data / "realtimeqa" / sub / "2022" / f"{week}{suffix}",
                root / sub / "2022" / f"{week}{suffix}",
            )
    return tmp_path / "data"


def test_realtimeqa_two_weeks(shared_data: Path, tmp_path: Path) -> None:
    data = _weeks_folder(shared_data, tmp_path, ["20220617", "20220624"], ["20220617", "20220624"])
    dataset = load_realtimeqa(data)
    assert len(dataset.questions) == 59 and dataset.stats["duplicate_questions"] == 0
    assert dataset.stats["duplicate_urls_across_weeks"] == 10  # one copy of each article is kept
    assert dataset.corpus_format == "realtimeqa" and len(dataset.corpus_files) == 2
    first = dataset.questions[0]
    assert first.qid == "20220617_0" and str(first.as_of) == "2022-06-16"  # question_date "2022/06/16"
    assert first.choices[first.answer_index] == "“Squid Game”"
    assert first.answers == ["Squid Game"]  # display quotes stripped for answer matching
    # Its evidence links the gold article: found through the href.
    assert first.gold_doc_ids == ["https://www.cnn.com/2022/06/12/media/squid-game-season-2/index.html"]
    assert dataset.stats["empty_evidence"] > 0  # USA Today questions carry no evidence
    assert 0 < dataset.stats["questions_with_gold_article"] < len(dataset.questions)


def test_realtimeqa_week_without_results(shared_data: Path, tmp_path: Path) -> None:
    data = _weeks_folder(shared_data, tmp_path, ["20221021", "20221028"], ["20221021"])
    dataset = load_realtimeqa(data)
    assert dataset.stats["weeks_without_results"] == ["20221028"]
    assert {q.tags["week"] for q in dataset.questions} == {"20221021", "20221028"}


def test_normalize_url() -> None:
    assert normalize_url("https://www.cnn.com/2022/06/12/tech/x/index.html#:~:text=The%20company") == (
        "cnn.com/2022/06/12/tech/x/index.html"
    )
    assert normalize_url("http://edition.cnn.com/a/b/?utm=1") == "cnn.com/a/b"


def test_situatedqa(shared_data: Path) -> None:
    dataset = load_situatedqa(shared_data)
    assert len(dataset.questions) == 3423
    assert all(" as of " in q.question for q in dataset.questions)
    assert Counter(q.tags["date_type"] for q in dataset.questions)["sampled_year"] == 1020
    assert dataset.questions[0].extras["date"] == "2021"


def test_timebench(shared_data: Path) -> None:
    dataset = load_timebench(shared_data)
    assert len(dataset.questions) == 1000
    assert all(q.context for q in dataset.questions)
    assert {q.tags["relation"] for q in dataset.questions} == {"between", "in", "before", "after"}
    assert dataset.questions[0].qid == "timeqa_easy_500:0"


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="timeqa"):
        load_timeqa(tmp_path)
