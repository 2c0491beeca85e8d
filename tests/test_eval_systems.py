"""The evaluation's ``chronorag`` family: the shipped pipeline and its ablations, each the shipped `fast`
pipeline with one option changed, over a real TimeQA store."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_timeqa_store

from chronorag.evals.systems import ABLATION_OPTIONS, ABLATIONS, SystemSuite, UnknownSystemError


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> SystemSuite:
    store = tmp_path_factory.mktemp("systems") / "store"
    build_timeqa_store(store, shared_data, 1)
    return SystemSuite(str(store))


def test_every_ablation_changes_its_one_option(suite: SystemSuite) -> None:
    shipped = suite.system_pipeline("chronorag")
    assert suite.pipeline is shipped  # built once
    assert shipped.get_component("ranker").subject_check
    assert "answer_reranker" in shipped.graph.nodes
    no_subject = suite.system_pipeline("chronorag-no-subject-check")
    assert not no_subject.get_component("ranker").subject_check
    assert "answer_reranker" in no_subject.graph.nodes
    no_rerank = suite.system_pipeline("chronorag-no-answer-rerank")
    assert "answer_reranker" not in no_rerank.graph.nodes
    assert no_rerank.get_component("ranker").subject_check
    assert "expander" not in suite.system_pipeline("chronorag-no-events").graph.nodes
    assert set(ABLATIONS) == set(ABLATION_OPTIONS)


def test_unknown_system_names_are_refused(suite: SystemSuite) -> None:
    with pytest.raises(UnknownSystemError, match="chronorag-no-subject-check"):
        suite.system_pipeline("chronorag-no-ranker")
    with pytest.raises(UnknownSystemError):
        SystemSuite.check(["chronorag", "dense", "faster"])
    SystemSuite.check(["chronorag", *ABLATIONS])
