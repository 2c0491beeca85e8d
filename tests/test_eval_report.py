"""Report aggregation, its JSON shape, Markdown, plots and the per-question records, on hand-made results."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest
from haystack import Document

from chronorag.evals.metrics import ndcg_at_k
from chronorag.evals.records import ResultCache, retrieval_metrics, score_ranking
from chronorag.evals.report import aggregate, metric_order, render_markdown, write_reports
from chronorag.evals.runner import EvalConfig, select_questions
from chronorag.evals.types import EvalDataset, EvalQuestion


def _question(
    qid: str, answers: list[str], tags: dict[str, str], gold: list[str] | None = None
) -> EvalQuestion:
    return EvalQuestion(qid=qid, question=f"question {qid}?", answers=answers, gold_ids=gold or [], tags=tags)


def test_metric_order() -> None:
    names = ["F1", "AR@10", "ER@1", "AR@5", "AR@1", "leak@5", "R@5", "EM"]
    assert metric_order(names) == ["AR@1", "AR@5", "AR@10", "ER@1", "R@5", "leak@5", "EM", "F1"]


def test_aggregate_counts_only_applicable_questions() -> None:
    rows = [{"AR@1": 1.0, "AR@5": 1.0}, {"AR@1": 0.0, "AR@5": 1.0}, {}]  # the third is unanswerable
    result = aggregate(rows, bootstrap=200, seed=0)
    assert result["AR@1"]["value"] == 0.5 and result["AR@1"]["n"] == 2
    assert result["AR@5"]["value"] == 1.0 and result["AR@5"]["ci95"] == [1.0, 1.0]


def test_score_ranking_and_timeqa_metrics() -> None:
    question = _question("q", ["Chicago Bulls"], {}, gold=["page#3"])
    hoiberg = {"title": "Fred Hoiberg", "doc_id": "page"}
    documents = [
        Document(id="page#1", content="Hoiberg played in Iowa.", meta=hoiberg),
        Document(id="other#2", content="The Chicago Bulls won.", meta={"title": "Bulls", "doc_id": "other"}),
        Document(id="page#3", content="He coached the Chicago Bulls.", meta=hoiberg),
    ]
    record = score_ranking(question, documents)
    assert (record["answer_rank"], record["gold_rank"]) == (1, 2)
    metrics = retrieval_metrics("timeqa", question, record, [1, 2, 3])
    ndcg = metrics.pop("nDCG@10")
    assert metrics == {"AR@1": 0.0, "AR@2": 1.0, "AR@3": 1.0, "ER@1": 0.0, "ER@2": 0.0, "ER@3": 1.0}
    assert ndcg == pytest.approx(0.5)  # the one gold passage at rank 3: 1 / log2(4)
    unanswerable = _question("u", [], {})
    assert retrieval_metrics("timeqa", unanswerable, score_ranking(unanswerable, documents), [1]) == {}


def test_answer_matching_sees_the_title() -> None:
    # AR@k matches over title + text, as MRAG does: the answer may be the page's title.
    question = _question("q", ["Fred Hoiberg"], {})
    documents = [Document(id="p#1", content="He coached the Bulls.", meta={"title": "Fred Hoiberg"})]
    assert score_ranking(question, documents)["answer_rank"] == 0


def test_realtimeqa_metrics_recall_and_leak() -> None:
    question = EvalQuestion(
        qid="w_0",
        question="q?",
        answers=["Squid Game"],
        as_of=date(2022, 6, 16),
        gold_doc_ids=["https://cnn.com/a"],
    )
    later = {"doc_id": "https://cnn.com/b", "date": "2022-06-20"}
    gold = {"doc_id": "https://cnn.com/a", "date": "2022-06-12"}
    documents = [
        Document(id="https://cnn.com/b#0", content="x", meta=later),
        Document(id="https://cnn.com/a#0", content="Squid Game is back", meta=gold),
    ]
    metrics = retrieval_metrics("realtimeqa", question, score_ranking(question, documents), [1, 2])
    assert metrics.pop("nDCG@10") == pytest.approx(1 / math.log2(3))  # the gold article at rank 2
    assert metrics == {"AR@1": 0.0, "AR@2": 1.0, "R@1": 0.0, "R@2": 1.0, "leak@1": 1.0, "leak@2": 0.5}


def test_temprageval_evidence_metric() -> None:
    question = EvalQuestion(qid="1", question="q?", answers=["1981"], evidence=["losing to them in 1981"])
    documents = [
        Document(id="a", content="They lost to them in 1981."),
        Document(id="b", content="Losing to them in 1981!"),
    ]
    metrics = retrieval_metrics("temprageval", question, score_ranking(question, documents), [1, 2])
    assert metrics.pop("nDCG@10") == pytest.approx(1 / math.log2(3))
    assert metrics == {"AR@1": 1.0, "AR@2": 1.0, "ER@1": 0.0, "ER@2": 1.0}


def test_ndcg_counts_each_gold_unit_once() -> None:
    # Two passages holding the same evidence sentence earn it once; the ideal ranking holds both units.
    assert ndcg_at_k(["e0", "e0", None, "e1"], ["e0", "e1"], 10) == pytest.approx(
        (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    )
    assert ndcg_at_k([None, None], ["e0"], 10) == 0.0 and ndcg_at_k(["e0"], [], 10) == 0.0
    assert ndcg_at_k([None, "e0"], ["e0"], 1) == 0.0


def test_result_cache_resumes_and_skips_a_cut_line(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, "chronorag+events")
    cache.add({"qid": "a", "metrics": {"AR@1": 1.0}})
    cache.add({"qid": "b", "metrics": {"AR@1": 0.0}})
    with open(cache.path, "a", encoding="utf-8") as handle:
        handle.write('{"qid": "c", "metr')  # an interrupted write
    again = ResultCache(tmp_path, "chronorag+events")
    assert set(again.records) == {"a", "b"}


def test_select_questions_is_seeded_and_ordered() -> None:
    questions = [_question(str(i), ["a"], {}) for i in range(50)]
    first = select_questions(questions, 10, seed=4)
    assert [q.qid for q in first] == [q.qid for q in select_questions(questions, 10, seed=4)]
    assert [int(q.qid) for q in first] == sorted(int(q.qid) for q in first)
    assert len(first) == 10 and select_questions(questions, None, 0) == questions


@pytest.fixture()
def written_report(tmp_path: Path) -> dict:
    tags = [
        {"relation": "between", "date_kind": "key_date"},
        {"relation": "in", "date_kind": "perturbed"},
        {"relation": "between", "date_kind": "perturbed"},
    ]
    questions = [_question(str(i), ["x"], tag) for i, tag in enumerate(tags)]
    ar = {"bm25": [1.0, 0.0, 0.0], "chronorag": [1.0, 1.0, 0.0]}
    records = {
        system: {q.qid: {"metrics": {"AR@1": v, "AR@5": 1.0}} for q, v in zip(questions, values, strict=True)}
        for system, values in ar.items()
    }
    generation = {
        "system": "chronorag",
        "description": "test reader",
        "metrics": {q.qid: {"EM": 0.0, "F1": 0.5} for q in questions},
    }
    results = {"kind": "retrieval", "records": records, "generation": generation, "seconds": 1.0}
    config = EvalConfig(dataset="temprageval", out_dir=tmp_path, bootstrap=200)
    dataset = EvalDataset("temprageval", questions, stats={"questions": 3})
    return write_reports(config, dataset, questions, results)


def test_report_json_shape(written_report: dict, tmp_path: Path) -> None:
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dataset"] == "temprageval" and report["n_questions"] == 3
    assert set(report["systems"]) == {"bm25", "chronorag"}
    chronorag = report["systems"]["chronorag"]["metrics"]
    assert chronorag["AR@1"]["value"] == pytest.approx(2 / 3)
    assert chronorag["EM"]["value"] == 0.0 and chronorag["F1"]["value"] == 0.5
    assert "EM" not in report["systems"]["bm25"]["metrics"]  # the reader reads chronorag's passages only
    for system in report["systems"].values():
        for metric in system["metrics"].values():
            low, high = metric["ci95"]
            assert 0.0 <= low <= metric["value"] <= high <= 1.0
    slices = report["systems"]["bm25"]["slices"]
    assert slices["date_kind"]["perturbed"]["n_questions"] == 2
    assert slices["relation"]["between"]["metrics"]["AR@1"]["value"] == 0.5


def test_report_markdown_and_plots(written_report: dict, tmp_path: Path) -> None:
    markdown = (tmp_path / "report.md").read_text()
    assert "| system | AR@1 | AR@5 | EM | F1 |" in markdown
    assert "| chronorag | 66.7 [" in markdown
    assert "### date_kind = perturbed (2 questions)" in markdown
    assert markdown == render_markdown(written_report)
    for name in ("ar_at_k.png", "by_relation.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
