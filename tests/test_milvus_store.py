"""MilvusStore on a real Milvus Lite file: the same answers as ChronoDocumentStore, chronorag's components
on it unchanged, and clear errors on bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.document_stores.types import DuplicatePolicy

pytest.importorskip("pymilvus")

from chronorag.indexers import (  # noqa: E402
    ChronoBM25Retriever,
    ChronoDocumentStore,
    ChronoEmbeddingRetriever,
    ChronoStore,
    EmbeddingDimensionError,
    StoreError,
    StoreMismatchError,
    passage_text,
)
from chronorag.indexers.backend import open_store, store_from_dict  # noqa: E402
from chronorag.indexers.events import EventIndex  # noqa: E402
from chronorag.indexers.milvus import MilvusStore  # noqa: E402
from chronorag.temporal.model import Interval, Relation, TemporalConstraint  # noqa: E402

pytestmark = pytest.mark.milvus
DIM = 8


def _random_docs(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        spans = []
        for _ in range(int(rng.integers(0, 4))):
            first = int(rng.integers(1900, 2030))
            spans.append(Interval.years(first, first + int(rng.integers(0, 5))).to_dict())
        if i % 11 == 0:
            spans.append({"start": None, "end": f"{1950 + i % 40}-03-15"})  # open start
        meta = {"title": f"T{i % 7}", "doc_id": f"d{i // 3}", "kind": ["a", "b", "c"][i % 3], "n": i % 5}
        meta["time_spans"] = spans
        if i % 4:
            meta["date"] = date(1990 + i % 35, 1 + i % 12, 1 + i % 28).isoformat()
            meta["date_source"] = "inferred" if i % 4 == 3 else "metadata"
        docs.append(
            Document(
                id=f"p{i}",
                content=f"passage {i} about harbour {i % 13} and the {['mill', 'bridge', 'port'][i % 3]}",
                meta=meta,
                embedding=rng.standard_normal(DIM).astype(np.float32).tolist(),
            )
        )
    return docs


@pytest.fixture(scope="module")
def milvus_file(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "store.db")


@pytest.fixture(scope="module")
def pair(milvus_file, tmp_path_factory):
    """The same passages in the local store and in Milvus Lite."""
    docs = _random_docs(160)
    local = ChronoDocumentStore(str(tmp_path_factory.mktemp("local") / "store"), embedding_dim=DIM)
    milvus = MilvusStore(f"milvus://{milvus_file}", collection="pair", embedding_dim=DIM)
    local.write_documents(docs)
    milvus.write_documents(docs)
    yield local, milvus, docs
    local.close()
    milvus.close()


RESTRICTIONS = [
    {},
    {"time_window": Interval.years(1995, 1996)},
    {"time_window": Interval(date(1960, 3, 10), date(1960, 3, 20))},
    {"time_window": Interval(None, date(1901, 6, 1))},
    {"published_on_or_before": date(2000, 6, 1)},
    {"published_on_or_after": date(2010, 1, 1)},
    {"published_on_or_before": date(2015, 1, 1), "time_window": Interval.years(2001, 2010)},
    {"filters": {"field": "meta.kind", "operator": "==", "value": "b"}},
    {"filters": {"field": "meta.n", "operator": ">=", "value": 3}},  # not translatable: Python decides
    {
        "filters": {
            "operator": "AND",
            "conditions": [
                {"field": "meta.kind", "operator": "in", "value": ["a", "c"]},
                {"field": "meta.n", "operator": "!=", "value": 1},
            ],
        },
        "time_window": Interval.years(1980, 2020),
    },
]


@pytest.mark.parametrize("restriction", RESTRICTIONS, ids=range(len(RESTRICTIONS)))
def test_search_and_bm25_agree_with_the_local_store(pair, restriction):
    local, milvus, docs = pair
    rng = np.random.default_rng(7)
    for _ in range(3):
        query = rng.standard_normal(DIM)
        expected = local.search(query, top_k=12, **restriction)
        got = milvus.search(query, top_k=12, **restriction)
        assert [d.id for d in got] == [d.id for d in expected]
        assert np.allclose([d.score for d in got], [d.score for d in expected], atol=1e-5)
    for text in ("harbour 4 bridge", "port"):
        expected_ids = {d.id for d in local.bm25_search(text, top_k=200, **restriction)}
        got = milvus.bm25_search(text, top_k=200, **restriction)
        assert {d.id for d in got} == expected_ids  # the same passages pass the restrictions
        assert all(d.score > 0 for d in got) and [d.score for d in got] == sorted(
            (d.score for d in got), reverse=True
        )


def test_restricted_search_fills_top_k_and_inferred_dates_never_cut(pair):
    _, milvus, docs = pair
    cutoff = date(1991, 1, 1)
    allowed = [
        d
        for d in docs
        if d.meta.get("date_source") != "metadata" or date.fromisoformat(d.meta["date"]) <= cutoff
    ]
    got = milvus.search(np.ones(DIM), top_k=len(docs), published_on_or_before=cutoff)
    assert {d.id for d in got} == {d.id for d in allowed}
    assert any(d.meta.get("date_source") == "inferred" and d.meta["date"] > "1991" for d in got)


def test_documents_round_trip_with_embeddings_and_order(pair):
    _, milvus, docs = pair
    assert milvus.filter_documents() == docs
    assert [d.id for d in milvus.iter_documents(batch_size=17)] == [d.id for d in docs]
    assert milvus.get_documents_by_id(["p5", "nope", "p2"], return_embedding=True) == [docs[5], docs[2]]
    assert milvus.check() == []
    stats = milvus.stats()
    assert stats["passages"] == 160 and stats["vectors"] == 160 and stats["embedding_dim"] == DIM
    assert stats["time_spans"] == sum(len(d.meta["time_spans"]) for d in docs)


def test_a_passage_with_more_span_nodes_than_an_array_holds_is_still_exact(milvus_file):
    store = MilvusStore(f"milvus://{milvus_file}", collection="overflow", embedding_dim=DIM)
    # A day range inside a year needs about 70 calendar nodes (days, months, days): 80 of them overflow.
    many = [
        {"start": date(1900 + k, 1, 2).isoformat(), "end": date(1900 + k, 12, 30).isoformat()}
        for k in range(80)
    ]
    many.append({"start": "2050-05-05", "end": "2050-05-05"})
    vector = np.ones(DIM, dtype=np.float32).tolist()
    store.write_documents(
        [
            Document(id="many", content="a long chronology", meta={"time_spans": many}, embedding=vector),
            Document(
                id="plain",
                content="one year",
                meta={"time_spans": [Interval.year(1950).to_dict()]},
                embedding=vector,
            ),
        ]
    )
    assert store._count("span_overflow == true") == 1
    assert {d.id for d in store.search(vector, 5, time_window=Interval.year(1950))} == {"plain", "many"}
    assert {d.id for d in store.search(vector, 5, time_window=Interval.day(date(1950, 12, 31)))} == {"plain"}
    assert {d.id for d in store.search(vector, 5, time_window=Interval.day(date(2050, 5, 5)))} == {"many"}
    assert {d.id for d in store.search(vector, 5, time_window=Interval.day(date(1979, 2, 1)))} == {"many"}
    assert store.search(vector, 5, time_window=Interval.day(date(1979, 12, 31))) == []  # between two spans
    assert store.bm25_search("chronology", 5, time_window=Interval.day(date(1950, 12, 31))) == []
    assert [d.id for d in store.bm25_search("chronology", 5, time_window=Interval.day(date(1950, 6, 1)))] == [
        "many"
    ]
    store.close()


@pytest.fixture(scope="module")
def news_store(milvus_file, embedder):
    passages = [
        ("c1", "Arsenal", "Arsène Wenger managed the club and won the double.", "2004-05-01", (1996, 2018)),
        ("c2", "Arsenal", "Mikel Arteta was appointed head coach of the club.", "2020-01-01", (2019, 2024)),
        (
            "c3",
            "Arsenal",
            "Unai Emery coached the team for one season and a half.",
            "2019-12-01",
            (2018, 2019),
        ),
        ("c4", "Gardening", "Tomatoes need sun and regular watering in the summer.", None, None),
        (
            "c6",
            "Arsenal",
            "George Graham was the manager who won the league title.",
            "1991-06-01",
            (1986, 1995),
        ),
    ]
    docs = []
    for pid, title, content, day, years in passages:
        meta = {"title": title, "doc_id": pid, **({"date": day} if day else {})}
        if years:
            meta["time_spans"] = [Interval.years(*years).to_dict()]
        docs.append(Document(id=pid, content=content, meta=meta))
    vectors = embedder.encode([passage_text(d) for d in docs], normalize_embeddings=True)
    docs = [replace(d, embedding=v.tolist()) for d, v in zip(docs, vectors, strict=True)]
    store = open_store(f"milvus://{milvus_file}?collection=news", embedding_dim=384)
    store.write_documents(docs)
    yield store
    store.close()


def test_time_aware_retrievers_run_unchanged_on_milvus(news_store, embedder):
    assert isinstance(news_store, ChronoStore)
    constraint = TemporalConstraint(
        question="Who was the manager of Arsenal in 1990?",
        content="Who was the manager of Arsenal?",
        relation=Relation.IN,
        interval=Interval.year(1990),
        ordinal=None,
        reference_time=date(2005, 1, 1),
    )
    query = embedder.encode("Who was the manager of Arsenal?", normalize_embeddings=True).tolist()
    dense = ChronoEmbeddingRetriever(news_store, top_k=2).run(query_embedding=query, constraint=constraint)
    ids = [d.id for d in dense["documents"]]
    assert "c6" in ids and "c2" not in ids and "c3" not in ids  # published after the reference time
    lexical = ChronoBM25Retriever(news_store, top_k=3).run(
        query="Arsenal manager league", constraint=constraint
    )
    assert lexical["documents"][0].id == "c6"

    # Serialised with the store's type and URI, and reopened as a MilvusStore.
    pipeline = Pipeline()
    pipeline.add_component("retriever", ChronoEmbeddingRetriever(news_store, top_k=2))
    reloaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["chronorag.*"])
    store_dict = reloaded.get_component("retriever").document_store.to_dict()
    assert store_dict["type"] == "chronorag.indexers.milvus.store.MilvusStore"
    assert store_dict["init_parameters"]["collection"] == "news"
    assert store_dict["init_parameters"]["token"]["type"] == "env_var"  # never a token in clear
    again = reloaded.run({"retriever": {"query_embedding": query, "constraint": constraint}})
    assert [d.id for d in again["retriever"]["documents"]] == ids
    assert isinstance(store_from_dict(store_dict), MilvusStore)


def test_event_index_builds_from_milvus_beside_the_file(news_store, embedder, milvus_file):
    events = EventIndex(news_store.path)
    assert len(events) == 4  # the dated documents
    assert events.folder.startswith(milvus_file)
    found = events.search(
        embedder.encode("Arsenal coach", normalize_embeddings=True),
        top_k=2,
        published_on_or_before=date(2005, 1, 1),
    )
    assert found and all(e.meta["date"] <= "2005-01-01" for e in found)


def test_pipeline_yaml_points_at_a_milvus_store(news_store, tmp_path):
    from chronorag.pipeline import build_pipeline, load

    local = ChronoDocumentStore(str(tmp_path / "local"))
    local.close()
    yaml_text = build_pipeline(str(tmp_path / "local"), use_expander=False, generator="extractive").dumps()
    pipeline = load(yaml_text, store_path=news_store.path)
    store = pipeline.get_component("retriever").document_store
    assert isinstance(store, MilvusStore) and store.collection == "news"
    assert pipeline.get_component("bm25_retriever").document_store.collection == "news"


def test_bad_input_gives_clear_errors_and_writes_nothing(milvus_file):
    with pytest.raises(StoreError, match="cannot reach Milvus"):
        MilvusStore("http://127.0.0.1:9", timeout=2)
    store = MilvusStore(f"milvus://{milvus_file}", collection="bad", embedding_dim=DIM)
    good = Document(id="ok", content="fine", embedding=[0.1] * DIM)
    with pytest.raises(EmbeddingDimensionError):
        store.write_documents([good, Document(id="wrong", content="x", embedding=[0.1] * (DIM + 1))])
    assert store.count_documents() == 0  # validated before anything is written
    with pytest.raises(ValueError, match="over 65535 bytes"):
        store.write_documents([Document(id="huge", content="x" * 70_000)])
    store.write_documents([good])
    with pytest.raises(StoreMismatchError, match="8-d"):
        MilvusStore(f"milvus://{milvus_file}", collection="bad", embedding_dim=16)
    with pytest.raises(StoreMismatchError, match="holds vectors of"):
        MilvusStore(f"milvus://{milvus_file}", collection="bad", embedding_model="another-model")
    with pytest.raises(StoreError, match="no store"):
        MilvusStore(f"milvus://{milvus_file}", collection="missing", read_only=True)
    reader = MilvusStore(f"milvus://{milvus_file}", collection="bad", read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        reader.write_documents([Document(id="x", content="y")])
    with pytest.raises(ValueError, match=".db file"):
        open_store("milvus:///tmp/not-a-db-file")
    store.close()


def test_an_interrupted_write_batch_is_completed_by_a_rerun(milvus_file):
    """A crash after the passages but before the source records: check() names it; a re-run repairs it."""
    store = MilvusStore(f"milvus://{milvus_file}", collection="crash", embedding_dim=DIM)
    calls = {"n": 0}
    real_upsert = store._client.upsert

    def dies_on_sources(name, rows, **kwargs):
        if name.endswith("__sources"):
            calls["n"] += 1
            raise ConnectionError("the writer died")
        return real_upsert(name, rows, **kwargs)

    docs = [
        Document(id=f"a#{i}", content=f"text {i}", meta={"doc_id": "a"}, embedding=[0.5] * DIM)
        for i in range(3)
    ]
    store._client.upsert = dies_on_sources
    with pytest.raises(ConnectionError):
        store.write_batch(docs, sources={"a": ("hash-1", 3)})
    store._client.upsert = real_upsert
    assert calls["n"] == 1 and store.source_hashes() == {}  # not acknowledged: a re-run writes "a" again
    store.write_batch(
        docs, policy=DuplicatePolicy.OVERWRITE, sources={"a": ("hash-1", 3)}
    )  # as ingest() does
    assert store.source_hashes() == {"a": "hash-1"} and store.count_documents() == 3 and store.check() == []
    store.close()
