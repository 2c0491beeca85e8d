"""The pipeline end to end on a small real TimeQA store: build, dump to YAML, load in a fresh process, ask.

The store holds the first 8 TimeQA dev pages with at most 30 paragraphs (about 150 passages), built with
the indexers' ingestion. The question set is fixed: the first 12 answerable questions of those pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from haystack import Pipeline

from chronorag.pipeline import ask, build_pipeline, dumps, load, resolve_options, retrieve
from chronorag.pipeline.evidence import answer_contains

PAGES = 8
QUESTIONS = 12
MIN_EVIDENCE_RATE = 0.6  # gold paragraph among the top 3 cited passages
MIN_ANSWER_RATE = 0.25  # local-LLM answer contains the gold answer among questions whose evidence is right
# (measured 5/11 = 45% on this slice: the LLM phrases the span the code extracted, and TimeQA answers often
# sit in a sentence without the asked year, where the span heuristics miss them)


@pytest.fixture(scope="module")
def timeqa(shared_data, tmp_path_factory):
    """(store folder, [(question, gold answers, gold passage id)]) for the fixed slice."""
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    pages = json.loads((shared_data / "timeqa" / "human_annotated_test.dev.json").read_text(encoding="utf-8"))
    chosen = [page for page in pages if len(page["paras"]) <= 30][:PAGES]
    root = tmp_path_factory.mktemp("timeqa")
    source = root / "pages.json"
    source.write_text(json.dumps(chosen), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(root / "store"), model_id, dim)
    report = ingest([str(source)], store, embed, fmt="timeqa", progress=False)
    store.close()
    assert report.documents_written == PAGES
    questions = []
    for page in chosen:
        for question, answers in page["questions"]:
            golds = [answer["answer"] for answer in answers if answer["answer"]]
            if golds:
                questions.append((question, golds, f"{page['index']}#{answers[0]['para']}"))
    return root / "store", questions[:QUESTIONS]


@pytest.fixture(scope="module")
def extractive_pipeline(timeqa):
    return build_pipeline(str(timeqa[0]), generator="extractive")


def test_dump_has_no_machine_specific_values(timeqa, monkeypatch):
    monkeypatch.chdir(timeqa[0].parent)
    text = dumps(build_pipeline("store", preset="fast", generator="local"))
    data = yaml.safe_load(text)
    assert "site-packages" not in text and str(Path.home()) not in text and "/tmp" not in text
    components = data["components"]
    assert set(components) == {
        "decomposer",
        "anchor_resolver",
        "embedder",
        "expander",
        "retriever",
        "bm25_retriever",
        "fusion",
        "ranker",
        "answer_reranker",
        "extractor",
        "prompt_builder",
        "generator",
        "reading_dater",
        "arbiter",
        "answer_builder",
    }
    assert components["retriever"]["init_parameters"]["document_store"]["init_parameters"]["path"] == "store"
    for name, component in components.items():
        device = component["init_parameters"].get("device")
        assert device in (None, "auto"), name
    assert components["generator"]["init_parameters"]["model"] == "default"
    assert components["embedder"]["init_parameters"]["model"] == "default"


@pytest.mark.parametrize("preset", ["fast", "accurate", "reading"])
def test_every_component_round_trips(timeqa, preset):
    pipeline = build_pipeline(str(timeqa[0]), preset=preset, generator="local")
    for name, component in pipeline.graph.nodes(data="instance"):
        data = component.to_dict()
        assert type(component).from_dict(json.loads(json.dumps(data))).to_dict() == data, name
    loaded = Pipeline.loads(dumps(pipeline), allowed_modules=["chronorag.*"]).to_dict()
    original = pipeline.to_dict()
    assert loaded["components"] == original["components"]
    assert sorted(map(str, loaded["connections"])) == sorted(map(str, original["connections"]))


def test_presets_differ_as_documented(timeqa):
    fast, accurate = resolve_options("fast"), resolve_options("accurate")
    assert not fast["summarize"] and accurate["summarize"]
    assert accurate["retriever_top_k"] > fast["retriever_top_k"] and accurate["top_k"] > fast["top_k"]
    assert "summarizer" in dict(
        build_pipeline(str(timeqa[0]), preset="accurate", generator="local").graph.nodes
    )
    assert fast["resolve_anchors"] and accurate["resolve_anchors"]
    without = build_pipeline(str(timeqa[0]), generator="extractive", resolve_anchors=False)
    assert "anchor_resolver" not in without.graph.nodes
    assert ("decomposer", "ranker") in {(a, b) for a, b, _ in without.graph.edges(data=True)}
    with pytest.raises(ValueError, match="unknown pipeline options"):
        build_pipeline(str(timeqa[0]), colour="red")
    with pytest.raises(ValueError, match="unknown preset"):
        build_pipeline(str(timeqa[0]), preset="slow")


def test_the_ranker_reads_the_embedders_content_vector_and_the_sentence_level_per_preset(timeqa):
    for preset, sentence_level in (("fast", 0), ("reading", 0), ("accurate", 10)):
        pipeline = build_pipeline(str(timeqa[0]), preset=preset, generator="local")
        edges = {
            (a, b, data["from_socket"].name, data["to_socket"].name)
            for a, b, data in pipeline.graph.edges(data=True)
        }
        assert ("embedder", "ranker", "embedding", "content_embedding") in edges
        assert pipeline.get_component("ranker")._sentence_candidates == sentence_level
    assert (
        build_pipeline(str(timeqa[0]), generator="extractive").get_component("ranker")._sentence_candidates
        == 0
    )


def test_the_answer_reranker_sits_between_the_ranker_and_every_reader_of_the_evidence(timeqa):
    for preset in ("fast", "accurate"):
        pipeline = build_pipeline(str(timeqa[0]), preset=preset, generator="local")
        edges = {(a, b, data["to_socket"].name) for a, b, data in pipeline.graph.edges(data=True)}
        assert ("ranker", "answer_reranker", "documents") in edges
        readers = {b for a, b, socket in edges if a == "answer_reranker" and socket == "documents"}
        readers_of_ranker = {b for a, b, socket in edges if a == "ranker" and socket == "documents"}
        if preset == "accurate":
            assert "summarizer" in readers
        else:
            assert {"extractor", "prompt_builder", "answer_builder"} <= readers
        assert readers_of_ranker == {"answer_reranker"}
        assert pipeline.get_component("answer_reranker").passages == 3
        assert pipeline.get_component("answer_reranker").min_fit == 0.7
    off = build_pipeline(str(timeqa[0]), generator="extractive", answer_rerank_passages=0)
    assert "answer_reranker" not in off.graph.nodes
    assert ("ranker", "extractor") in {(a, b) for a, b, _ in off.graph.edges(data=True)}
    untimed = build_pipeline(str(timeqa[0]), generator="extractive", temporal_scoring=False)
    assert "answer_reranker" not in untimed.graph.nodes


def test_reading_presets_put_the_arbiter_between_the_llm_and_the_answer(timeqa):
    pipeline = build_pipeline(str(timeqa[0]), preset="reading", generator="local")
    edges = {(a, b, data["from_socket"].name) for a, b, data in pipeline.graph.edges(data=True)}
    assert ("generator", "arbiter", "replies") in edges
    # ... after the reading dater has dated a reading the timeline did not list
    assert ("extractor", "reading_dater", "candidates") in edges and (
        "generator",
        "reading_dater",
        "replies",
    ) in edges
    assert ("reading_dater", "arbiter", "candidates") in edges
    assert ("arbiter", "answer_builder", "candidates") in edges
    assert ("extractor", "answer_builder", "candidates") not in edges  # the arbiter decides the first
    # ... and passes the abstention on (a reading may settle a dispute between two sources)
    assert ("arbiter", "answer_builder", "abstention") in edges
    assert ("extractor", "answer_builder", "abstention") not in edges
    builder = pipeline.get_component("prompt_builder")
    assert builder.mode == "read" and builder.prefill_answer is False
    assert pipeline.get_component("arbiter").time_margin == 0.5 and builder.max_passage_chars == 200
    assert builder.examples == 4 and pipeline.get_component("arbiter").undated_stands is True
    assert ("prompt_builder", "generator", "examples") in edges
    assert pipeline.get_component("generator").model == "qwen2.5-coder-1.5b"
    # The default (fast) preset reads too, with the default LLM (the 1.5B), its preamble cached.
    default = build_pipeline(str(timeqa[0]), generator="local")
    assert default.get_component("prompt_builder").mode == "read"
    assert default.get_component("prompt_builder").max_passage_chars == 200
    assert default.get_component("generator").cache_preamble is True
    assert default.get_component("arbiter").time_margin == 0.5
    assert default.get_component("prompt_builder").examples == 4
    assert default.get_component("generator").model == "default"
    phrase = build_pipeline(str(timeqa[0]), generator="local", answer_mode="phrase")
    assert "reading_dater" not in phrase.graph.nodes
    assert "arbiter" not in phrase.graph.nodes and phrase.get_component("prompt_builder").mode == "phrase"
    with pytest.raises(ValueError, match="answer_mode"):
        build_pipeline(str(timeqa[0]), answer_mode="guess")


def test_auto_generator_falls_back_to_extractive_without_an_llm(monkeypatch, tmp_path):
    monkeypatch.delenv("CHRONORAG_LLM_API_BASE", raising=False)
    assert resolve_options("fast")["generator"] == "local"
    monkeypatch.setenv("CHRONORAG_LLM_GGUF", str(tmp_path / "absent.gguf"))
    assert resolve_options("fast")["generator"] == "extractive"
    monkeypatch.setenv("CHRONORAG_LLM_API_BASE", "http://127.0.0.1:8080/v1")
    assert resolve_options("fast")["generator"] == "openai"


def test_load_replaces_the_store_from_argument_or_environment(timeqa, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the relative store path must not land in the working tree
    text = dumps(build_pipeline("elsewhere", generator="extractive"))
    monkeypatch.delenv("CHRONORAG_STORE", raising=False)
    assert load(text, store_path=str(timeqa[0])).get_component("retriever").document_store.path == str(
        timeqa[0]
    )
    monkeypatch.setenv("CHRONORAG_STORE", str(timeqa[0]))
    loaded = load(text)
    assert loaded.get_component("bm25_retriever").document_store.path == str(timeqa[0])
    assert loaded.get_component("expander").store_path == str(timeqa[0])
    assert loaded.get_component("anchor_resolver").document_store.path == str(timeqa[0])


def test_ask_returns_the_rest_shape(timeqa, extractive_pipeline):
    question, golds, gold_id = timeqa[1][0]
    result = ask(extractive_pipeline, question, as_of="2020-06-01", top_k=4)
    assert set(result) == {
        "answer",
        "short_answer",
        "abstained",
        "abstention_reason",
        "cited",
        "reply_replaced",
        "replacement_reason",
        "reader",
        "timeline",
        "citations",
        "constraint",
        "choice",
        "timings_ms",
    }
    assert result["choice"] is None  # no options were given
    assert result["abstained"] or result["cited"], result  # an answer names its passages
    assert len(result["citations"]) == 4
    assert set(result["citations"][0]) == {
        "id",
        "title",
        "date",
        "snippet",
        "score",
        "semantic_score",
        "temporal_score",
        "matched_span",
        "answer_rerank",
    }
    # TimeQA questions carry an interval and the top passages mention years: the matched span is cited.
    assert any(
        citation["matched_span"] and citation["matched_span"]["text"] for citation in result["citations"]
    )
    assert (
        result["constraint"]["reference_time"] == "2020-06-01"
        and result["constraint"]["question"] == question
    )
    timings = result["timings_ms"]
    assert set(timings) == {"decompose", "expand", "embed", "retrieve", "rerank", "generate", "total"}
    assert timings["total"] >= timings["retrieve"] > 0 and timings["rerank"] > 0


def test_retrieve_gives_the_evidence_without_an_answer(timeqa, extractive_pipeline):
    question, _, gold_id = timeqa[1][0]
    result = retrieve(extractive_pipeline, question, top_k=3)
    assert result["answer"] is None and len(result["citations"]) == 3
    assert set(result["timings_ms"]) == {"decompose", "expand", "embed", "retrieve", "rerank", "total"}
    same = ask(extractive_pipeline, question, top_k=3)
    assert [c["id"] for c in result["citations"]] == [c["id"] for c in same["citations"]]


def test_filters_restrict_the_evidence(timeqa, extractive_pipeline):
    question, _, gold_id = timeqa[1][0]
    title = "Cho Yoon-sun"
    result = ask(
        extractive_pipeline, question, filters={"field": "meta.title", "operator": "==", "value": title}
    )
    assert result["citations"] and all(c["title"] == title for c in result["citations"])


_CHILD = textwrap.dedent(
    """
    import json, sys
    from haystack import Pipeline
    from chronorag.pipeline import ask, load

    path, questions = sys.argv[1], json.loads(sys.argv[2])
    # Haystack's own loader works in a fresh process with the chronorag allow-list...
    Pipeline.loads(open(path).read(), allowed_modules=["chronorag.*"])
    # ...and chronorag.pipeline.load is the same plus the store override.
    pipeline = load(path)
    for question in questions:
        print(json.dumps(ask(pipeline, question)), flush=True)
    """
)


@pytest.mark.slow
def test_yaml_loads_in_a_fresh_process_and_answers_timeqa(timeqa, tmp_path):
    store, questions = timeqa
    path = tmp_path / "pipeline.yaml"
    path.write_text(dumps(build_pipeline(str(store), preset="fast", generator="local")), encoding="utf-8")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CHRONORAG_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("CHRONORAG_STORE", None)
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), json.dumps([q for q, _, _ in questions])],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(questions)
    evidence_right, answered = [], []
    for (question, golds, gold_id), result in zip(questions, results, strict=True):
        top = [citation["id"] for citation in result["citations"][:3]]
        hit = any(answer_contains(result["answer"], gold) for gold in golds)
        print(
            f"evidence={gold_id in top} answer={hit} | {question} | gold {golds[0]!r} | {result['answer']!r}"
        )
        if gold_id in top:
            evidence_right.append(question)
            if hit:
                answered.append(question)
    evidence_rate = len(evidence_right) / len(questions)
    answer_rate = len(answered) / max(1, len(evidence_right))
    # Reported in the pytest summary with -rA / -s; the thresholds are the regression floor.
    print(
        f"TimeQA slice: gold passage in top 3 for {len(evidence_right)}/{len(questions)} "
        f"({evidence_rate:.0%}); "
        f"local-LLM answer contains the gold answer for {len(answered)}/{len(evidence_right)} of those "
        f"({answer_rate:.0%})"
    )
    assert evidence_rate >= MIN_EVIDENCE_RATE
    assert answer_rate >= MIN_ANSWER_RATE


def test_parse_option_pairs_reads_yaml_values_and_refuses_pairs_without_a_key():
    from chronorag.pipeline.builder import parse_option_pairs

    assert parse_option_pairs(["arbiter_margin=0.3", "abstain=false", "answer_mode=read"]) == {
        "arbiter_margin": 0.3,
        "abstain": False,
        "answer_mode": "read",
    }
    for bad in ("answer_mode", "=read"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_option_pairs([bad])
