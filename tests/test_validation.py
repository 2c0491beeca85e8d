"""The store refuses what it could not keep or apply, with the reason: bad ids, NaN in meta, unfit filters.

Runs on a real store (SQLite file + FAISS). The property tests fuzz fields x operators x value types in
AND/OR/NOT trees against ``filter_documents``, ``search``, ``bm25_search`` and the count operations: the
store either answers (exactly as Haystack's reference matcher would) or raises ``FilterError`` naming the
field and operator, never anything else.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from filter_strategies import FIELDS, MIXED_META, STORE_ONLY_FIELDS, filters, leaves
from haystack import Document
from haystack.errors import FilterError
from haystack.utils.filters import document_matches_filter
from hypothesis import HealthCheck, given, settings

from chronorag.indexers import ChronoDocumentStore, InvalidDocumentError
from chronorag.indexers.validation import check_filters, id_problem, meta_problem
from chronorag.temporal.extractor import extract_mentions

DIM = 8


def _passages() -> list[Document]:
    """Passages shaped as ingestion writes them, plus client meta whose type varies between passages."""
    rng = np.random.default_rng(7)
    docs = []
    for i in range(10):
        text = f"In {1990 + i} the harbour of Varn recorded storm {i}."
        day = date(2000 + i, 3, 1)
        meta = {
            "title": f"Varn {i % 3}",
            "doc_id": f"varn-{i // 2}",
            "passage_index": i % 2,
            "date": day.isoformat() if i % 4 else None,
            "date_source": "metadata",
            "date_confidence": 0.5 + i / 40,
            "time_spans": [m.to_dict() for m in extract_mentions(text, reference=day, mode="fast")],
            **MIXED_META[i % len(MIXED_META)],
        }
        embedding = rng.standard_normal(DIM).astype(np.float32).tolist()
        docs.append(Document(id=f"varn-{i // 2}#{i % 2}", content=text, meta=meta, embedding=embedding))
    return docs


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory):
    store = ChronoDocumentStore(str(tmp_path_factory.mktemp("validation") / "store"), embedding_dim=DIM)
    store.write_documents(_passages())
    yield store
    store.close()


@pytest.fixture
def store(tmp_path: Path):
    store = ChronoDocumentStore(str(tmp_path / "store"), embedding_dim=DIM, save_every_s=0)
    yield store
    store.close()


# --- ids -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc_id", "reason"),
    [
        ("a\nb", "control character U+000A"),
        ("tab\there", "control character U+0009"),
        ("nul\x00", "control character U+0000"),
        ("del\x7f", "control character U+007F"),
        ("c1\x85", "control character U+0085"),
        ("lone\ud800", "U+D800"),
        (" padded", "leading or trailing whitespace"),
        ("padded\u3000", "leading or trailing whitespace"),
        ("   ", "empty"),  # (Haystack's Document replaces an empty id by a content hash itself)
    ],
)
def test_unaddressable_ids_are_refused_and_nothing_is_written(store, doc_id: str, reason: str) -> None:
    good = Document(id="fine", content="kept only with the batch", embedding=[0.1] * DIM)
    bad = Document(id=doc_id, content="text")
    with pytest.raises(InvalidDocumentError, match=re.escape(reason)) as caught:
        store.write_documents([good, bad])
    assert "documents[1]" in str(caught.value)
    assert store.count_documents() == 0  # the whole batch is refused, atomically
    source = Document(id="p#0", content="text", meta={"doc_id": doc_id})
    with pytest.raises(InvalidDocumentError, match="meta.doc_id"):
        store.write_documents([source])


def test_ids_are_kept_exactly_as_given(store) -> None:
    ids = ["/wiki/Sabine_Hossenfelder#P937", "inner space", "ünï·cödé", "a%0Ab"]
    store.write_documents([Document(id=i, content=i, meta={"doc_id": i}) for i in ids])
    assert [d.id for d in store.get_documents_by_id(ids)] == ids
    assert id_problem("inner space") is None and id_problem(7) == "id must be a string, not int"


# --- meta ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("meta", "where"),
    [
        ({"w": float("nan")}, "meta.w is nan"),
        ({"w": float("inf")}, "meta.w is inf"),
        ({"deep": {"list": [1, float("-inf")]}}, "meta.deep.list[1] is -inf"),
        ({"np": np.float32("nan")}, "meta.np is nan"),
        ({"arr": np.array([1.0, np.nan])}, "meta.arr holds NaN"),
        ({1: "x"}, "meta[1] is a key of type int"),
        ({"s": "bad\udfff"}, "meta.s contains an unpaired surrogate"),
    ],
)
def test_values_json_cannot_hold_are_refused_with_the_key(store, meta: dict, where: str) -> None:
    with pytest.raises(InvalidDocumentError, match=re.escape(where)):
        store.write_documents([Document(id="d", content="text", meta=meta)])
    assert store.count_documents() == 0


def test_non_finite_embeddings_are_refused(store) -> None:
    with pytest.raises(InvalidDocumentError, match="embedding holds NaN"):
        store.write_documents([Document(id="d", content="t", embedding=[math.nan] + [0.0] * (DIM - 1))])


def test_meta_check_survives_deep_nesting() -> None:
    deep: dict = {}
    node = deep
    for _ in range(5000):  # deeper than Python's recursion limit
        node["x"] = {}
        node = node["x"]
    node["v"] = float("nan")
    assert meta_problem(deep).endswith("is nan; NaN and Infinity have no JSON form and never compare equal: "
                                       "send null or a finite number")  # fmt: skip


# --- filters ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flt", "words"),
    [
        ({"field": "meta.time_spans", "operator": ">", "value": 3}, ["'meta.time_spans'", "'>'", "list"]),
        ({"field": "meta.title", "operator": ">", "value": 5}, ["'meta.title'", "'>'", "text"]),
        ({"field": "meta.date", "operator": "<", "value": 2015}, ["'meta.date'", "'<'", "ISO date"]),
        ({"field": "meta.passage_index", "operator": ">=", "value": "x"}, ["'meta.passage_index'", "number"]),
        ({"field": "meta.k", "operator": "in", "value": 3}, ["'meta.k'", "'in'", "must be a list"]),
        ({"field": "meta.k", "operator": "==", "value": float("nan")}, ["'meta.k'", "'=='", "nan"]),
        ({"field": "meta.title.x", "operator": "==", "value": 1}, ["'meta.title.x'", "no sub-field"]),
        ({"field": "embedding", "operator": "==", "value": 1}, ["'embedding'", "id, content and meta"]),
        ({"field": "meta.k", "operator": "~=", "value": 1}, ["'meta.k'", "'~='", "unknown"]),
        ({"operator": "XOR", "conditions": []}, ["'XOR'"]),
    ],
)
def test_filters_the_store_cannot_apply_are_refused_up_front(filled_store, flt: dict, words: list) -> None:
    with pytest.raises(FilterError) as caught:
        filled_store.filter_documents(flt)
    for word in words:
        assert word in str(caught.value)
    with pytest.raises(FilterError):
        filled_store.search(np.ones(DIM), 3, filters=flt)


def test_a_comparison_the_stored_value_cannot_take_names_field_and_operator(filled_store) -> None:
    """meta.k is a number in one passage and a list in another: `>` fits the filter, not the data."""
    flt = {"field": "meta.k", "operator": ">", "value": 2}
    with pytest.raises(FilterError, match=r"field 'meta.k' with operator '>' cannot be applied"):
        filled_store.filter_documents(flt)
    with pytest.raises(FilterError, match="meta.k"):
        filled_store.bm25_search("harbour storm", 3, filters=flt)
    narrowed = {"operator": "AND", "conditions": [{"field": "meta.k", "operator": "==", "value": 3}, flt]}
    assert {d.id for d in filled_store.filter_documents(narrowed)} == {"varn-0#0", "varn-2#1"}


def _reference(docs: list[Document], flt: dict) -> list[str] | None:
    try:
        return [d.id for d in docs if document_matches_filter(flt, d)]
    except Exception:
        return None


@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(flt=filters(FIELDS + STORE_ONLY_FIELDS))
def test_fuzzed_filters_answer_as_haystack_or_raise_filter_error(filled_store, flt: dict) -> None:
    try:
        found = [d.id for d in filled_store.filter_documents(flt)]
    except FilterError as exc:
        message = str(exc)
        assert any(
            f"field {leaf['field']!r} with operator {leaf['operator']!r}" in message for leaf in leaves(flt)
        ), message
        for method in (
            lambda: filled_store.search(np.ones(DIM), 3, filters=flt),
            lambda: filled_store.count_documents_by_filter(flt),
        ):
            with pytest.raises(FilterError):
                method()
        return
    expected = _reference(_passages(), flt)
    if expected is not None:
        assert found == expected
    searched = filled_store.search(np.ones(DIM), 20, filters=flt)
    assert {d.id for d in searched} == set(found)
    assert filled_store.count_documents_by_filter(flt) == len(found)
    assert {d.id for d in filled_store.bm25_search("harbour storm recorded", 20, filters=flt)} <= set(found)


def test_check_filters_accepts_what_the_store_applies() -> None:
    for flt in (
        {"field": "meta.date", "operator": ">=", "value": "2015-06-30"},
        {"field": "meta.date", "operator": "==", "value": None},
        {"field": "meta.passage_index", "operator": "in", "value": [0, 1]},
        {"field": "meta.title", "operator": "not in", "value": ["a", None]},
        {"field": "meta.client_key", "operator": "<", "value": 3.5},
        {"field": "number", "operator": ">", "value": 1},  # a bare name is a meta key (Haystack's legacy)
        {"operator": "NOT", "conditions": [{"field": "id", "operator": "==", "value": "x"}]},
    ):
        check_filters(flt)
