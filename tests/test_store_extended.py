"""ChronoDocumentStore's extended operations on chronorag data: dates, spans, vectors, reopening."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from haystack import Document
from haystack.errors import FilterError

from chronorag.indexers import ChronoDocumentStore, InvalidDocumentError, StoreError
from chronorag.temporal.extractor import extract_mentions
from chronorag.temporal.model import Interval

DIM = 16


def _dated(content: str, day: date, **meta) -> dict:
    """The metadata ``ingest.date_passages`` gives a passage published on ``day``."""
    spans = [m.to_dict() for m in extract_mentions(content, reference=day, mode="fast")]
    return {"date": day.isoformat(), "date_source": "metadata", "time_spans": spans, **meta}


def _docs(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [
        Document(
            id=f"p{i}",
            content=f"passage {i}",
            meta={"category": "odd" if i % 2 else "even", "date": date(2000 + i % 20, 1, 1).isoformat()},
            embedding=rng.standard_normal(DIM).astype(np.float32).tolist(),
        )
        for i in range(n)
    ]


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def store(path):
    store = ChronoDocumentStore(path, embedding_dim=DIM, save_every_s=0)
    yield store
    store.close()


def _reopen(store: ChronoDocumentStore) -> ChronoDocumentStore:
    store.close()
    reopened = ChronoDocumentStore(store.path)
    assert reopened.check() == []
    return reopened


def test_update_of_date_changes_date_prefiltered_search(store):
    docs = _docs(40)
    store.write_documents(docs)
    target = docs[3]  # published 2003-01-01
    query = np.asarray(target.embedding)
    cutoff = date(2005, 6, 1)
    assert store.search(query, 1, published_on_or_before=cutoff)[0].id == "p3"
    assert store.search(query, 1, published_on_or_after=cutoff)[0].id != "p3"

    assert (
        store.update_by_filter({"field": "id", "operator": "==", "value": "p3"}, {"date": "2010-03-04"}) == 1
    )

    assert "p3" not in {d.id for d in store.search(query, 40, published_on_or_before=cutoff)}
    assert store.search(query, 1, published_on_or_after=cutoff)[0].id == "p3"
    updated = store.get_documents_by_id(["p3"], return_embedding=True)[0]
    assert updated.meta["date"] == "2010-03-04"
    assert updated.embedding == target.embedding  # the vector is kept exactly
    assert store.check() == []

    store = _reopen(store)
    assert store.search(query, 1, published_on_or_after=cutoff)[0].id == "p3"
    assert "p3" not in {d.id for d in store.search(query, 40, published_on_or_before=cutoff)}
    store.close()


def test_update_of_date_moves_relative_time_spans(store):
    rng = np.random.default_rng(1)
    relative = "Last year the plant in Ohio closed; it had opened in 1995."
    explicit_spans = [
        {"text": "x", "char_start": 0, "char_end": 1, "start": "1990-01-01", "end": "1990-12-31"}
    ]
    store.write_documents(
        [
            Document(
                id="rel",
                content=relative,
                meta=_dated(relative, date(2020, 6, 1), kind="news"),
                embedding=rng.standard_normal(DIM).tolist(),
            ),
            Document(
                id="own",
                content="Last year was good.",
                meta={"date": "2020-06-01", "time_spans": explicit_spans, "kind": "news"},
                embedding=rng.standard_normal(DIM).tolist(),
            ),
        ]
    )
    query = rng.standard_normal(DIM)
    window_2019, window_2022 = Interval.years(2019, 2019), Interval.years(2022, 2022)
    assert [d.id for d in store.search(query, 5, time_window=window_2019)] == ["rel"]

    filters = {"field": "meta.kind", "operator": "==", "value": "news"}
    assert store.update_by_filter(filters, {"date": "2023-06-01"}) == 2

    assert store.search(query, 5, time_window=window_2019) == []
    assert [d.id for d in store.search(query, 5, time_window=window_2022)] == ["rel"]
    assert [d.id for d in store.search(query, 5, time_window=Interval.years(1995, 1995))] == ["rel"]
    rel, own = store.get_documents_by_id(["rel", "own"])
    assert [s["start"] for s in rel.meta["time_spans"]] == ["2022-01-01", "1995-01-01"]
    assert rel.meta["date_source"] == "metadata"
    # Spans that chronorag's dating did not derive are the writer's: kept as they were.
    assert own.meta["time_spans"] == explicit_spans
    assert [d.id for d in store.search(query, 5, time_window=Interval.years(1990, 1990))] == ["own"]

    store = _reopen(store)
    assert [d.id for d in store.search(query, 5, time_window=window_2022)] == ["rel"]
    store.close()


def test_inferred_date_replaced_by_an_update_is_metadata(store):
    content = "In 1998 the bridge opened."
    meta = _dated(content, date(1998, 5, 1), date_source="inferred", date_confidence=0.4)
    store.write_documents([Document(id="a", content=content, meta=meta)])
    store.update_by_filter({"field": "id", "operator": "==", "value": "a"}, {"date": "1998-07-01"})
    (doc,) = store.filter_documents()
    assert doc.meta["date_source"] == "metadata"
    assert "date_confidence" not in doc.meta


def test_delete_by_filter_removes_vectors(store):
    docs = _docs(30)
    store.write_documents(docs)
    assert store.stats()["vectors"] == 30

    assert store.delete_by_filter({"field": "meta.category", "operator": "==", "value": "odd"}) == 15

    assert store.count_documents() == 15
    assert store.stats()["vectors"] == 15
    assert store.check() == []
    for doc in docs[1::2]:
        assert store.search(np.asarray(doc.embedding), 1)[0].id != doc.id
    assert {d.id for d in store.search(np.ones(DIM), 30)} == {d.id for d in docs[::2]}

    store = _reopen(store)
    assert store.count_documents() == 15
    assert store.stats()["vectors"] == 15
    assert store.delete_by_filter({"field": "meta.date", "operator": ">=", "value": "2010-01-01"}) == 5
    assert store.check() == []
    store = _reopen(store)
    assert store.count_documents() == 10
    store.close()


def test_delete_all_documents_leaves_an_empty_store_that_reopens(store):
    store.write_documents(_docs(12))
    store.delete_all_documents()
    assert store.check() == []

    store = _reopen(store)
    assert store.count_documents() == 0
    assert store.stats()["vectors"] == 0
    store.write_documents(_docs(3, seed=2))
    assert store.search(np.ones(DIM), 5) != []
    store = _reopen(store)
    assert store.count_documents() == 3
    store.close()


def test_update_changing_the_embedded_title_is_refused(store):
    docs = _docs(4)
    docs[0].meta["title"] = "Old"
    store.write_documents(docs)
    with pytest.raises(ValueError, match="title"):
        store.update_by_filter(
            {"field": "meta.category", "operator": "==", "value": "even"}, {"title": "New"}
        )
    assert store.filter_documents({"field": "meta.title", "operator": "==", "value": "New"}) == []
    # Passages without an embedding have nothing to re-embed.
    store.write_documents([Document(id="bare", content="no vector", meta={"category": "none"})])
    assert (
        store.update_by_filter({"field": "meta.category", "operator": "==", "value": "none"}, {"title": "T"})
        == 1
    )


def test_empty_filters_and_read_only(store, path):
    store.write_documents(_docs(3))
    with pytest.raises(FilterError):
        store.delete_by_filter({})
    with pytest.raises(FilterError):
        store.update_by_filter({}, {"x": 1})
    assert store.count_documents_by_filter({}) == 3
    store.close()
    reader = ChronoDocumentStore(path, read_only=True)
    with pytest.raises(StoreError):
        reader.delete_by_filter({"field": "meta.category", "operator": "==", "value": "odd"})
    with pytest.raises(StoreError):
        reader.update_by_filter({"field": "meta.category", "operator": "==", "value": "odd"}, {"x": 1})
    assert reader.count_documents_by_filter({"field": "meta.category", "operator": "==", "value": "odd"}) == 1
    reader.close()


def test_metadata_reads_agree_with_a_python_reference(store, path):
    rng = np.random.default_rng(3)
    values = [1, 2, 1.0, 2.5, True, False, "1", "b", "a", [1, 2], {"k": 1}, None, 2**40]
    docs = []
    for i in range(60):
        meta = {"v": values[int(rng.integers(len(values)))], "n": int(rng.integers(-3, 3))}
        if i % 4 == 0:
            meta["w"] = float(rng.standard_normal())
        docs.append(Document(id=f"d{i}", content=f"doc {i}", meta=meta))
    store.write_documents(docs)
    sql_values, sql_total = store.get_metadata_field_unique_values("v", size=100)
    python_values = {}
    for doc in docs:
        value = doc.meta["v"]
        if value is not None:
            python_values.setdefault((type(value).__name__, json.dumps(value, sort_keys=True)), value)
    assert sql_total == len(python_values)
    assert sorted(map(repr, sql_values)) == sorted(map(repr, python_values.values()))
    assert store.get_metadata_field_min_max("n") == {
        "min": min(d.meta["n"] for d in docs),
        "max": max(d.meta["n"] for d in docs),
    }
    assert store.get_metadata_field_min_max("meta.w")["max"] == max(
        d.meta["w"] for d in docs if "w" in d.meta
    )
    assert store.get_metadata_fields_info()["w"] == {"type": "float"}
    assert store.count_unique_metadata_by_filter({}, ["meta.n"]) == {"n": len({d.meta["n"] for d in docs})}

    # NaN is refused at write time (issue 16), naming the key; a store written before that may hold it.
    with pytest.raises(InvalidDocumentError, match=r"meta\.w is nan"):
        store.write_documents([Document(id="nan", content="nan", meta={"w": float("nan"), "n": 9})])
    store.write_documents([Document(id="nan", content="nan", meta={"w": 0.0, "n": 9})])
    legacy = json.dumps({"id": "nan", "content": "nan", "meta": {"w": float("nan"), "n": 9}})
    with store._lock:
        store._conn.execute("UPDATE passages SET data = ? WHERE id = 'nan'", (legacy,))
    # A value SQLite's JSON cannot read (NaN) falls back to reading the documents in Python.
    assert store.get_metadata_fields_info()["w"] == {"type": "float"}
    assert store.get_metadata_field_min_max("n")["max"] == 9
