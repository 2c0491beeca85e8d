"""ChronoEmbeddingRetriever, ChronoBM25Retriever and ReciprocalRankFusion on a real store and model."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from haystack import Document, Pipeline

from chronorag.indexers import (
    ChronoBM25Retriever,
    ChronoDocumentStore,
    ChronoEmbeddingRetriever,
    ReciprocalRankFusion,
    passage_text,
)
from chronorag.temporal.model import Interval, Relation, TemporalConstraint

PASSAGES = [
    ("c1", "Arsenal", "Arsène Wenger managed the club and won the double.", "2004-05-01", (1996, 2018)),
    ("c2", "Arsenal", "Mikel Arteta was appointed head coach of the club.", "2020-01-01", (2019, 2024)),
    ("c3", "Arsenal", "Unai Emery coached the team for one season and a half.", "2019-12-01", (2018, 2019)),
    ("c4", "Gardening", "Tomatoes need sun and regular watering in the summer.", None, None),
    (
        "c5",
        "Highbury",
        "The old stadium in north London was used for football until 2006.",
        "2007-01-01",
        (1913, 2006),
    ),
    ("c6", "Arsenal", "George Graham was the manager who won the league title.", "1991-06-01", (1986, 1995)),
]


def _constraint(interval: Interval | None, reference: date) -> TemporalConstraint:
    return TemporalConstraint(
        question="Who was the manager of Arsenal?",
        content="Who was the manager of Arsenal?",
        relation=Relation.IN if interval else Relation.NONE,
        interval=interval,
        ordinal=None,
        reference_time=reference,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("retrievers") / "store"
    docs = []
    for pid, title, content, day, years in PASSAGES:
        meta = {"title": title, "doc_id": pid}
        if day:
            meta["date"] = day
        if years:
            meta["time_spans"] = [Interval.years(*years).to_dict()]
        docs.append(Document(id=pid, content=content, meta=meta))
    vectors = embedder.encode([passage_text(d) for d in docs], normalize_embeddings=True)
    docs = [replace(doc, embedding=vector.tolist()) for doc, vector in zip(docs, vectors, strict=True)]
    s = ChronoDocumentStore(str(path))
    s.write_documents(docs)
    yield s
    s.close()


@pytest.fixture(scope="module")
def query_embedding(embedder):
    return embedder.encode("Who was the manager of Arsenal?", normalize_embeddings=True).tolist()


def test_run_without_constraint(store, query_embedding):
    documents = ChronoEmbeddingRetriever(store, top_k=3).run(query_embedding=query_embedding)["documents"]
    assert len(documents) == 3
    assert "c4" not in {d.id for d in documents}
    assert documents[0].score >= documents[-1].score
    # Stored vectors come along so the reranker need not encode the candidates again.
    assert all(d.embedding is not None and len(d.embedding) == len(query_embedding) for d in documents)
    bare = ChronoEmbeddingRetriever(store, top_k=3, return_embedding=False).run(
        query_embedding=query_embedding
    )
    assert all(d.embedding is None for d in bare["documents"])


def test_bm25_run_returns_stored_vectors(store):
    documents = ChronoBM25Retriever(store, top_k=3).run(query="Arsenal manager coach")["documents"]
    assert documents and all(d.embedding is not None for d in documents)


def test_run_never_returns_passages_published_after_reference_time(store, query_embedding):
    retriever = ChronoEmbeddingRetriever(store, top_k=6)
    documents = retriever.run(query_embedding, constraint=_constraint(None, date(2005, 1, 1)))["documents"]
    ids = {d.id for d in documents}
    assert ids == {"c1", "c4", "c6"}  # c4 is undated: it passes
    everything = ChronoEmbeddingRetriever(store, top_k=6, respect_reference_time=False)
    assert (
        len(everything.run(query_embedding, constraint=_constraint(None, date(2005, 1, 1)))["documents"]) == 6
    )


def test_run_adds_time_fitting_passages(store, query_embedding):
    retriever = ChronoEmbeddingRetriever(store, top_k=1, time_top_k=2)
    constraint = _constraint(Interval.years(1988, 1990), date(2030, 1, 1))
    documents = retriever.run(query_embedding, constraint=constraint)["documents"]
    by_id = {d.id: d for d in documents}
    assert "c6" in by_id and by_id["c6"].meta["in_time_window"] is True
    assert len(documents) <= 3
    assert [d.score for d in documents] == sorted((d.score for d in documents), reverse=True)


def test_run_with_filters_and_top_k(store, query_embedding):
    retriever = ChronoEmbeddingRetriever(
        store, top_k=5, filters={"field": "meta.title", "operator": "==", "value": "Arsenal"}
    )
    documents = retriever.run(query_embedding, top_k=2)["documents"]
    assert len(documents) == 2 and all(d.meta["title"] == "Arsenal" for d in documents)
    override = {"field": "meta.title", "operator": "==", "value": "Highbury"}
    assert [d.id for d in retriever.run(query_embedding, filters=override)["documents"]] == ["c5"]


def test_embedding_retriever_to_dict_from_dict(store):
    retriever = ChronoEmbeddingRetriever(store, top_k=4, time_top_k=2, respect_reference_time=False)
    data = retriever.to_dict()
    assert data["init_parameters"]["document_store"] == store.to_dict()
    assert data["init_parameters"]["top_k"] == 4
    clone = ChronoEmbeddingRetriever.from_dict(data)
    assert clone.top_k == 4 and clone.time_top_k == 2 and clone.respect_reference_time is False
    assert clone.document_store.count_documents() == len(PASSAGES)


def test_bm25_run_and_constraint(store):
    retriever = ChronoBM25Retriever(store, top_k=3)
    retriever.warm_up()
    documents = retriever.run(query="coach of the club")["documents"]
    assert documents and documents[0].id in {"c2", "c3"}
    constrained = retriever.run(
        query="club manager", constraint=_constraint(Interval.years(1988, 1990), date(2000, 1, 1))
    )
    assert {d.id for d in constrained["documents"]} <= {"c1", "c4", "c6"}
    assert any(d.meta.get("in_time_window") for d in constrained["documents"])


def test_bm25_to_dict_from_dict(store):
    data = ChronoBM25Retriever(store, top_k=7).to_dict()
    clone = ChronoBM25Retriever.from_dict(data)
    assert clone.top_k == 7 and clone.document_store.path == store.path


def test_rrf_run():
    a, b, c = Document(id="a", content="a"), Document(id="b", content="b"), Document(id="c", content="c")
    fused = ReciprocalRankFusion(k=60).run(documents=[[a, b], [b, c]])["documents"]
    assert [d.id for d in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0].meta["rrf_ranks"] == [2, 1]
    assert len(ReciprocalRankFusion(top_k=2).run(documents=[[a, b], [c]])["documents"]) == 2
    assert ReciprocalRankFusion().run(documents=[[], []])["documents"] == []


def test_rrf_to_dict_from_dict():
    data = ReciprocalRankFusion(top_k=5, k=10).to_dict()
    assert data["init_parameters"] == {"top_k": 5, "k": 10}
    clone = ReciprocalRankFusion.from_dict(data)
    assert clone.top_k == 5 and clone.k == 10


def test_hybrid_pipeline_round_trip(store, query_embedding):
    pipeline = Pipeline()
    pipeline.add_component("dense", ChronoEmbeddingRetriever(store, top_k=3))
    pipeline.add_component("lexical", ChronoBM25Retriever(store, top_k=3))
    pipeline.add_component("fuse", ReciprocalRankFusion(top_k=4))
    pipeline.connect("dense.documents", "fuse.documents")
    pipeline.connect("lexical.documents", "fuse.documents")
    restored = Pipeline.loads(pipeline.dumps(), allowed_modules=["chronorag.*"])
    constraint = _constraint(None, date(2010, 1, 1))
    result = restored.run(
        {
            "dense": {"query_embedding": query_embedding, "constraint": constraint},
            "lexical": {"query": "Arsenal manager", "constraint": constraint},
        }
    )
    documents = result["fuse"]["documents"]
    assert 0 < len(documents) <= 4
    assert all(d.meta.get("date") is None or d.meta["date"] <= "2010-01-01" for d in documents)


def test_bm25_index_positions_of_allowed_rows():
    from pathlib import Path

    import numpy as np

    from chronorag.indexers.bm25 import BM25Index

    index = BM25Index(Path("unused"), 0, None, np.asarray([40, 7, 19, 3], dtype=np.int64))
    positions = index._positions_of(np.asarray([3, 19, 99, 40, 1000], dtype=np.int64))
    # Row ids the index does not hold (99, 1000) are dropped; the others map to their index positions.
    assert sorted(positions.tolist()) == [0, 2, 3]
    assert index._positions_of(np.asarray([5], dtype=np.int64)).size == 0
