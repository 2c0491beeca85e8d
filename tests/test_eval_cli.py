"""``chronorag eval`` end to end through the real command (subprocess), on small slices of the real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMS = ["bm25", "dense", "dense+semantic", "mrag", "chronorag"]


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHRONORAG_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "chronorag.cli", "eval", *args, "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def _check_metrics(report: dict) -> None:
    for system in report["systems"].values():
        for name, metric in system["metrics"].items():
            if metric["value"] is None:
                continue
            low, high = metric["ci95"]
            assert 0.0 <= low <= metric["value"] <= high <= 1.0, name


@pytest.mark.slow
def test_timeqa_small_run_every_system_and_resume(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval-out"
    args = (
        "timeqa",
        "--data-dir",
        str(shared_data),
        "--limit",
        "3",
        "--max-pages",
        "4",
        "--no-generate",
        "--k",
        "1,5,10",
        "--out",
        str(out),
    )
    result = _run(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"] == "timeqa" and report["n_questions"] == 3
    assert list(report["systems"]) == SYSTEMS
    for system in report["systems"].values():
        assert {"AR@1", "AR@5", "AR@10"} <= set(system["metrics"])
    _check_metrics(report)
    assert report["ingest"]["passages_written"] > 0
    assert (out / "ar_at_k.png").exists() and (out / "report.md").exists()
    lines = (out / "per_question" / "chronorag.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["constraint"]["relation"]
    # A second run reuses the store and the cached per-question results: nothing is recomputed.
    again = _run(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "per_question" / "chronorag.jsonl").read_text().splitlines() == lines
    assert json.loads((out / "report.json").read_text())["ingest"]["documents_unchanged"] == 4


@pytest.mark.slow
def test_temprageval_smoke_corpus_run(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "tre"
    result = _run(
        "temprageval",
        "--data-dir",
        str(shared_data),
        "--limit",
        "12",
        "--systems",
        "bm25,dense",
        "--no-generate",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert set(report["systems"]) == {"bm25", "dense"}
    assert {"AR@1", "ER@1", "ER@20"} <= set(report["systems"]["bm25"]["metrics"])
    assert any("SMOKE CORPUS" in note for note in report["notes"])
    assert "date_kind" in report["systems"]["bm25"]["slices"]
    _check_metrics(report)


@pytest.mark.slow
def test_temprageval_with_timeqa_distractor_pages(shared_data: Path, tmp_path: Path) -> None:
    # A mixed corpus: the draft's evidence sentences plus a seeded sample of two TimeQA pages.
    out = tmp_path / "mixed"
    args = ["temprageval", "--data-dir", str(shared_data), "--limit", "6", "--systems", "dense,chronorag"]
    args += ["--no-generate", "--out", str(out), "--distractor-docs", "2"]
    args += ["--distractors", str(shared_data / "timeqa" / "human_annotated_test.dev.json")]
    result = _run(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    groups = report["ingest"]["groups"]
    assert len(groups) == 2 and groups[1]["documents_written"] == 2  # the two sampled pages
    assert report["config"]["distractors"] and report["config"]["distractor_docs"] == 2
    assert "nDCG@10" in report["systems"]["chronorag"]["metrics"]
    _check_metrics(report)
    sample = next((out / "corpus").glob("distractors-timeqa-2-seed0.json"))
    assert len(json.loads(sample.read_text())) == 2
    missing = _run("temprageval", "--out", str(tmp_path / "z"), "--distractors", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "does not exist" in " ".join(missing.stderr.split())


def test_situatedqa_decomposition_run(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "sqa"
    result = _run("situatedqa", "--data-dir", str(shared_data), "--limit", "40", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["n_questions"] == 40
    metrics = report["systems"]["chronorag"]["metrics"]
    assert set(metrics) == {"relation_acc", "date_acc"} and metrics["relation_acc"]["n"] == 40
    _check_metrics(report)


def test_unknown_system_and_dataset_fail_clearly(tmp_path: Path) -> None:
    result = _run("timeqa", "--systems", "bm25,colbert", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "colbert" in result.stderr
    result = _run("nq", "--out", str(tmp_path / "y"))
    assert result.returncode == 2 and "unknown data set" in result.stderr
