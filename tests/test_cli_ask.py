"""``chronorag pipeline dump`` and ``chronorag ask`` as a user runs them: subprocesses, a small real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

QUESTION = "What high school did Seoul-born Cho Yoon-sun attend from 1983 to 1984?"


@pytest.fixture(scope="module")
def store(shared_data, tmp_path_factory):
    """Two TimeQA pages (Cho Yoon-sun's and Sabine Hossenfelder's) indexed with the indexers' ingestion."""
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    pages = json.loads((shared_data / "timeqa" / "human_annotated_test.dev.json").read_text(encoding="utf-8"))
    chosen = [
        page
        for page in pages
        if page["index"].split("#")[0] in ("/wiki/Cho_Yoon-sun", "/wiki/Sabine_Hossenfelder")
    ]
    root = tmp_path_factory.mktemp("cli")
    (root / "pages.json").write_text(json.dumps(chosen), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    opened = open_store_for(str(root / "store"), model_id, dim)
    ingest([str(root / "pages.json")], opened, embed, fmt="timeqa", progress=False)
    opened.close()
    return root


def _chronorag(*args: str, cwd, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CHRONORAG_NUM_THREADS": "1",
        "HAYSTACK_TELEMETRY_ENABLED": "False",
    }
    env.pop("CHRONORAG_STORE", None)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "chronorag.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_pipeline_dump_writes_yaml_with_the_store_as_given(store):
    completed = _chronorag("pipeline", "dump", "--store", "store", "--generator", "extractive", cwd=store)
    assert completed.returncode == 0, completed.stderr
    data = yaml.safe_load(completed.stdout)
    assert (
        data["components"]["retriever"]["init_parameters"]["document_store"]["init_parameters"]["path"]
        == "store"
    )
    assert "generator" not in data["components"] and "extractor" in data["components"]


def test_pipeline_dump_to_a_file_with_the_accurate_preset(store):
    completed = _chronorag(
        "pipeline", "dump", "--store", "store", "--preset", "accurate", "--out", "p.yaml", cwd=store
    )
    assert completed.returncode == 0, completed.stderr
    components = yaml.safe_load((store / "p.yaml").read_text())["components"]
    assert "summarizer" in components and components["ranker"]["init_parameters"]["top_k"] == 8


def test_pipeline_dump_sets_any_build_option(store):
    completed = _chronorag(
        "pipeline", "dump", "--store", "store", "-g", "local", "-O", "answer_mode=read",
        "-O", "arbiter_margin=0.2", "-O", "llm_model=smollm2-135m", cwd=store,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    components = yaml.safe_load(completed.stdout)["components"]
    assert components["arbiter"]["init_parameters"]["time_margin"] == 0.2
    assert components["prompt_builder"]["init_parameters"]["mode"] == "read"
    bad = _chronorag("pipeline", "dump", "--store", "store", "-O", "no_such_option=1", cwd=store)
    assert bad.returncode != 0 and "no_such_option" in bad.stderr
    bad = _chronorag("pipeline", "dump", "--store", "store", "-O", "answer_mode", cwd=store)
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr


def test_ask_json_has_the_rest_shape_and_the_evidence(store):
    _chronorag(
        "pipeline", "dump", "--store", "elsewhere", "--generator", "extractive", "--out", "x.yaml", cwd=store
    )
    completed = _chronorag(
        "ask", "--pipeline", "x.yaml", "--store", "store", "--json", "--top-k", "3", QUESTION, cwd=store
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert {"answer", "short_answer", "abstained", "cited", "timeline", "citations", "constraint"} <= set(
        result
    )
    assert result["citations"][0]["id"] == "/wiki/Cho_Yoon-sun#P69#3" and len(result["citations"]) == 3
    assert "Sehwa Girls High School" in result["answer"] and result["abstained"] is False
    assert result["cited"][0]["id"] in {citation["id"] for citation in result["citations"]}
    assert result["constraint"]["start"] == "1983-01-01" and result["constraint"]["end"] == "1984-12-31"
    assert {"decompose", "expand", "embed", "retrieve", "rerank", "generate", "total"} <= set(
        result["timings_ms"]
    )


def test_ask_with_choices_answers_one_of_them(store):
    args = ["ask", "--store", "store", "--generator", "extractive", "--json", QUESTION]
    options = ["--choice", "Seoul National University", "--choice", "Sehwa Girls High School"]
    completed = _chronorag(*args, *options, cwd=store)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    # One passage writes both schools; the timeline knows which one holds for 1983-1984.
    assert result["choice"]["option"] == "Sehwa Girls High School" and result["choice"]["by"] == "timeline"
    one = _chronorag(*args, "--choice", "Sehwa Girls High School", cwd=store)
    assert one.returncode == 2 and "2 to 8 --choice" in one.stderr


def test_ask_prints_decomposition_evidence_and_answer_as_of_a_past_date(store):
    # The store comes from the environment; the table shows the reference time given by --as-of.
    completed = _chronorag(
        "ask",
        "--generator",
        "extractive",
        "--as-of",
        "2000-01-01",
        QUESTION,
        cwd=store,
        env_extra={"CHRONORAG_STORE": "store"},
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    for expected in (
        "decomposition",
        "reference time: 2000-01-01",
        "evidence",
        "answer",
        "timings (ms)",
        "Cho Yoon-sun",
        "Sehwa Girls High School",
    ):
        assert expected in out


def test_ask_errors_are_clear(store):
    no_store = _chronorag("ask", "--generator", "extractive", QUESTION, cwd=store)
    assert no_store.returncode == 2 and "CHRONORAG_STORE" in no_store.stderr
    missing = _chronorag("ask", "--pipeline", "missing.yaml", QUESTION, cwd=store)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_date = _chronorag("ask", "--store", "store", "--as-of", "someday", QUESTION, cwd=store)
    assert bad_date.returncode == 2 and "--as-of" in bad_date.stderr
