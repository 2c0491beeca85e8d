"""Ranking on a mixed corpus through the shipped pipeline: relevance first, time reorders within it.

A real store built by ingestion (real MiniLM, real FAISS and SQLite) holds a few on-topic passages and
many off-topic ones whose dates fit the question's time perfectly; the pipeline is ``build_pipeline``'s
``fast`` preset, run by ``chronorag.pipeline.retrieve`` as the CLI and the REST API run it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder
from chronorag.pipeline import build_pipeline, retrieve
from chronorag.pipeline.retrieval import run_components, run_inputs

ON_TOPIC = [
    ("chelsea-1", "Chelsea F.C.", "Claudio Ranieri was the manager of Chelsea from 2000 to 2004."),
    ("chelsea-2", "Chelsea F.C.", "José Mourinho managed Chelsea from 2004 until September 2007."),
    ("chelsea-3", "Chelsea F.C.", "Carlo Ancelotti was Chelsea's manager from 2009 to 2011."),
]
# Off-topic passages that all mention 2005, the year asked about: a time-dominant ranker puts them first.
OFF_TOPIC = [
    (f"noise-{n}", title, f"In 2005 {text}")
    for n, (title, text) in enumerate(
        [
            ("Tomato", "the growers' union published a guide to watering tomatoes in dry summers."),
            ("Jazz festival", "the festival moved its main stage to the river bank."),
            ("Glacier", "scientists measured the glacier's retreat at forty metres a year."),
            ("Railway", "the branch line to the harbour closed to passengers."),
            ("Library", "the city library opened a second reading room for children."),
            ("Chess club", "the chess club won the regional team championship."),
            ("Bridge", "engineers repainted the suspension bridge in its original red."),
            ("Bakery", "the bakery began selling rye bread made with a century-old starter."),
            ("Observatory", "the observatory installed a new spectrograph on its main telescope."),
            ("Vineyard", "a late frost destroyed half of the vineyard's harvest."),
            ("Marathon", "the marathon course was changed to avoid the old town."),
            ("Museum", "the museum acquired a collection of Roman coins."),
        ]
    )
]


def _write_corpus(path: Path, records: list[tuple[str, str, str]], dated: bool = True) -> Path:
    lines = []
    for doc_id, title, text in records:
        record = {"id": doc_id, "title": title, "text": text}
        if dated:
            record["date"] = "2020-01-01"
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _store(folder: Path, records: list[tuple[str, str, str]], dated: bool = True) -> str:
    corpus = _write_corpus(folder / "corpus.jsonl", records, dated)
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(folder / "store"), model_id, dim)
    ingest([str(corpus)], store, embed, fmt="jsonl", progress=False)
    store.close()
    return str(folder / "store")


@pytest.fixture(scope="module")
def mixed_pipeline(tmp_path_factory: pytest.TempPathFactory):
    path = _store(tmp_path_factory.mktemp("mixed"), ON_TOPIC + OFF_TOPIC)
    return build_pipeline(path, preset="fast", generator="extractive")


def _doc_ids(result: dict) -> list[str]:
    return [citation["id"].split("#")[0] for citation in result["citations"]]


def test_run_relevance_comes_first_on_a_mixed_corpus(mixed_pipeline) -> None:
    result = retrieve(mixed_pipeline, "Who managed Chelsea in 2005?", as_of="2024-01-01", top_k=5)
    ids = _doc_ids(result)
    # The passage that fits both wins; no off-topic passage, however well dated, beats an on-topic one.
    assert ids[0] == "chelsea-2"
    assert set(ids[:3]) == {"chelsea-1", "chelsea-2", "chelsea-3"}
    explanation = result["citations"][0]
    assert explanation["temporal_score"] > 0.5 and explanation["semantic_score"] > 0.5


def test_run_time_reorders_within_the_relevant_passages(mixed_pipeline) -> None:
    ids = _doc_ids(retrieve(mixed_pipeline, "Who managed Chelsea in 2010?", as_of="2024-01-01", top_k=3))
    assert ids[0] == "chelsea-3"
    ids = _doc_ids(retrieve(mixed_pipeline, "Who managed Chelsea in 2001?", as_of="2024-01-01", top_k=3))
    assert ids[0] == "chelsea-1"


def test_run_the_semantically_best_passages_stay_in_the_candidate_pool(mixed_pipeline) -> None:
    # The time window adds every passage mentioning 2005; the pool must still hold the best by relevance.
    data = run_inputs(mixed_pipeline, "Who managed Chelsea in 2005?", as_of="2024-01-01")
    pool = run_components(mixed_pipeline, data, ["fusion"])["fusion"]["documents"]
    pool_ids = {doc.meta["doc_id"] for doc in pool}
    assert {"chelsea-1", "chelsea-2", "chelsea-3"} <= pool_ids
    assert sum(doc_id.startswith("noise") for doc_id in pool_ids) >= 10  # the window did add them


def test_run_a_question_with_only_a_time_is_ranked_by_time(mixed_pipeline) -> None:
    result = retrieve(mixed_pipeline, "What happened in 2005?", as_of="2024-01-01", top_k=5)
    assert result["citations"], "a ranked list, never an empty one"
    assert all(citation["temporal_score"] >= 0.6 for citation in result["citations"][:3])
    assert any("nothing but a time" in note for note in result["constraint"]["notes"])


def test_run_a_time_window_matching_nothing_still_ranks_and_says_so(mixed_pipeline) -> None:
    result = retrieve(mixed_pipeline, "Who managed Chelsea in 1850?", as_of="2024-01-01", top_k=3)
    assert set(_doc_ids(result)) == {"chelsea-1", "chelsea-2", "chelsea-3"}
    assert any(
        "no candidate passage mentions a time that fits" in note for note in result["constraint"]["notes"]
    )


def test_run_a_store_without_any_date_ranks_by_relevance_and_says_so(tmp_path: Path) -> None:
    undated = [(doc_id, title, text.replace("In 2005 ", "")) for doc_id, title, text in OFF_TOPIC]
    undated += [
        ("chelsea", "Chelsea F.C.", "The club's manager chose a younger squad for the league season.")
    ]
    pipeline = build_pipeline(_store(tmp_path, undated, dated=False), preset="fast", generator="extractive")
    result = retrieve(pipeline, "Who managed Chelsea in 2005?", as_of="2024-01-01", top_k=3)
    assert _doc_ids(result)[0] == "chelsea"
    assert any("no candidate passage carries a date" in note for note in result["constraint"]["notes"])
