"""ChronoDocumentStore: search against brute force, time pre-filters, persistence, recovery, errors."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
from datetime import date, timedelta

import numpy as np
import pytest
from haystack import Document
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronorag.indexers import (
    ChronoDocumentStore,
    EmbeddingDimensionError,
    StoreCorruptError,
    StoreMismatchError,
)
from chronorag.indexers.store import FAISS_FILE, SQLITE_FILE, rebuild_store
from chronorag.temporal.model import Interval

DIM = 16
BASE_DAY = date(1990, 1, 1)


def _docs(n: int, seed: int = 0, dim: int = DIM, prefix: str = "p") -> list[Document]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        day = BASE_DAY + timedelta(days=int(rng.integers(0, 365 * 30)))
        span_start = date(int(rng.integers(1900, 2020)), 1, 1)
        span_end = date(span_start.year + int(rng.integers(0, 5)), 12, 31)
        meta = {
            "title": f"T{i % 7}",
            "doc_id": f"{prefix}doc{i // 3}",
            "number": int(rng.integers(-5, 5)),
            "time_spans": [{"text": "x", "char_start": 0, "char_end": 1, "start": span_start.isoformat(),
                            "end": span_end.isoformat(), "granularity": "year"}],
        }  # fmt: skip
        if i % 5:
            meta["date"] = day.isoformat()  # every fifth passage is undated
        docs.append(
            Document(
                id=f"{prefix}{i}",
                content=f"passage {i} words w{i % 11}",
                meta=meta,
                embedding=rng.standard_normal(dim).astype(np.float32).tolist(),
            )
        )
    return docs


def _brute_force(docs: list[Document], query: np.ndarray, top_k: int, keep=lambda d: True) -> list[str]:
    allowed = [d for d in docs if d.embedding is not None and keep(d)]
    if not allowed:
        return []
    matrix = np.asarray([d.embedding for d in allowed], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = matrix @ (query / np.linalg.norm(query))
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [allowed[i].id for i in order]


def _published_on_or_before(cutoff: date):
    return lambda d: d.meta.get("date") is None or date.fromisoformat(d.meta["date"]) <= cutoff


def _mentions(window: Interval):
    def keep(d: Document) -> bool:
        return any(Interval.from_dict(span).overlaps(window) for span in d.meta.get("time_spans", []))

    return keep


@pytest.fixture
def store(tmp_path):
    s = ChronoDocumentStore(str(tmp_path / "store"), embedding_dim=DIM, save_every_s=0)
    yield s
    s.close()


def test_search_matches_brute_force(store):
    docs = _docs(300)
    store.write_documents(docs)
    query = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    found = store.search(query, top_k=10)
    assert [d.id for d in found] == _brute_force(docs, query, 10)
    assert all(-1.0 <= d.score <= 1.0001 for d in found)
    assert found[0].score >= found[-1].score
    assert found[0].embedding is None
    assert store.search(query, top_k=3, return_embedding=True)[0].embedding is not None


def test_selective_filter_still_returns_top_k(store):
    # 1% of passages are published early enough: a post-filter over an unfiltered top-k would find few.
    docs = _docs(2000)
    for i, doc in enumerate(docs):
        doc.meta["date"] = "1980-01-01" if i % 100 == 0 else "2020-01-01"
    store.write_documents(docs)
    query = np.random.default_rng(2).standard_normal(DIM)
    cutoff = date(1985, 1, 1)
    found = store.search(query, top_k=10, published_on_or_before=cutoff)
    assert len(found) == 10
    assert [d.id for d in found] == _brute_force(docs, query, 10, _published_on_or_before(cutoff))


def test_large_candidate_set_uses_selector_and_is_exact(store):
    docs = _docs(9000)
    store.write_documents(docs)
    query = np.random.default_rng(3).standard_normal(DIM)
    cutoff = date(2010, 1, 1)  # about 6,800 pass: more than direct scoring takes, so the FAISS selector path
    found = store.search(query, top_k=20, published_on_or_before=cutoff)
    assert [d.id for d in found] == _brute_force(docs, query, 20, _published_on_or_before(cutoff))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 120),
    top_k=st.integers(1, 15),
    cutoff_days=st.one_of(st.none(), st.integers(0, 365 * 30)),
    window=st.one_of(st.none(), st.tuples(st.integers(1900, 2025), st.integers(0, 10))),
    number=st.one_of(st.none(), st.integers(-5, 5)),
)
def test_filters_match_reference(seed, n, top_k, cutoff_days, window, number):
    docs = _docs(n, seed)
    cutoff = BASE_DAY + timedelta(days=cutoff_days) if cutoff_days is not None else None
    interval = Interval.years(window[0], window[0] + window[1]) if window else None
    filters = {"field": "meta.number", "operator": ">=", "value": number} if number is not None else None

    def keep(d: Document) -> bool:
        if cutoff and not _published_on_or_before(cutoff)(d):
            return False
        if interval and not _mentions(interval)(d):
            return False
        return number is None or d.meta["number"] >= number

    query = np.random.default_rng(seed + 1).standard_normal(DIM)
    with tempfile.TemporaryDirectory() as folder:
        store = ChronoDocumentStore(folder, embedding_dim=DIM)
        store.write_documents(docs)
        found = store.search(
            query, top_k, filters=filters, time_window=interval, published_on_or_before=cutoff
        )
        assert [d.id for d in found] == _brute_force(docs, query, top_k, keep)
        store.close()


def test_filter_documents_compares_dates_as_dates(store):
    store.write_documents(
        [
            Document(id="a", content="a", meta={"date": "1999-12-31"}),
            Document(id="b", content="b", meta={"date": "2000-01-01T10:00:00"}),
        ]
    )
    found = store.filter_documents({"field": "meta.date", "operator": ">=", "value": "2000-01-01"})
    assert [d.id for d in found] == ["b"]


def test_persistence_and_reopen(tmp_path):
    path = str(tmp_path / "s")
    docs = _docs(50)
    with ChronoDocumentStore(path, embedding_dim=DIM) as store:
        store.write_documents(docs)
        query = np.ones(DIM)
        before = [d.id for d in store.search(query, 5)]
    assert (tmp_path / "s" / FAISS_FILE).exists()
    reopened = ChronoDocumentStore(path)
    assert reopened.dim == DIM and reopened.count_documents() == 50
    assert [d.id for d in reopened.search(query, 5)] == before
    assert reopened.check() == []
    reopened.close()


def test_overwrite_delete_and_delete_source(store):
    docs = _docs(30)
    store.write_documents(docs)
    query = np.asarray(docs[0].embedding)
    assert store.search(query, 1)[0].id == "p0"
    store.delete_documents(["p0", "missing"])
    assert store.count_documents() == 29
    assert store.search(query, 1)[0].id != "p0"
    replacement = Document(id="p1", content="new", embedding=docs[0].embedding)
    assert store.write_documents([replacement], policy=DuplicatePolicy.OVERWRITE) == 1
    assert store.search(query, 1)[0].id == "p1"
    assert store.get_documents_by_id(["p1"])[0].content == "new"
    assert store.delete_source("pdoc1") == 3  # p3, p4, p5
    assert store.count_documents() == 26
    assert store.check() == []


def test_fail_policy_is_atomic(store):
    store.write_documents(_docs(3))
    batch = [Document(id="new", content="x"), Document(id="p1", content="dup")]
    with pytest.raises(DuplicateDocumentError):
        store.write_documents(batch, policy=DuplicatePolicy.FAIL)
    assert store.count_documents() == 3
    assert store.write_documents(batch, policy=DuplicatePolicy.SKIP) == 1


def test_wrong_dimension_is_refused_and_nothing_written(store):
    good = _docs(2)
    bad = Document(id="bad", content="x", embedding=[0.1] * (DIM + 1))
    with pytest.raises(EmbeddingDimensionError):
        store.write_documents([*good, bad])
    assert store.count_documents() == 0
    with pytest.raises(EmbeddingDimensionError):
        store.search([0.1] * (DIM + 2), 3)


def test_mismatched_model_or_dimension_on_open(tmp_path):
    path = str(tmp_path / "s")
    ChronoDocumentStore(path, embedding_model="model-a", embedding_dim=DIM).close()
    with pytest.raises(StoreMismatchError, match="model-a"):
        ChronoDocumentStore(path, embedding_model="model-b")
    with pytest.raises(StoreMismatchError, match=f"{DIM}-d"):
        ChronoDocumentStore(path, embedding_dim=DIM * 2)


def test_corrupt_vector_file_raises_then_rebuild_repairs(tmp_path):
    path = str(tmp_path / "s")
    with ChronoDocumentStore(path, embedding_dim=DIM) as store:
        store.write_documents(_docs(40))
    faiss_path = tmp_path / "s" / FAISS_FILE
    raw = bytearray(faiss_path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped bit inside the vectors
    faiss_path.write_bytes(bytes(raw))
    with pytest.raises(StoreCorruptError, match="chronorag store rebuild"):
        ChronoDocumentStore(path)
    repaired = rebuild_store(path)
    assert repaired.check() == [] and repaired.count_documents() == 40
    repaired.close()
    faiss_path.write_bytes(b"not an index at all, just text")
    with pytest.raises(StoreCorruptError):
        ChronoDocumentStore(path)


def test_corrupt_database_raises(tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    (path / SQLITE_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorruptError, match="cannot be read"):
        ChronoDocumentStore(str(path))


def test_stale_vector_file_is_recovered_from_sqlite(tmp_path):
    # A crash after a commit and before the index save leaves an older index file: reopening rebuilds it.
    path = tmp_path / "s"
    with ChronoDocumentStore(str(path), embedding_dim=DIM) as store:
        store.write_documents(_docs(20))
        shutil.copy(path / FAISS_FILE, tmp_path / "old.faiss")
        store.write_documents(_docs(20, seed=5, prefix="q"))
    shutil.copy(tmp_path / "old.faiss", path / FAISS_FILE)
    reopened = ChronoDocumentStore(str(path))
    assert reopened.count_documents() == 40 and reopened.check() == []
    assert reopened.search(np.asarray(_docs(20, seed=5, prefix="q")[7].embedding), 1)[0].id == "q7"
    reopened.close()


def test_vector_file_newer_than_database_is_an_error(tmp_path):
    path = tmp_path / "s"
    with ChronoDocumentStore(str(path), embedding_dim=DIM) as store:
        store.write_documents(_docs(5))
    with sqlite3.connect(path / SQLITE_FILE) as conn:
        conn.execute("UPDATE info SET value = '0' WHERE key = 'generation'")
    with pytest.raises(StoreCorruptError, match="newer than the database"):
        ChronoDocumentStore(str(path))


def test_second_instance_sees_committed_writes(tmp_path):
    path = str(tmp_path / "s")
    writer = ChronoDocumentStore(path, embedding_dim=DIM, save_every_s=3600)
    reader = ChronoDocumentStore(path)
    docs = _docs(10)
    writer.write_documents(docs)
    assert reader.search(np.asarray(docs[3].embedding), 1)[0].id == "p3"
    writer.close()
    reader.close()


@pytest.mark.parametrize("index_type", ["ivf", "hnsw", "flat16"])
def test_approximate_indexes(tmp_path, index_type):
    store = ChronoDocumentStore(str(tmp_path / index_type), embedding_dim=8, index_type=index_type)
    docs = _docs(10_500, dim=8) if index_type == "ivf" else _docs(1500, dim=8)
    store.write_documents(docs)
    store.rebuild()
    assert store.actual_index_type == index_type
    query = np.asarray(docs[42].embedding)
    assert store.search(query, 1)[0].id == "p42"
    if index_type == "flat16":  # an fp16 scan re-scored exactly ranks like the exact index
        assert [d.id for d in store.search(query, 10)] == _brute_force(docs, query, 10)
    cutoff = date(1991, 1, 1)
    found = store.search(query, 5, published_on_or_before=cutoff)
    assert [d.id for d in found] == _brute_force(docs, query, 5, _published_on_or_before(cutoff))
    store.delete_documents(["p42"])
    assert store.search(query, 1)[0].id != "p42"
    store.close()
    assert ChronoDocumentStore(str(tmp_path / index_type)).check() == []


def test_concurrent_writers_and_readers(store):
    errors: list[BaseException] = []

    def write(part: int) -> None:
        try:
            for batch in range(5):
                store.write_documents(_docs(20, seed=part * 10 + batch, prefix=f"w{part}b{batch}_"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(30):
                found = store.search(np.ones(DIM), 5, published_on_or_before=date(2005, 1, 1))
                assert len(found) <= 5
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(3)] + [
        threading.Thread(target=read) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count_documents() == 300
    assert store.check() == []


def test_bm25_search_with_restrictions(store):
    store.write_documents(
        [
            Document(id="a", content="the treaty was signed", meta={"title": "Peace", "date": "1990-05-01"}),
            Document(id="b", content="the treaty collapsed", meta={"title": "War", "date": "2010-05-01"}),
            Document(id="c", content="weather report", meta={"title": "Treaty", "date": "2011-01-01"}),
        ]
    )
    assert {d.id for d in store.bm25_search("treaty", 5)} == {"a", "b", "c"}
    assert {d.id for d in store.bm25_search("treaty", 5, published_on_or_before=date(2000, 1, 1))} == {"a"}
    store.delete_documents(["a"])
    assert {d.id for d in store.bm25_search("treaty", 5)} == {"b", "c"}


def test_to_dict_from_dict(store):
    data = store.to_dict()
    assert data["type"] == "chronorag.indexers.store.ChronoDocumentStore"
    assert data["init_parameters"]["path"] == store.path
    store.write_documents(_docs(3))
    clone = ChronoDocumentStore.from_dict(data)
    assert clone.count_documents() == 3 and clone.dim == DIM
    clone.close()


def test_stats(store):
    store.write_documents(_docs(10))
    stats = store.stats()
    assert stats["passages"] == 10 and stats["documents"] == 4 and stats["embedding_dim"] == DIM
    assert stats["index_type"] == "flat" and stats["date_min"] <= stats["date_max"]


def test_filters_on_indexed_columns_are_exact(store):
    docs = _docs(60)
    store.write_documents(docs)
    query = np.ones(DIM)
    for filters in (
        {"field": "meta.doc_id", "operator": "==", "value": "pdoc3"},
        {"field": "id", "operator": "in", "value": ["p1", "p7", "p50"]},
        {"operator": "AND", "conditions": [
            {"field": "meta.doc_id", "operator": "in", "value": ["pdoc1", "pdoc2"]},
            {"field": "meta.number", "operator": ">", "value": 0},
        ]},
        {"field": "id", "operator": "in", "value": []},
    ):  # fmt: skip
        expected = [d for d in docs if _matches(filters, d)]
        assert [d.id for d in store.search(query, 100, filters=filters)] == _brute_force(
            docs, query, 100, lambda d, f=filters: _matches(f, d)
        )
        assert {d.id for d in store.filter_documents(filters)} == {d.id for d in expected}


def _matches(filters, doc):
    from haystack.utils.filters import document_matches_filter

    return document_matches_filter(filters, doc)


def test_index_type_is_recorded_and_kept(tmp_path):
    path = str(tmp_path / "s")
    with ChronoDocumentStore(path, embedding_dim=8, index_type="hnsw") as store:
        store.write_documents(_docs(50, dim=8))
    reopened = ChronoDocumentStore(path)
    assert reopened.index_type == "hnsw" and reopened.actual_index_type == "hnsw"
    assert reopened.to_dict()["init_parameters"]["index_type"] is None
    reopened.delete_documents(["p3"])
    assert reopened.check() == [] and reopened.count_documents() == 49
    reopened.close()
    converted = rebuild_store(path, index_type="flat")
    assert converted.actual_index_type == "flat"
    converted.close()
    assert ChronoDocumentStore(path).index_type == "flat"


def test_split_flat_search_matches_faiss(tmp_path):
    """Above 32k vectors, ``search_threads`` splits the exact scan; results are FAISS's own."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((33_000, 8)).astype(np.float32)
    docs = [Document(id=f"v{i}", content="x", embedding=v.tolist()) for i, v in enumerate(vectors)]
    path = str(tmp_path / "big")
    with ChronoDocumentStore(path, embedding_dim=8) as single:
        single.write_documents(docs)
        queries = rng.standard_normal((10, 8)).astype(np.float32)
        expected = [[(d.id, d.score) for d in single.search(q, top_k=25)] for q in queries]
    for threads in (2, 3):
        with ChronoDocumentStore(path, search_threads=threads) as split:
            assert split.to_dict()["init_parameters"]["search_threads"] == threads
            for query, want in zip(queries, expected, strict=True):
                got = [(d.id, d.score) for d in split.search(query, top_k=25)]
                assert [i for i, _ in got] == [i for i, _ in want]
                assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
            assert len(split.search(queries[0], top_k=40_000)) == 33_000


@pytest.mark.parametrize("index_type", ["flat", "flat16"])
def test_filtered_search_reads_the_index_copies_right_after_deletes_and_upserts(tmp_path, index_type):
    """Filtered searches score candidates from the index's own vectors (flat16: read by position through
    a cached id map); deletes (which move positions) and upserts must not leave it at another vector."""
    docs = _docs(3000, seed=11)
    store = ChronoDocumentStore(str(tmp_path / index_type), embedding_dim=DIM, index_type=index_type)
    store.write_documents(docs)
    store.rebuild()
    assert store.actual_index_type == index_type
    queries = np.random.default_rng(5).standard_normal((3, DIM)).astype(np.float32)
    window = Interval(date(1950, 1, 1), date(1990, 12, 31))
    cutoffs = (date(1992, 1, 1), date(2012, 1, 1))  # few candidates (scored directly), then many

    def check(current: list[Document]) -> None:
        for query in queries:
            for cutoff in cutoffs:
                found = store.search(query, 10, published_on_or_before=cutoff)
                assert [d.id for d in found] == _brute_force(
                    current, query, 10, _published_on_or_before(cutoff)
                )
            found = store.search(query, 10, time_window=window)
            assert [d.id for d in found] == _brute_force(current, query, 10, _mentions(window))

    check(docs)
    store.delete_documents([f"p{i}" for i in range(0, 3000, 7)])
    check([d for d in docs if int(d.id[1:]) % 7])
    moved = [
        Document(
            id=f"p{i}",
            content="moved",
            meta=docs[i].meta,
            embedding=(-np.asarray(docs[i].embedding)).tolist(),
        )
        for i in range(1, 3000, 11)
    ]
    store.write_documents(moved, policy=DuplicatePolicy.OVERWRITE)
    by_id = {d.id: d for d in docs if int(d.id[1:]) % 7}
    by_id.update({d.id: d for d in moved})
    check(list(by_id.values()))
    store.close()


def test_flat16_is_exact_when_fp16_rounding_reorders(tmp_path):
    """Near-duplicates closer than fp16 can tell apart: the shortlist widens until the result is exact."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal(DIM).astype(np.float32)
    base /= np.linalg.norm(base)
    vectors = np.concatenate(
        [base + 5e-3 * rng.standard_normal((300, DIM)), rng.standard_normal((3000, DIM))]
    ).astype(np.float32)
    docs = [
        Document(id=f"n{i}", content="x", meta={"date": f"{1990 + i % 30}-06-01"}, embedding=v.tolist())
        for i, v in enumerate(vectors)
    ]
    store = ChronoDocumentStore(str(tmp_path / "f16"), embedding_dim=DIM, index_type="flat16")
    store.write_documents(docs)
    store.rebuild()
    assert store.actual_index_type == "flat16"
    for query in (base, base + 3e-3 * rng.standard_normal(DIM)):
        assert [d.id for d in store.search(query, 10)] == _brute_force(docs, query, 10)
        for cutoff in (date(1995, 1, 1), date(2015, 1, 1)):  # few candidates, then a selector scan
            keep = _published_on_or_before(cutoff)
            found = store.search(query, 10, published_on_or_before=cutoff)
            assert [d.id for d in found] == _brute_force(docs, query, 10, keep)
    store.close()
