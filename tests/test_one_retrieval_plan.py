"""One retrieval plan: the evaluation's ``chronorag`` system, the CLI, the REST API (plain and streaming)
and Python's ``ask``/``retrieve`` rank the same passages in the same order for the same question and store.

Everything is real: a TimeQA store built by ingestion, the pipeline YAML ``chronorag pipeline dump`` writes,
``chronorag ask`` in a subprocess, a uvicorn server on 127.0.0.1 and the evaluation's ``SystemSuite``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from conftest import build_timeqa_store

from chronorag.api.app import create_app
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings
from chronorag.evals.generation import run_generation
from chronorag.evals.metrics import max_exact_match
from chronorag.evals.records import score_ranking
from chronorag.evals.runner import EvalConfig
from chronorag.evals.systems import SystemSuite
from chronorag.evals.types import EvalDataset, EvalQuestion
from chronorag.pipeline import ask, load, retrieve

QUESTION = "Which team did Willy Hernangómez play for from 2015 to 2016?"
AS_OF = "2024-01-01"
TOP_K = 5


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict:
    root = tmp_path_factory.mktemp("plan")
    build_timeqa_store(root / "store", shared_data, 3)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHRONORAG_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("CHRONORAG_STORE", None)
    dumped = subprocess.run(
        [sys.executable, "-m", "chronorag.cli", "pipeline", "dump", "--store", "store", "-g", "extractive"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
    )
    assert dumped.returncode == 0, dumped.stderr
    (root / "pipeline.yaml").write_text(dumped.stdout, encoding="utf-8")
    return {"root": root, "env": env, "yaml": str(root / "pipeline.yaml"), "store": str(root / "store")}


def _ids(citations: list[dict]) -> list[str]:
    return [citation["id"] for citation in citations]


@pytest.mark.slow
def test_run_every_entry_point_ranks_the_same_passages(setup: dict) -> None:
    pipeline = load(setup["yaml"], store_path=setup["store"])
    expected = _ids(retrieve(pipeline, QUESTION, as_of=AS_OF, top_k=TOP_K)["citations"])
    assert len(expected) == TOP_K

    # Python ask: Haystack's own Pipeline.run over the whole graph.
    asked = ask(pipeline, QUESTION, as_of=AS_OF, top_k=TOP_K)
    assert _ids(asked["citations"]) == expected

    # The CLI, in its own process, from the dumped YAML.
    completed = subprocess.run(
        [sys.executable, "-m", "chronorag.cli", "ask", "--pipeline", "pipeline.yaml", "--store", "store"]
        + ["--as-of", AS_OF, "--top-k", str(TOP_K), "--json", QUESTION],
        capture_output=True,
        text=True,
        cwd=setup["root"],
        env=setup["env"],
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert _ids(json.loads(completed.stdout)["citations"]) == expected

    # The evaluation's chronorag system over the same YAML.
    suite = SystemSuite(setup["store"], pipeline_yaml=setup["yaml"])
    question = EvalQuestion(qid="q", question=QUESTION, answers=["x"], as_of=date.fromisoformat(AS_OF))
    assert [doc.id for doc in suite.retrieve("chronorag", suite.prepare(question), TOP_K)] == expected

    # The REST API, plain and streaming, serving the same YAML.
    app = create_app(setup["yaml"], setup["store"], ApiSettings())
    body = {"question": QUESTION, "as_of": AS_OF, "top_k": TOP_K}
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        deadline = time.monotonic() + 300
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        assert _ids(client.post("/v1/retrieve", json=body).json()["citations"]) == expected
        assert _ids(client.post("/v1/ask", json=body).json()["citations"]) == expected
        streamed = client.post("/v1/ask", json={**body, "stream": True})
        events = [
            dict(line.split(": ", 1) for line in block.splitlines()) for block in streamed.text.split("\n\n")
        ]
        by_name = {event["event"]: json.loads(event["data"]) for event in events if "event" in event}
        assert _ids(by_name["retrieval"]["citations"]) == expected
        assert _ids(by_name["done"]["citations"]) == expected


@pytest.mark.slow
def test_run_eval_answers_are_the_answers_ask_gives(setup: dict, tmp_path: Path) -> None:
    # The eval's EM/F1 must describe `ask`'s answer: the same pipeline object, its ranker's own passages.
    suite = SystemSuite(setup["store"], pipeline_yaml=setup["yaml"])
    question = EvalQuestion(
        qid="q", question=QUESTION, answers=["Real Madrid"], as_of=date.fromisoformat(AS_OF)
    )
    ranked = suite.retrieve("chronorag", suite.prepare(question), 20)
    records = {"q": score_ranking(question, ranked)}
    config = EvalConfig(dataset="timeqa", out_dir=tmp_path, pipeline_yaml=Path(setup["yaml"]), progress=False)
    dataset = EvalDataset(name="timeqa", questions=[question])
    result = run_generation(config, dataset, [question], records, suite)

    asked = ask(suite.pipeline, QUESTION, as_of=AS_OF)
    (answers_file,) = (tmp_path / "per_question").glob("answers-*.jsonl")
    cached = json.loads(answers_file.read_text().splitlines()[0])
    assert cached["reply"] == asked["answer"] and cached["short_answer"] == asked["short_answer"]
    assert result["ranking_agreement"] == 1.0
    assert result["metrics"]["q"]["EM"] == max_exact_match(asked["short_answer"] or "", ["Real Madrid"])
    assert result["latency_ms"]["p50"] > 0
