"""Inferred publication dates are estimates, not proof: the as-of cut never drops a passage for one.

Real store, real model, real ingestion (document dating infers the dates), the shipped ranker.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from haystack import Document

from chronorag.indexers import ChronoDocumentStore, ChronoEmbeddingRetriever
from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder
from chronorag.rankers import SemanticTemporalRanker
from chronorag.temporal import decompose
from chronorag.temporal.meta import is_inferred, proven_publication_date, publication_date

# An encyclopedia sentence with no publication date (dating infers one from the years it mentions) and a
# news item with its date given in the metadata, published after the question's reference time.
RECORDS = [
    {
        "id": "bills",
        "title": "",
        "text": "The $100,000 note is the largest denomination ever issued by the United States; "
        "gold certificates of the Series of 1934 were printed until 1935.",
    },
    {
        "id": "news",
        "title": "Treasury",
        "date": "2024-05-02",
        "text": "The Treasury said on May 2, 2024 that it would not print larger bills.",
    },
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ChronoDocumentStore:
    folder = tmp_path_factory.mktemp("inferred")
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(record) + "\n" for record in RECORDS), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    path = folder / "store"
    writer = open_store_for(str(path), model_id, dim)
    ingest([str(corpus)], writer, embed, fmt="jsonl", progress=False)
    writer.close()
    return ChronoDocumentStore(str(path))


def _passage(store: ChronoDocumentStore, doc_id: str) -> Document:
    return next(doc for doc in store.iter_documents() if doc.meta.get("doc_id") == doc_id)


def test_dating_infers_a_date_for_the_undated_sentence(store: ChronoDocumentStore) -> None:
    bills = _passage(store, "bills")
    assert is_inferred(bills.meta)
    assert publication_date(bills.meta) is not None and proven_publication_date(bills.meta) is None
    news = _passage(store, "news")
    assert not is_inferred(news.meta) and proven_publication_date(news.meta) == date(2024, 5, 2)


def test_the_as_of_cut_keeps_an_inferred_date_and_drops_a_given_one(store: ChronoDocumentStore) -> None:
    bills = _passage(store, "bills")
    # Before its inferred date: an estimate must not hide the passage.
    before_inferred = publication_date(bills.meta).replace(year=publication_date(bills.meta).year - 1)
    kept = store.search([0.0] * store.dim, top_k=10, published_on_or_before=before_inferred)
    assert {doc.meta["doc_id"] for doc in kept} == {"bills"}
    # The news item's given date is proof: as of the day before, it is cut.
    assert "news" not in {
        doc.meta["doc_id"]
        for doc in store.search([0.0] * store.dim, top_k=10, published_on_or_before=date(2024, 5, 1))
    }


def test_an_as_of_question_still_finds_the_timeless_sentence(store: ChronoDocumentStore, embedder) -> None:
    constraint = decompose("What is the largest bill in American money as of 1900?", as_of=date(1900, 12, 31))
    query = embedder.encode([constraint.content], normalize_embeddings=True)[0].tolist()
    found = ChronoEmbeddingRetriever(store, top_k=5).run(query_embedding=query, constraint=constraint)
    assert [doc.meta["doc_id"] for doc in found["documents"]] == ["bills"]
    ranker = SemanticTemporalRanker(top_k=5, sentence_candidates=0)
    ranked = ranker.run(query=constraint.question, documents=found["documents"], constraint=constraint)
    assert [doc.meta["doc_id"] for doc in ranked["documents"]] == ["bills"]


def test_an_old_store_forgets_inferred_publication_days_on_open(store: ChronoDocumentStore) -> None:
    path = Path(store.path)
    bills = _passage(store, "bills")
    with sqlite3.connect(path / "store.sqlite") as conn:
        # What stores written before the policy held: the inferred day indexed as a publication day.
        conn.execute(
            "UPDATE passages SET pub_day = ? WHERE id = ?",
            (publication_date(bills.meta).toordinal(), bills.id),
        )
        conn.execute("DELETE FROM info WHERE key = 'pub_day_policy'")
    reopened = ChronoDocumentStore(str(path))
    with sqlite3.connect(path / "store.sqlite") as conn:
        days = dict(conn.execute("SELECT id, pub_day FROM passages").fetchall())
    assert days[bills.id] is None
    assert days[_passage(reopened, "news").id] == date(2024, 5, 2).toordinal()
