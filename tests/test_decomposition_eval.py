"""The real-data evaluations of decomposition and dating, with the targets of issue 3."""

from __future__ import annotations

from chronorag.evals.dating_eval import evaluate_dating
from chronorag.evals.decomposition_eval import (
    evaluate_situatedqa,
    evaluate_temprageval_relations,
    evaluate_timebench,
    run_all,
)


def test_situatedqa_targets(shared_data):
    result = evaluate_situatedqa(shared_data / "situatedqa" / "qa.temp.dev.jsonl")
    assert result["n"] > 3000
    assert result["relation_accuracy"] >= 0.98
    assert result["interval_accuracy"] >= 0.98
    assert result["content_accuracy"] >= 0.98


def test_timebench_targets(shared_data):
    paths = [shared_data / "timebench" / f"timeqa_{level}_500.jsonl" for level in ("easy", "hard")]
    result = evaluate_timebench(paths)
    assert result["n"] == 1000
    assert result["relation_accuracy"] >= 0.95
    assert result["interval_accuracy"] >= 0.95
    assert set(result["by_question_type"]) >= {
        "between_explicit",
        "in_implicit",
        "before_implicit",
        "after_implicit",
    }


def test_temprageval_agreement(shared_data):
    result = evaluate_temprageval_relations(
        shared_data / "temprageval_draft" / "TempRAGEval_draft_134rows.csv"
    )
    assert result["n"] == 134
    assert result["agreement"] >= 0.9
    assert result["confusion"]["before"] == {"before": 18}


def test_run_all_reports_missing_data(tmp_path):
    result = run_all(tmp_path)
    assert len(result["missing"]) == 4
    assert "situatedqa" not in result


def test_dating_on_a_slice(shared_data):
    paths = sorted((shared_data / "realtimeqa" / "search_results" / "2022").glob("*_gcs.jsonl.gz"))[:1]
    result = evaluate_dating(paths, limit=60)
    assert result["n"] == 60
    assert 0.0 <= result["within_30_days"] <= result["within_1_year"] <= 1.0
    assert result["coverage"] > 0.5
