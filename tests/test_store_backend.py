"""The ``ChronoStore`` interface: ChronoDocumentStore implements it, and its users need nothing more."""

from __future__ import annotations

import inspect
from datetime import date
from typing import Any

import numpy as np
import pytest
from haystack import Document
from haystack.core.errors import DeserializationError

from chronorag.indexers import ChronoBM25Retriever, ChronoDocumentStore, ChronoEmbeddingRetriever, ChronoStore
from chronorag.indexers.backend import store_from_dict
from chronorag.temporal.model import Interval, Relation, TemporalConstraint

DIM = 8


def _protocol_methods() -> list[str]:
    return sorted(
        name
        for name in dir(ChronoStore)
        if not name.startswith("_") and callable(getattr(ChronoStore, name, None))
    )


@pytest.fixture()
def store(tmp_path) -> ChronoDocumentStore:
    rng = np.random.default_rng(3)
    docs = [
        Document(
            id=f"p{i}",
            content=f"passage {i} about the harbour in {1990 + i}",
            meta={
                "title": f"T{i}",
                "doc_id": f"d{i // 2}",
                "date": f"{1990 + i}-06-01",
                "time_spans": [{"start": f"{1990 + i}-01-01", "end": f"{1990 + i}-12-31"}],
            },
            embedding=rng.standard_normal(DIM).astype(np.float32).tolist(),
        )
        for i in range(20)
    ]
    store = ChronoDocumentStore(str(tmp_path / "store"), embedding_dim=DIM, save_every_s=0)
    store.write_documents(docs)
    yield store
    store.close()


class _ForwardingStore:
    """Another class than ChronoDocumentStore that implements ChronoStore (by forwarding to one)."""

    def __init__(self, inner: ChronoDocumentStore) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in _protocol_methods() and name not in (
            "path",
            "model_id",
            "dim",
            "read_only",
            "generation",
        ):
            raise AttributeError(name)  # nothing beyond the interface
        self.calls.append(name)
        return getattr(self._inner, name)


def test_chrono_document_store_is_a_chrono_store(store):
    assert isinstance(store, ChronoStore)
    assert store.generation == 1 and store.dim == DIM and store.read_only is False


def test_the_store_methods_have_the_interface_signatures():
    for name in _protocol_methods():
        wanted = inspect.signature(getattr(ChronoStore, name))
        actual = inspect.signature(getattr(ChronoDocumentStore, name))
        wanted_params = [(p.name, p.kind, p.default) for p in wanted.parameters.values()]
        actual_params = [(p.name, p.kind, p.default) for p in actual.parameters.values()]
        assert actual_params == wanted_params, name


def test_an_object_missing_a_member_is_not_a_chrono_store(store):
    class NoLexicalSearch(_ForwardingStore):
        def __getattr__(self, name: str) -> Any:
            if name == "bm25_search":
                raise AttributeError(name)
            return super().__getattr__(name)

    assert isinstance(_ForwardingStore(store), ChronoStore)
    assert not isinstance(NoLexicalSearch(store), ChronoStore)
    with pytest.raises(ValueError, match="ChronoStore"):
        ChronoEmbeddingRetriever(NoLexicalSearch(store))


def test_retrievers_work_over_any_chrono_store(store):
    forwarding = _ForwardingStore(store)
    window = Interval(date(1995, 1, 1), date(1995, 12, 31))
    constraint = TemporalConstraint(
        question="q", content="q", relation=Relation.IN, interval=window, ordinal=None,
        reference_time=date(2000, 1, 1),
    )  # fmt: skip
    query = np.random.default_rng(9).standard_normal(DIM).tolist()
    direct = ChronoEmbeddingRetriever(store, top_k=3).run(query_embedding=query, constraint=constraint)
    through = ChronoEmbeddingRetriever(forwarding, top_k=3).run(query_embedding=query, constraint=constraint)
    assert [d.id for d in through["documents"]] == [d.id for d in direct["documents"]]
    assert "p5" in {d.id for d in through["documents"]}  # the 1995 passage, added by the time-window search
    assert all(d.meta["date"] <= "2000-01-01" for d in through["documents"])
    lexical = ChronoBM25Retriever(forwarding, top_k=2).run(query="harbour 1995", constraint=constraint)
    assert lexical["documents"] and set(forwarding.calls) >= {"search", "bm25_search"}


def test_store_from_dict_reopens_the_named_store(store):
    reopened = store_from_dict(store.to_dict())
    assert isinstance(reopened, ChronoDocumentStore) and reopened.count_documents() == 20
    reopened.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"init_parameters": {}}, "Missing 'type'"),
        ({"type": "collections.OrderedDict", "init_parameters": {}}, "not a chronorag store"),
        ({"type": "chronorag.indexers.nothing.Here", "init_parameters": {}}, "cannot be imported"),
        ({"type": "chronorag.indexers.rrf.ReciprocalRankFusion", "init_parameters": {}}, "ChronoStore"),
    ],
)
def test_store_from_dict_refuses_what_is_not_a_chronorag_store(data, message):
    with pytest.raises(DeserializationError, match=message):
        store_from_dict(data)


def test_retriever_from_dict_refuses_a_foreign_store_type(store):
    data = ChronoEmbeddingRetriever(store).to_dict()
    data["init_parameters"]["document_store"]["type"] = "os.path.join"
    with pytest.raises(DeserializationError, match="not a chronorag store"):
        ChronoEmbeddingRetriever.from_dict(data)


def test_the_facade_reexports_its_parts():
    from chronorag.indexers import FolderLock, store
    from chronorag.indexers.local_store import filters, lock, maintenance, rows, vectors

    assert store.FolderLock is lock.FolderLock is FolderLock
    assert store.validate_filters is filters.validate_filters
    assert store.rebuild_store is maintenance.rebuild_store
    assert (store.SQLITE_FILE, store.FAISS_FILE, store.LOCK_FILE) == (
        rows.SQLITE_FILE,
        vectors.FAISS_FILE,
        lock.LOCK_FILE,
    )
    assert ChronoDocumentStore.__module__ == "chronorag.indexers.store"
