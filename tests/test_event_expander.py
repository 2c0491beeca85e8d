"""EventExpander with the real MiniLM and a user's JSONL event file: selection as of the reference
time, recency, identity at gate 0, trained weights, serialisation and use in a Pipeline."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from haystack import Pipeline

from chronorag.rankers.cross_attention import CrossAttentionFusion
from chronorag.rankers.event_expander import EventExpander
from chronorag.rankers.event_table import EventTable
from chronorag.temporal.model import Relation, TemporalConstraint

EVENTS = [
    {"text": "Netflix green lights a second season of Squid Game", "date": "2022-06-12"},
    {"text": "EU agrees on USB-C as the common charger for phones", "date": "2022-06-07"},
    {"text": "Squid Game season two premieres worldwide", "date": "2024-12-26"},
    {"text": "Squid Game wins six Emmy awards", "date": "2022-09-12"},
    {"text": "no date on this one"},
]
QUESTION = "Which wildly popular show was recently green lit for a new season?"


@pytest.fixture(scope="module")
def events_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_text("\n".join(json.dumps(event) for event in EVENTS) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def question(embedder) -> list[float]:
    return embedder.encode(QUESTION, normalize_embeddings=True).tolist()


def asked_on(day: date) -> TemporalConstraint:
    return TemporalConstraint(QUESTION, QUESTION, Relation.NONE, None, None, day)


def test_run_selects_only_past_events_recent_first(events_file, question, embedder):
    expander = EventExpander(events_path=events_file, top_events=3, device="cpu")
    result = expander.run(query_embedding=question, constraint=asked_on(date(2022, 6, 16)))
    texts = [event.content for event in result["events"]]
    assert texts[0] == EVENTS[0]["text"]
    assert all(event.meta["date"] <= "2022-06-16" for event in result["events"])
    assert len(texts) == 2  # the 2022-09 and 2024 events are in the future; the undated one is skipped
    assert sum(event.meta["attention"] for event in result["events"]) == pytest.approx(1.0, abs=1e-5)
    fused = np.asarray(result["embedding"])
    assert fused.shape == (384,) and np.linalg.norm(fused) == pytest.approx(1.0, abs=1e-5)
    assert float(fused @ np.asarray(question)) < 0.9999  # moved towards the events


def test_run_gate_zero_is_identity(events_file, question):
    expander = EventExpander(events_path=events_file, gate=0.0, device="cpu")
    result = expander.run(query_embedding=question, constraint=asked_on(date(2023, 1, 1)))
    assert np.allclose(result["embedding"], question, atol=1e-6)
    assert result["events"]


def test_run_without_events_returns_the_query(question, caplog):
    expander = EventExpander(device="cpu")
    result = expander.run(query_embedding=question)
    assert result == {"embedding": pytest.approx(question), "events": []}
    early = EventExpander(events_path=None, device="cpu")
    early.warm_up()
    early.use_table(EventTable([], np.zeros(0, dtype=np.int64), np.zeros((0, 384), dtype=np.float32)))
    assert early.run(query_embedding=question)["events"] == []


def test_run_with_trained_weights(tmp_path, events_file, question):
    fusion = CrossAttentionFusion(dim=384, gate=0.7)
    weights = tmp_path / "expander.pt"
    fusion.save(weights)
    expander = EventExpander(events_path=events_file, weights_path=str(weights), device="cpu")
    expander.warm_up()
    assert expander.fusion.gate.item() == pytest.approx(0.7)
    assert len(expander.run(query_embedding=question, constraint=asked_on(date(2022, 12, 1)))["events"]) == 3


def test_to_dict_from_dict(events_file):
    expander = EventExpander(events_path=events_file, top_events=4, gate=0.2, device="cpu")
    data = expander.to_dict()
    assert data["type"] == "chronorag.rankers.event_expander.EventExpander"
    assert data["init_parameters"]["events_path"] == events_file and data["init_parameters"]["gate"] == 0.2
    assert EventExpander.from_dict(data).to_dict() == data
    pipeline = Pipeline()
    pipeline.add_component("expander", expander)
    assert (
        Pipeline.loads(pipeline.dumps(), allowed_modules=["chronorag.*"]).get_component("expander").to_dict()
        == data
    )


def test_bad_event_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "date": "2020-01-01"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        EventExpander(events_path=str(path), device="cpu").warm_up()


def test_invalid_parameters():
    with pytest.raises(ValueError):
        EventExpander(gate=2.0)
    with pytest.raises(ValueError):
        EventExpander(top_events=-1)


def test_run_with_store_event_index(tmp_path, embedder):
    from dataclasses import replace

    from haystack import Document

    from chronorag.indexers import ChronoDocumentStore, passage_text

    articles = [
        ("squid", "Squid Game renewed", "Netflix green lights a second season of Squid Game.", "2022-06-12"),
        ("usb", "USB-C rule", "The EU agrees on USB-C as the common phone charger.", "2022-06-07"),
        ("emmy", "Emmy awards", "Squid Game wins six Emmy awards.", "2022-09-12"),
    ]
    docs = [
        Document(
            id=f"{doc_id}#0",
            content=text,
            meta={"title": title, "doc_id": doc_id, "passage_index": 0, "date": day},
        )
        for doc_id, title, text, day in articles
    ]
    vectors = embedder.encode([passage_text(d) for d in docs], normalize_embeddings=True)
    store = ChronoDocumentStore(str(tmp_path / "store"))
    store.write_documents([replace(d, embedding=v.tolist()) for d, v in zip(docs, vectors, strict=True)])
    store.close()
    expander = EventExpander(store_path=str(tmp_path / "store"), top_events=2, device="cpu")
    question = embedder.encode(QUESTION, normalize_embeddings=True).tolist()
    result = expander.run(query_embedding=question, constraint=asked_on(date(2022, 6, 16)))
    assert [event.meta["date"] for event in result["events"]][0] == "2022-06-12"
    assert all(event.meta["date"] <= "2022-06-16" for event in result["events"])
    assert len(result["embedding"]) == 384
