"""EventIndex: one event per dated document, searched with a date bound, persisted beside the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from haystack import Document

from chronorag.indexers import ChronoDocumentStore, passage_text
from chronorag.indexers.events import EVENTS_TEXTS, EVENTS_VECTORS, EventIndex, first_sentence

ARTICLES = [
    (
        "rocket",
        "Rocket launch",
        ["A rocket reached orbit on Monday. Engineers cheered.", "More followed."],
        "2022-06-01",
    ),
    (
        "storm",
        "Storm warning",
        ["A storm hit the coast and closed ports. Ferries stopped.", "Reopened."],
        "2022-06-10",
    ),
    (
        "vote",
        "Parliament vote",
        ["Parliament passed the budget after a long debate.", "Critics."],
        "2022-07-01",
    ),
    ("recipe", "Bread recipe", ["Knead the dough for ten minutes."], None),
]


@pytest.fixture
def store(tmp_path, embedder):
    docs = []
    for doc_id, title, passages, day in ARTICLES:
        for index, content in enumerate(passages):
            meta = {"title": title, "doc_id": doc_id, "passage_index": index}
            if day:
                meta["date"] = day
            docs.append(Document(id=f"{doc_id}#{index}", content=content, meta=meta))
    vectors = embedder.encode([passage_text(d) for d in docs], normalize_embeddings=True)
    docs = [replace(d, embedding=v.tolist()) for d, v in zip(docs, vectors, strict=True)]
    s = ChronoDocumentStore(str(tmp_path / "store"))
    s.write_documents(docs)
    yield s
    s.close()


def _embed(embedder):
    return lambda texts: embedder.encode(texts, normalize_embeddings=True)


def test_first_sentence():
    assert first_sentence("A storm hit. Ferries stopped.") == "A storm hit."
    assert first_sentence("No end mark") == "No end mark"
    assert len(first_sentence(" ".join(["w"] * 100)).split()) == 60


def test_build_from_store_one_event_per_dated_document(store, embedder):
    events = EventIndex.build_from_store(store, _embed(embedder))
    assert len(events) == 3
    assert events.texts == [
        "Rocket launch: A rocket reached orbit on Monday.",
        "Storm warning: A storm hit the coast and closed ports.",
        "Parliament vote: Parliament passed the budget after a long debate.",
    ]
    assert (store._folder / EVENTS_VECTORS).exists() and (store._folder / EVENTS_TEXTS).exists()


def test_search_respects_date_bound(store, embedder):
    EventIndex.build_from_store(store, _embed(embedder))
    events = EventIndex(store.path, _embed(embedder))
    query = embedder.encode("harbour closed by bad weather", normalize_embeddings=True)
    found = events.search(query, top_k=2)
    assert found[0].id == "event:storm" and found[0].meta["date"] == "2022-06-10"
    assert found[0].embedding is not None and found[0].score >= found[1].score
    bounded = events.search(query, top_k=5, published_on_or_before=date(2022, 6, 5))
    assert [d.id for d in bounded] == ["event:rocket"]
    assert events.search(query, top_k=5, published_on_or_before=date(2000, 1, 1)) == []


def test_stale_events_are_rebuilt_after_a_store_write(store, embedder):
    EventIndex.build_from_store(store, _embed(embedder))
    vector = embedder.encode("Elections were held.", normalize_embeddings=True).tolist()
    store.write_documents(
        [
            Document(
                id="poll#0",
                content="Elections were held.",
                meta={"title": "Poll", "doc_id": "poll", "date": "2022-08-01"},
                embedding=vector,
            )
        ]
    )
    store.flush()
    events = EventIndex(store.path, _embed(embedder))
    assert len(events) == 4
    assert events.search(vector, 1)[0].id == "event:poll"
