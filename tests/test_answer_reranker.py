"""AnswerFitReranker: within one source, the passage holding the answer for the asked time goes first; a
passage of another source, or an untitled one, never moves."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import wait_ready
from haystack import Document

from chronorag.pipeline.answer_reranker import RERANK_META, AnswerFitReranker
from chronorag.temporal import decompose

QUESTION = "Who coached Riverton United from 2011 to 2013?"
INTRO = (
    "Riverton United is a football club from the town of Riverton. Jane Okafor coached the club from 2004 "
    "to 2008 and won the regional cup."
)
LATER = "Tom Hale coached Riverton United from 2011 to 2013, winning the league title in 2012."
STADIUM = "The club has played at Mill Lane since 1960; the ground holds 8,000 spectators."


def _documents(titles: tuple[str, str, str]) -> list[Document]:
    texts = (INTRO, STADIUM, LATER)
    return [
        Document(id=f"riverton#{number}", content=text, meta={"title": title})
        for number, (text, title) in enumerate(zip(texts, titles, strict=True), start=1)
    ]


@pytest.fixture(scope="module")
def reranker() -> AnswerFitReranker:
    component = AnswerFitReranker()
    component.warm_up()
    return component


def _rerank(
    reranker: AnswerFitReranker, documents: list[Document], question: str = QUESTION
) -> list[Document]:
    constraint = decompose(question, as_of=date(2024, 1, 1))
    return reranker.run(query=question, documents=documents, constraint=constraint)["documents"]


def test_to_dict():
    assert AnswerFitReranker(passages=4, min_fit=0.6).to_dict() == {
        "type": "chronorag.pipeline.answer_reranker.AnswerFitReranker",
        "init_parameters": {"passages": 4, "min_fit": 0.6, "spacy_model": "default"},
    }


def test_from_dict():
    restored = AnswerFitReranker.from_dict(AnswerFitReranker(passages=2, min_fit=0.5).to_dict())
    assert (restored.passages, restored.min_fit, restored.spacy_model) == (2, 0.5, "default")


@pytest.mark.parametrize("bad", [{"passages": -1}, {"min_fit": 1.5}, {"min_fit": -0.1}])
def test_init_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        AnswerFitReranker(**bad)


def test_run_moves_the_passage_holding_the_answer_of_the_same_source_first(reranker):
    documents = _documents(("Riverton United", "Riverton United", "Riverton United"))
    ranked = _rerank(reranker, documents)
    assert [doc.id for doc in ranked] == ["riverton#3", "riverton#1", "riverton#2"]
    why = ranked[0].meta[RERANK_META]
    assert why["from_rank"] == 3 and why["answer"] == "Tom Hale" and why["fit"] >= 0.9
    assert why["first_fit"] < 0.7 and why["time"] == "2011 to 2013"
    # The input passages are not edited; the others carry no explanation.
    assert RERANK_META not in documents[2].meta and all(RERANK_META not in doc.meta for doc in ranked[1:])


def test_run_never_moves_a_passage_of_another_source(reranker):
    documents = _documents(("Riverton United", "Riverton United", "Riverton Rovers"))
    assert [doc.id for doc in _rerank(reranker, documents)] == ["riverton#1", "riverton#2", "riverton#3"]


def test_run_never_moves_untitled_passages(reranker):
    documents = _documents(("", "", ""))
    assert [doc.id for doc in _rerank(reranker, documents)] == ["riverton#1", "riverton#2", "riverton#3"]


def test_run_reads_nothing_when_no_later_passage_shares_the_first_source():
    # Only a passage of the first's source may move: with none, no passage is parsed at all.
    from chronorag.pipeline import answer_timeline

    reranker = AnswerFitReranker()
    documents = _documents(("Riverton United", "Riverton Rovers", ""))
    answer_timeline._PARSES.clear()
    ranked = _rerank(reranker, documents)
    assert [doc.id for doc in ranked] == ["riverton#1", "riverton#2", "riverton#3"]
    assert len(answer_timeline._PARSES) == 0 and reranker._timeline._nlp is None


def test_run_keeps_a_first_passage_that_holds_an_answer_for_the_asked_time(reranker):
    documents = _documents(("Riverton United", "Riverton United", "Riverton United"))
    ranked = _rerank(reranker, documents, "Who coached Riverton United from 2005 to 2007?")
    assert [doc.id for doc in ranked] == ["riverton#1", "riverton#2", "riverton#3"]


def test_run_leaves_questions_without_a_time_alone(reranker):
    documents = _documents(("Riverton United", "Riverton United", "Riverton United"))
    ranked = _rerank(reranker, documents, "Who coached Riverton United?")
    assert [doc.id for doc in ranked] == ["riverton#1", "riverton#2", "riverton#3"]


def test_run_reads_only_its_top_passages():
    documents = _documents(("Riverton United", "Riverton United", "Riverton United"))
    two = AnswerFitReranker(passages=2)
    assert [doc.id for doc in _rerank(two, documents)] == ["riverton#1", "riverton#2", "riverton#3"]
    assert [doc.id for doc in _rerank(AnswerFitReranker(passages=0), documents)] == [
        "riverton#1",
        "riverton#2",
        "riverton#3",
    ]


def test_run_empty_and_blank_passages(reranker):
    constraint = decompose(QUESTION, as_of=date(2024, 1, 1))
    assert reranker.run(query=QUESTION, documents=[], constraint=constraint) == {"documents": []}
    blank = [
        Document(id="a", content="  ", meta={"title": "x"}),
        Document(id="b", content=LATER, meta={"title": "x"}),
    ]
    ranked = reranker.run(query=QUESTION, documents=blank, constraint=constraint)["documents"]
    assert [doc.id for doc in ranked] == ["a", "b"]


CONDOR_QUESTION = "The German charter airline Condor had who as its owner from 2006 to 2020?"


@pytest.fixture(scope="module")
def condor_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder) -> str:
    """The TimeQA dev page of Condor (airline) in a real store."""
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    pages = json.loads((shared_data / "timeqa" / "human_annotated_test.dev.json").read_text(encoding="utf-8"))
    condor = [page for page in pages if page["link"] == "/wiki/Condor_(airline)"]
    folder = tmp_path_factory.mktemp("condor")
    (folder / "condor.json").write_text(json.dumps(condor), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(folder / "store"), model_id, dim)
    try:
        ingest([str(folder / "condor.json")], store, embed, fmt="timeqa", progress=False)
    finally:
        store.close()
    return str(folder / "store")


def test_run_timeqa_page_retrieve_puts_the_owner_of_the_asked_years_first(condor_store):
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.asking import retrieve

    shipped = retrieve(build_pipeline(condor_store, generator="extractive"), CONDOR_QUESTION)
    without = retrieve(
        build_pipeline(condor_store, generator="extractive", answer_rerank_passages=0), CONDOR_QUESTION
    )
    # The ranker puts the 2020 sale to PGL first (its dates sit at the asked range's end); the passage
    # saying Thomas Cook Group owned Condor until then is of the same page, and goes first.
    assert "Thomas Cook" not in without["citations"][0]["snippet"]
    assert "Thomas Cook" in shipped["citations"][0]["snippet"]
    assert shipped["citations"][0]["id"] in {citation["id"] for citation in without["citations"][1:3]}
    assert sorted(c["id"] for c in shipped["citations"]) == sorted(c["id"] for c in without["citations"])
    why = shipped["citations"][0]["answer_rerank"]
    assert why["answer"] == "Thomas Cook Group" and why["from_rank"] in (2, 3)
    assert why["fit"] > why["first_fit"]
    assert all(citation["answer_rerank"] is None for citation in shipped["citations"][1:])


def test_run_rest_retrieve_and_ask_say_why_a_passage_was_moved(condor_store):
    import httpx

    from chronorag.api.app import create_app
    from chronorag.api.server import BackgroundServer
    from chronorag.api.settings import ApiSettings

    settings = ApiSettings(api_key="k", pipeline_options={"generator": "extractive"})
    with (
        BackgroundServer(create_app(None, condor_store, settings)) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        assert wait_ready(client)["status"] == "ready"
        response = client.post("/v1/retrieve", json={"question": CONDOR_QUESTION})
        assert response.status_code == 200
        first = response.json()["citations"][0]
        assert "Thomas Cook" in first["snippet"] and first["answer_rerank"]["answer"] == "Thomas Cook Group"
        asked = client.post("/v1/ask", json={"question": CONDOR_QUESTION}).json()
        assert asked["citations"][0]["id"] == first["id"] and "Thomas Cook" in asked["answer"]
